"""Chapter 04, spatially-adaptive feature modulation (SAFMN): write ``SAFM``.

Split C into n groups; group i > 0 is max-pooled to (H // 2^i, W // 2^i), filtered by a depthwise 3×3
conv and upsampled (nearest) to H×W; out = GELU(aggr(cat(levels))) ⊙ x.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "04"

TEXT = {
    "en": {
        "safm": {
            "ref": "the post's",
            "title": "Build SAFM",
            "prompt": "Write the post's SAFM(dim, n_levels=4): mfr = ModuleList of n_levels depthwise 3×3 convs "
                      "(C/n channels each, padding 1, groups C/n), aggr = 1×1 conv C → C, act = GELU. Split x into "
                      "n_levels channel groups; group 0 goes through mfr[0] at full size; group i > 0 is "
                      "adaptive-max-pooled to (H // 2**i, W // 2**i), filtered by mfr[i] and upsampled back to H×W "
                      "with mode='nearest'. Return act(aggr(cat(levels))) * x. Name your class MySAFM (the post's SAFM stays as it is) and check it with check(MySAFM).",
            "what": "version of SAFM", "post_class": "SAFM", "signature": "SAFM(dim, n_levels=4)",
            "mistakes": {
                "avg_pool": "average pooling instead of max pooling for the coarser levels",
                "bilinear": "bilinear upsampling instead of nearest: the post uses F.interpolate(..., mode='nearest')",
                "no_modulation": "the final product with x is missing: SAFM returns GELU(aggr(·)) ⊙ x, not the map alone",
                "relu": "ReLU instead of GELU on the aggregated map",
                "pool_sizes": "wrong pooled sizes: level i is pooled to H // 2**i (halving each level), not H // (i + 1)",
            },
        },
        "pooled_size": {
            "title": "Sizes of the pyramid",
            "question": "SAFM(dim=36) with the default n_levels=4 gets x of shape (1, 36, 224, 224). What shape does the "
                        "last group (i = 3) have right after max pooling?",
            "options": ["(1, 9, 224, 224)", "(1, 36, 28, 28)", "(1, 9, 28, 28)", "(1, 9, 56, 56)"],
            "why": [
                "That is group 0, which is not pooled.",
                "Each group has only 36 / 4 = 9 channels.",
                "36 channels in 4 groups of 9; group 3 is pooled to 224 // 2³ = 28 in each direction.",
                "224 // 4 = 56 is group 2; group 3 is pooled by 2³ = 8.",
            ],
        },
        "gelu_range": {
            "title": "Is the modulation map a gate?",
            "question": "The map GELU(aggr(·)) multiplies x. Which values can it take?",
            "options": ["only (0, 1), like a sigmoid gate", "[0, ∞), like ReLU",
                        "from about −0.17 upward, unbounded: it can flip signs and amplify",
                        "only (−1, 1), like tanh"],
            "why": [
                "GELU is not a sigmoid: it is unbounded above and slightly negative for negative inputs.",
                "GELU(u) = u·Φ(u) is negative for u < 0 (minimum ≈ −0.17 near u ≈ −0.75).",
                "GELU(u) = u·Φ(u) has its minimum ≈ −0.17 and grows like u: the map can scale features up, damp them "
                "or flip their sign slightly, so it is a modulation, not a (0, 1) gate.",
                "GELU grows without bound for large inputs.",
            ],
        },
    }
}


class MySAFM(nn.Module):
    """Multi-scale max-pooled channel groups → depthwise conv → nearest upsampling → 1×1 mix → GELU ⊙ x."""

    def __init__(self, dim, n_levels=4):
        super().__init__()
        self.n_levels = n_levels
        chunk = dim // n_levels
        self.mfr = nn.ModuleList([nn.Conv2d(chunk, chunk, 3, 1, 1, groups=chunk) for _ in range(n_levels)])
        self.aggr = nn.Conv2d(dim, dim, 1, 1, 0)
        self.act = nn.GELU()

    def pool(self, part, size):  # (B, C/n, H, W) -> (B, C/n, h', w')
        return F.adaptive_max_pool2d(part, size)

    def up(self, s, size):  # back to (B, C/n, H, W)
        return F.interpolate(s, size=size, mode="nearest")

    def levels(self, x):
        h, w = x.shape[-2:]
        parts = x.chunk(self.n_levels, dim=1)  # n groups of (B, C/n, H, W)
        out = [self.mfr[0](parts[0])]  # level 0 stays at full size
        for i in range(1, self.n_levels):
            s = self.pool(parts[i], (h // 2**i, w // 2**i))  # coarser by 2^i
            out.append(self.up(self.mfr[i](s), (h, w)))
        return torch.cat(out, dim=1)  # (B, C, H, W)

    def forward(self, x):
        return self.act(self.aggr(self.levels(x))) * x  # modulate the input


class _AvgPool(MySAFM):
    def pool(self, part, size):
        return F.adaptive_avg_pool2d(part, size)


class _Bilinear(MySAFM):
    def up(self, s, size):
        return F.interpolate(s, size=size, mode="bilinear", align_corners=False)


class _NoModulation(MySAFM):
    def forward(self, x):
        return self.act(self.aggr(self.levels(x)))


class _ReLU(MySAFM):
    def forward(self, x):
        return F.relu(self.aggr(self.levels(x))) * x


class _PoolSizes(MySAFM):
    def levels(self, x):
        h, w = x.shape[-2:]
        parts = x.chunk(self.n_levels, dim=1)
        out = [self.mfr[0](parts[0])]
        for i in range(1, self.n_levels):
            s = self.pool(parts[i], (h // (i + 1), w // (i + 1)))
            out.append(self.up(self.mfr[i](s), (h, w)))
        return torch.cat(out, dim=1)


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "safm", "build", _texts("safm"),
        reference=BLOCKS["safm"].cls, kwargs={"dim": 8, "n_levels": 4}, input_shapes=[(2, 8, 8, 8)],
        solution_cls=MySAFM,
        mistakes={"avg_pool": _AvgPool, "bilinear": _Bilinear, "no_modulation": _NoModulation, "relu": _ReLU,
                  "pool_sizes": _PoolSizes},
    ),
    ConceptExercise(CHAPTER, "pooled_size", "concept", _texts("pooled_size"), correct=2),
    ConceptExercise(CHAPTER, "gelu_range", "concept", _texts("gelu_range"), correct=2),
]
