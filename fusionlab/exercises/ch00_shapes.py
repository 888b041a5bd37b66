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
            "options": ["(2, 64, 28, 28)",
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
                        "(1, 8, 49, 8)",
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
    },
    "zh": {
        "channels_last": {
            "title": "实现 to_channels_last",
            "prompt": "编写 to_channels_last(x)，把特征图 (B, C, H, W) 变成 (B, H, W, C)，即 nn.Linear 和原文的 "
                      "gatedFusion 所需的布局：像素 x[b, :, i, j] 必须变成 out[b, i, j, :]。"
                      "用 check(to_channels_last) 检查。",
            "what": "to_channels_last 函数", "example": "to_channels_last", "signature": "to_channels_last(x)",
            "mistakes": {
                "reshape": "reshape（或 view）保持各个数在内存中的顺序，只是把它们重新切分成新的形状，于是一个像素的"
                           "各通道被打散了；permute(0, 2, 3, 1) 才是移动轴",
                "swap_hw": "H 和 W 对调了：permute(0, 3, 2, 1) 或 transpose(1, 3) 得到的是 (B, W, H, C)，即转置后的"
                           "图片；应使用 permute(0, 2, 3, 1)",
            },
        },
        "linear_axis": {
            "title": "nn.Linear 混合的是哪个轴？",
            "question": "照片 x 的形状为 (B, C, H, W) = (1, 3, 64, 64)。nn.Linear(64, 64)(x) 会做什么？",
            "options": ["报错：nn.Linear 需要通道在最后的输入",
                        "返回形状 (1, 3, 64, 64)，混合了每一行的 64 列：不报错，但轴错了",
                        "返回形状 (1, 3, 64, 64)，混合了每个像素的 3 种颜色",
                        "返回形状 (1, 64, 64, 64)：每个像素 64 个特征"],
            "why": [
                "nn.Linear 只检查最后一个轴的大小；这里 W = 64 等于 in_features，所以能运行。",
                "nn.Linear 作用在最后一个轴上，这里是 W：每个输出列都是所在行 64 列的加权和，而且没有任何警告。"
                "要混合颜色，先 permute 成 (B, H, W, C)。",
                "要混合颜色，C 必须是最后一个轴：先 x.permute(0, 2, 3, 1)，再用 nn.Linear(3, …)。",
                "只有最后一个轴会改变，变为 out_features = 64 项；其他轴不变：(1, 3, 64, 64)。",
            ],
        },
        "broadcast": {
            "title": "两个权重的广播",
            "question": "形状为 (2, 64, 1, 1) 的通道权重乘以形状为 (2, 1, 28, 28) 的空间权重。"
                        "乘积的形状是什么？",
            "options": ["(2, 64, 28, 28)",
                        "报错：两个形状不同",
                        "(2, 64, 1, 1)",
                        "(4, 64, 28, 28)"],
            "why": [
                "广播从右往左比较各轴；大小为 1 的轴会被重复，以匹配另一个张量的大小，"
                "因此每个通道都得到了每个像素的权重。",
                "两个轴相容的条件是大小相等，或其中一个为 1；这里每一对轴都满足。",
                "被重复的是大小为 1 的轴：28 行和 28 列会保留下来。",
                "相等的大小（2 和 2）保持不变；广播从不把大小相加。",
            ],
        },
        "heads": {
            "title": "把通道拆分成多头",
            "question": "OSRA 用 q.reshape(B, h, C // h, H * W).transpose(-1, -2) 把形状为 (B, C, H, W) = "
                        "(1, 64, 7, 7) 的 q 拆成 h = 8 个头。得到的形状是什么？",
            "options": ["(1, 8, 8, 49)",
                        "(1, 8, 49, 8)",
                        "(1, 49, 64)",
                        "(8, 1, 49, 8)"],
            "why": [
                "这是 reshape 之后的形状；随后 transpose 会交换最后两个轴。",
                "reshape 把 C = 64 拆成 h = 8 组、每组 d = 8，并把 H·W = 49 个像素展平：(1, 8, 8, 49)；"
                "transpose 之后每个词元占一行：(1, 8, 49, 8)，每个头都可以直接计算 q @ kᵀ。",
                "这是单头的布局 (B, N, C)；多头会把通道分成 h 组，每组 d = C/h 个。",
                "批量轴保持在最前面；头的轴排在它之后。",
            ],
        },
    },
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
