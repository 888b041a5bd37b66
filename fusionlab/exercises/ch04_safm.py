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
    },
    "zh": {
        "safm": {
            "ref": "原文",
            "title": "实现 SAFM",
            "prompt": "编写原文的 SAFM(dim, n_levels=4)：mfr 是由 n_levels 个 3×3 深度卷积组成的 ModuleList（每个 C/n 个通道，"
                      "padding 为 1，groups 为 C/n），aggr 是 C → C 的 1×1 卷积，act 是 GELU。把 x 分成 n_levels 个通道组；"
                      "第 0 组以全尺寸经过 mfr[0]；第 i > 0 组先自适应最大池化到 (H // 2**i, W // 2**i)，再经 mfr[i] 滤波，"
                      "然后用 mode='nearest' 上采样回 H×W。返回 act(aggr(cat(levels))) * x。把你的类命名为 MySAFM"
                      "（原文的 SAFM 保持原样），并用 check(MySAFM) 检查。",
            "what": "实现", "post_class": "SAFM", "signature": "SAFM(dim, n_levels=4)",
            "mistakes": {
                "avg_pool": "较粗的层级用了平均池化，而不是最大池化",
                "bilinear": "用了双线性上采样而不是最近邻：原文用的是 F.interpolate(..., mode='nearest')",
                "no_modulation": "缺少最后与 x 的乘积：SAFM 返回 GELU(aggr(·)) ⊙ x，而不是只返回这张图",
                "relu": "聚合后的图上用了 ReLU，而不是 GELU",
                "pool_sizes": "池化尺寸不对：第 i 级池化到 H // 2**i（每级减半），而不是 H // (i + 1)",
            },
        },
        "pooled_size": {
            "title": "金字塔各级的尺寸",
            "question": "默认 n_levels=4 的 SAFM(dim=36) 接收形状为 (1, 36, 224, 224) 的 x。最后一组（i = 3）"
                        "在最大池化之后的形状是什么？",
            "options": ["(1, 9, 224, 224)", "(1, 36, 28, 28)", "(1, 9, 28, 28)", "(1, 9, 56, 56)"],
            "why": [
                "那是第 0 组，它不做池化。",
                "每组只有 36 / 4 = 9 个通道。",
                "36 个通道分成 4 组，每组 9 个；第 3 组在每个方向上都池化到 224 // 2³ = 28。",
                "224 // 4 = 56 是第 2 组；第 3 组按 2³ = 8 池化。",
            ],
        },
        "gelu_range": {
            "title": "调制图是门控吗？",
            "question": "调制图 GELU(aggr(·)) 与 x 相乘。它能取哪些值？",
            "options": ["只在 (0, 1) 内，像 sigmoid 门控", "[0, ∞)，像 ReLU",
                        "从约 −0.17 起，没有上界：它可以翻转符号，也可以放大",
                        "只在 (−1, 1) 内，像 tanh"],
            "why": [
                "GELU 不是 sigmoid：它没有上界，对负输入取略小于 0 的值。",
                "GELU(u) = u·Φ(u) 在 u < 0 时为负（最小值 ≈ −0.17，在 u ≈ −0.75 附近）。",
                "GELU(u) = u·Φ(u) 的最小值 ≈ −0.17，并像 u 一样增长：调制图可以放大特征、削弱特征，"
                "或轻微地翻转其符号，所以它是调制，而不是 (0, 1) 门控。",
                "输入很大时，GELU 会无界地增长。",
            ],
        },
    },
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
