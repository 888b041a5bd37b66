"""Chapter 00, reading shapes: write ``to_channels_last`` (permute, not reshape), and three concept
questions on the moves every block makes (which axis a layer acts on, broadcasting, attention heads)."""
from __future__ import annotations

import torch

from ._core import ConceptExercise, FunctionExercise

CHAPTER = "00"

TEXT = {
    "en": {
        "channels_last": {
            "title": "Build to_channels_last",
            "prompt": "Write to_channels_last(x) that turns a feature map (B, C, H, W) into (B, H, W, C), the layout "
                      "nn.Linear and the post's gatedFusion need: the pixel x[b, :, i, j] must become "
                      "out[b, i, j, :]. Check it with check(to_channels_last).",
            "what": "to_channels_last function", "example": "to_channels_last", "signature": "to_channels_last(x)",
            "mistakes": {
                "reshape": "reshape (or view) keeps the numbers in memory order and only re-cuts them into the new "
                           "shape, so a pixel's channels get scattered; permute(0, 2, 3, 1) moves the axes",
                "swap_hw": "H and W are swapped: permute(0, 3, 2, 1) or transpose(1, 3) gives (B, W, H, C), the "
                           "picture transposed; use permute(0, 2, 3, 1)",
            },
        },
        "linear_axis": {
            "title": "Which axis does nn.Linear mix?",
            "question": "The photo x has shape (B, C, H, W) = (1, 3, 64, 64). What does nn.Linear(64, 64)(x) do?",
            "options": ["It raises an error: nn.Linear needs channels-last input",
                        "It returns shape (1, 3, 64, 64), each row's 64 columns mixed: no error, wrong axis",
                        "It returns shape (1, 3, 64, 64), each pixel's 3 colours mixed",
                        "It returns shape (1, 64, 64, 64): 64 features per pixel"],
            "why": [
                "nn.Linear checks only the size of the last axis; here W = 64 equals in_features, so it runs.",
                "nn.Linear multiplies the last axis, which is W here: every output column is a weighted sum of the "
                "64 columns of its row, and nothing warns you. Permute to (B, H, W, C) first to mix the colours.",
                "To mix the colours, C must be the last axis: x.permute(0, 2, 3, 1), then nn.Linear(3, …).",
                "Only the last axis changes, to out_features = 64 entries; the others stay: (1, 3, 64, 64).",
            ],
        },
        "broadcast": {
            "title": "Broadcasting two weights",
            "question": "A channel weight of shape (2, 64, 1, 1) multiplies a spatial weight of shape (2, 1, 28, 28). "
                        "What is the shape of the product?",
            "options": ["(2, 64, 28, 28): each size-1 axis is repeated to the other tensor's size",
                        "An error: the shapes differ",
                        "(2, 64, 1, 1)",
                        "(4, 64, 28, 28)"],
            "why": [
                "Broadcasting compares the axes from the right; a size-1 axis is repeated to match the other size, "
                "so every channel gets every pixel's weight.",
                "Two axes fit when their sizes are equal or one of them is 1; here every pair does.",
                "The size-1 axes are the ones repeated: the 28 rows and 28 columns stay.",
                "Equal sizes (2 and 2) stay as they are; broadcasting never adds sizes up.",
            ],
        },
        "heads": {
            "title": "Splitting channels into heads",
            "question": "OSRA splits q of shape (B, C, H, W) = (1, 64, 7, 7) into h = 8 heads with "
                        "q.reshape(B, h, C // h, H * W).transpose(-1, -2). What shape comes out?",
            "options": ["(1, 8, 8, 49)",
                        "(1, 8, 49, 8): per head, 49 tokens (pixels) with 8 features each",
                        "(1, 49, 64)",
                        "(8, 1, 49, 8)"],
            "why": [
                "That is the shape after reshape; transpose then swaps the last two axes.",
                "reshape splits C = 64 into h = 8 groups of d = 8 and flattens the H·W = 49 pixels: (1, 8, 8, 49); "
                "transpose gives one row per token: (1, 8, 49, 8), ready for q @ kᵀ in every head.",
                "That is the one-head layout (B, N, C); heads split the channels into h groups of d = C/h.",
                "The batch axis stays first; the heads come after it.",
            ],
        },
    }
}


def to_channels_last(x):
    """(B, C, H, W) -> (B, H, W, C): the same numbers, the channel axis moved to the end."""
    return x.permute(0, 2, 3, 1)


def _reference(x):
    return torch.movedim(x, 1, -1)


def _reshape(x):
    B, C, H, W = x.shape
    return x.reshape(B, H, W, C)


def _swap_hw(x):
    return x.transpose(1, 3)


def _inputs():
    # square H = W so that swapping them keeps the shape and only the values tell the mistake
    return (torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)),)


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    FunctionExercise(
        CHAPTER, "channels_last", "build", _texts("channels_last"),
        reference=_reference, solution_fn=to_channels_last, make_inputs=_inputs,
        mistakes={"reshape": _reshape, "swap_hw": _swap_hw},
    ),
    ConceptExercise(CHAPTER, "linear_axis", "concept", _texts("linear_axis"), correct=1),
    ConceptExercise(CHAPTER, "broadcast", "concept", _texts("broadcast"), correct=0),
    ConceptExercise(CHAPTER, "heads", "concept", _texts("heads"), correct=1),
]
