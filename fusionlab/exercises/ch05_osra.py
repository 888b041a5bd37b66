"""Chapter 05, overlapping spatial-reduction attention (TransXNet): write the attention core, then ``OSRAttention``.

q from every pixel; k, v from the map shrunk by an overlapping strided depthwise conv (kernel r + 3, stride r)
plus a local depthwise 3×3 residual; out = softmax(q kᵀ · scale) v, heads split over channels.
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, FunctionExercise, ModuleExercise, seeded_inputs

CHAPTER = "05"

TEXT = {
    "en": {
        "attend": {
            "title": "Build the attention core",
            "prompt": "Write attend(q, k, v, scale) for q (B, h, N, d) and k, v (B, h, M, d): the attention matrix "
                      "softmax(q kᵀ · scale) over the keys, (B, h, N, M), applied to v, giving (B, h, N, d). "
                      "Check it with check(attend).",
            "what": "attend function", "example": "attend", "signature": "attend(q, k, v, scale)",
            "mistakes": {
                "no_scale": "the scale is missing: multiply q kᵀ by scale (d^−1/2 by default) before the softmax",
                "softmax_queries": "the softmax runs over the queries (dim=-2): each query's row over the keys "
                                   "(dim=-1) must sum to 1",
                "scale_after": "the scale is applied after the softmax: scale the logits, then normalise",
                "scale_squared": "the logits are divided by d instead of √d (scale applied twice)",
            },
        },
        "osra": {
            "ref": "the post's",
            "title": "Build OSRAttention",
            "prompt": "Write the post's OSRAttention(dim, num_heads=8, qk_scale=None, attn_drop=0, sr_ratio=2): "
                      "q = 1×1 conv, kv = 1×1 conv C → 2C, attn_drop = Dropout, sr = Sequential(depthwise conv with "
                      "kernel r + 3, stride r, padding (r + 3) // 2, no bias; BatchNorm2d; ReLU; depthwise 1×1 conv, no "
                      "bias; BatchNorm2d) (nn.Identity for r = 1), local_conv = depthwise 3×3 conv with bias. Forward: "
                      "q reshaped to (B, h, HW, d); y = sr(x); y = local_conv(y) + y; k, v = kv(y).chunk(2, dim=1) "
                      "into heads; out = softmax(q kᵀ · scale) v reshaped to (B, C, H, W). Name your class MyOSRAttention "
                      "(the post's OSRAttention stays as it is) and check it with check(MyOSRAttention).",
            "what": "version of OSRAttention", "post_class": "OSRAttention",
            "signature": "OSRAttention(dim, num_heads=8, qk_scale=None, attn_drop=0, sr_ratio=2)",
            "mistakes": {
                "no_scale": "the scale is missing: multiply q kᵀ by d^−1/2 before the softmax",
                "softmax_queries": "the softmax runs over the queries (dim=-2) instead of the keys (dim=-1)",
                "no_local_residual": "the local residual is missing: the post computes local_conv(y) + y",
                "kv_swapped": "k and v are swapped: kv(y).chunk(2, dim=1) gives k first, then v",
            },
        },
        "attn_shape": {
            "title": "Shape of the attention matrix",
            "question": "In the post's demo, OSRAttention(dim=64) (8 heads, sr_ratio=2) gets x of shape (1, 64, 7, 7). "
                        "What shape does the attention matrix softmax(q kᵀ · scale) have?",
            "options": ["(1, 8, 49, 49)", "(1, 8, 49, 16)", "(1, 8, 16, 49)", "(1, 64, 7, 7)"],
            "why": [
                "That is plain self-attention; here keys come from the reduced 4×4 grid.",
                "(B, h, HW, H'W'): every one of the 49 pixels attends to the 16 positions of the reduced grid; "
                "H' = (7 + 2·2 − 5) // 2 + 1 = 4.",
                "Rows are queries (all 49 pixels), columns are keys (the 16 reduced positions), not the reverse.",
                "That is the output's shape, after the matrix has been applied to v.",
            ],
        },
        "reduced_grid": {
            "title": "The reduced grid",
            "question": "With sr_ratio = 4 (kernel 7, stride 4, padding 3) and a 56×56 input, how large is the "
                        "key/value grid H'×W'?",
            "options": ["13×13", "14×14", "56×56", "8×8"],
            "why": [
                "(56 + 2·3 − 7) // 4 + 1 = 55 // 4 + 1 = 14, not 13: the padding keeps the last window.",
                "(56 + 2·3 − 7) // 4 + 1 = 14: each key sees a 7×7 window, and neighbouring windows overlap by 3 pixels.",
                "56×56 would be sr_ratio = 1 (no reduction).",
                "8×8 would be a stride of 7, non-overlapping windows.",
            ],
        },
        "overlap": {
            "title": "Why overlapping?",
            "question": "What does the 'overlapping' in OSRA's spatial reduction mean?",
            "options": ["The heads share channels",
                        "The reduction conv's kernel (r + 3) is larger than its stride (r), so neighbouring windows "
                        "share pixels and no boundary between windows is cut",
                        "Queries and keys come from the same pixels",
                        "The local 3×3 conv is applied twice"],
            "why": [
                "Heads split the channels into disjoint groups of d = C / h.",
                "With kernel r + 3 and stride r, each window overlaps its neighbours by 3 pixels; PVT's earlier "
                "reduction used kernel = stride (non-overlapping patches).",
                "Queries come from all HW pixels, keys from the reduced H'W' grid.",
                "local_conv runs once, as a residual refinement of the reduced map.",
            ],
        },
    },
    "zh": {
        "attend": {
            "title": "实现注意力核心",
            "prompt": "编写 attend(q, k, v, scale)，其中 q 为 (B, h, N, d)，k、v 为 (B, h, M, d)：在键的维度上对 "
                      "q kᵀ · scale 做 softmax，得到注意力矩阵 (B, h, N, M)，再把它作用于 v，得到 (B, h, N, d)。"
                      "用 check(attend) 检查。",
            "what": "attend 函数", "example": "attend", "signature": "attend(q, k, v, scale)",
            "mistakes": {
                "no_scale": "缺少缩放：在 softmax 之前要把 q kᵀ 乘以 scale（默认为 d^−1/2）",
                "softmax_queries": "softmax 是沿查询（dim=-2）做的：每个查询在键上的那一行（dim=-1）之和必须为 1",
                "scale_after": "缩放放在了 softmax 之后：应先缩放 logits，再归一化",
                "scale_squared": "logits 除以的是 d 而不是 √d（缩放用了两次）",
            },
        },
        "osra": {
            "ref": "原文的",
            "title": "实现 OSRAttention",
            "prompt": "编写原文的 OSRAttention(dim, num_heads=8, qk_scale=None, attn_drop=0, sr_ratio=2)：q = 1×1 卷积，"
                      "kv = 1×1 卷积 C → 2C，attn_drop = Dropout，sr = Sequential(...)，依次为：深度卷积（卷积核 r + 3，"
                      "步幅 r，填充 (r + 3) // 2，无偏置）、BatchNorm2d、ReLU、深度 1×1 卷积（无偏置）、BatchNorm2d"
                      "（r = 1 时为 nn.Identity），local_conv = 带偏置的 3×3 深度卷积。前向传播：q 重塑为 (B, h, HW, d)；"
                      "y = sr(x)；y = local_conv(y) + y；k, v = kv(y).chunk(2, dim=1)，再拆分到各个头；"
                      "out = softmax(q kᵀ · scale) v，重塑为 (B, C, H, W)。把你的类命名为 MyOSRAttention"
                      "（原文的 OSRAttention 保持原样），并用 check(MyOSRAttention) 检查。",
            "what": "OSRAttention 实现", "post_class": "OSRAttention",
            "signature": "OSRAttention(dim, num_heads=8, qk_scale=None, attn_drop=0, sr_ratio=2)",
            "mistakes": {
                "no_scale": "缺少缩放：在 softmax 之前要把 q kᵀ 乘以 d^−1/2",
                "softmax_queries": "softmax 沿查询（dim=-2）而不是沿键（dim=-1）做",
                "no_local_residual": "缺少局部残差：原文计算的是 local_conv(y) + y",
                "kv_swapped": "k 和 v 弄反了：kv(y).chunk(2, dim=1) 先给出 k，再给出 v",
            },
        },
        "attn_shape": {
            "title": "注意力矩阵的形状",
            "question": "在原文的演示中，OSRAttention(dim=64)（8 个头，sr_ratio=2）接收形状为 (1, 64, 7, 7) 的 x。"
                        "注意力矩阵 softmax(q kᵀ · scale) 的形状是什么？",
            "options": ["(1, 8, 49, 49)", "(1, 8, 49, 16)", "(1, 8, 16, 49)", "(1, 64, 7, 7)"],
            "why": [
                "那是普通自注意力的形状；这里的键来自缩减后的 4×4 网格。",
                "(B, h, HW, H'W')：49 个像素中的每一个都关注缩减网格上的 16 个位置；"
                "H' = (7 + 2·2 − 5) // 2 + 1 = 4。",
                "行是查询（全部 49 个像素），列是键（缩减后的 16 个位置），不能反过来。",
                "那是输出的形状，即矩阵作用于 v 之后的形状。",
            ],
        },
        "reduced_grid": {
            "title": "缩减后的网格",
            "question": "sr_ratio = 4（卷积核 7，步幅 4，填充 3）、输入为 56×56 时，键/值网格 H'×W' 有多大？",
            "options": ["13×13", "14×14", "56×56", "8×8"],
            "why": [
                "(56 + 2·3 − 7) // 4 + 1 = 55 // 4 + 1 = 14，不是 13：填充保住了最后一个窗口。",
                "(56 + 2·3 − 7) // 4 + 1 = 14：每个键读取一个 7×7 的窗口，相邻窗口重叠 3 个像素。",
                "56×56 对应 sr_ratio = 1（不缩减）。",
                "8×8 对应步幅为 7、互不重叠的窗口。",
            ],
        },
        "overlap": {
            "title": "为什么要重叠？",
            "question": "OSRA 空间缩减中的“重叠”（overlapping）是什么意思？",
            "options": ["各个头共享通道",
                        "缩减卷积的卷积核（r + 3）大于步幅（r），因此相邻窗口共享像素，窗口之间的分界不会被切断",
                        "查询和键来自相同的像素",
                        "局部 3×3 卷积执行了两次"],
            "why": [
                "多头把通道划分为互不相交的组，每组 d = C / h 个通道。",
                "卷积核为 r + 3、步幅为 r 时，每个窗口与相邻窗口重叠 3 个像素；PVT 更早的缩减用的是卷积核 = 步幅"
                "（互不重叠的图块）。",
                "查询来自全部 HW 个像素，键来自缩减后的 H'W' 网格。",
                "local_conv 只执行一次，作为对缩减后特征图的残差细化。",
            ],
        },
    },
}


def attend(q, k, v, scale):
    """softmax(q kᵀ · scale) v: q (B, h, N, d), k and v (B, h, M, d) -> (B, h, N, d)."""
    attn = (q @ k.transpose(-1, -2)) * scale  # (B, h, N, M): one row per query
    attn = attn.softmax(dim=-1)  # each row sums to 1 over the M keys
    return attn @ v  # (B, h, N, d)


def _no_scale(q, k, v, scale):
    return (q @ k.transpose(-1, -2)).softmax(dim=-1) @ v


def _softmax_queries(q, k, v, scale):
    return ((q @ k.transpose(-1, -2)) * scale).softmax(dim=-2) @ v


def _scale_after(q, k, v, scale):
    return ((q @ k.transpose(-1, -2)).softmax(dim=-1) * scale) @ v


def _scale_squared(q, k, v, scale):
    return ((q @ k.transpose(-1, -2)) * scale**2).softmax(dim=-1) @ v


_HEADS, _D, _SCALE = 2, 4, 4 ** -0.5


def _attend_inputs():
    q, k, v = seeded_inputs([(2, _HEADS, 12, _D), (2, _HEADS, 5, _D), (2, _HEADS, 5, _D)], seed=5)
    return q, k, v, _SCALE


def _attend_reference(q, k, v, scale):
    block = BLOCKS["osra"].cls(dim=_HEADS * _D, num_heads=_HEADS, qk_scale=scale).eval()
    return block.attend(q, k, v)


class MyOSRAttention(nn.Module):
    """Attention from every pixel to an overlapping, reduced grid of keys and values."""

    def __init__(self, dim, num_heads=8, qk_scale=None, attn_drop=0, sr_ratio=2):
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.q = nn.Conv2d(dim, dim, 1)
        self.kv = nn.Conv2d(dim, dim * 2, 1)
        self.attn_drop = nn.Dropout(attn_drop)
        r = sr_ratio
        if r > 1:  # overlapping windows: kernel r + 3 > stride r
            self.sr = nn.Sequential(
                nn.Conv2d(dim, dim, r + 3, stride=r, padding=(r + 3) // 2, groups=dim, bias=False),
                nn.BatchNorm2d(dim), nn.ReLU(),
                nn.Conv2d(dim, dim, 1, groups=dim, bias=False), nn.BatchNorm2d(dim))
        else:
            self.sr = nn.Identity()
        self.local_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)

    def keys_values(self, x):
        y = self.sr(x)  # (B, C, H', W')
        y = self.local_conv(y) + y  # local refinement, residual
        return self.kv(y).chunk(2, dim=1)  # k, v: (B, C, H', W') each

    def forward(self, x):
        B, C, H, W = x.shape
        h, d = self.num_heads, C // self.num_heads
        q = self.q(x).reshape(B, h, d, H * W).transpose(-1, -2)  # (B, h, HW, d)
        k, v = self.keys_values(x)
        k = k.reshape(B, h, d, -1)  # (B, h, d, H'W'): already kᵀ
        v = v.reshape(B, h, d, -1).transpose(-1, -2)  # (B, h, H'W', d)
        attn = self.attn_drop(torch.softmax((q @ k) * self.scale, dim=-1))  # (B, h, HW, H'W')
        return (attn @ v).transpose(-1, -2).reshape(B, C, H, W)  # (B, h, d, HW) -> (B, C, H, W)


class _Variant(MyOSRAttention):
    """Forward with a switch per mistake; the subclasses below set one."""

    scaled, softmax_dim, residual, swap = True, -1, True, False

    def keys_values(self, x):
        y = self.sr(x)
        y = self.local_conv(y) + y if self.residual else self.local_conv(y)
        k, v = self.kv(y).chunk(2, dim=1)
        return (v, k) if self.swap else (k, v)

    def forward(self, x):
        B, C, H, W = x.shape
        h, d = self.num_heads, C // self.num_heads
        q = self.q(x).reshape(B, h, d, H * W).transpose(-1, -2)
        k, v = self.keys_values(x)
        k, v = k.reshape(B, h, d, -1), v.reshape(B, h, d, -1).transpose(-1, -2)
        logits = (q @ k) * (self.scale if self.scaled else 1.0)
        return (torch.softmax(logits, dim=self.softmax_dim) @ v).transpose(-1, -2).reshape(B, C, H, W)


class _NoScale(_Variant):
    scaled = False


class _SoftmaxQueries(_Variant):
    softmax_dim = -2


class _NoLocalResidual(_Variant):
    residual = False


class _KVSwapped(_Variant):
    swap = True


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    FunctionExercise(
        CHAPTER, "attend", "build", _texts("attend"),
        reference=_attend_reference, solution_fn=attend, make_inputs=_attend_inputs,
        mistakes={"no_scale": _no_scale, "softmax_queries": _softmax_queries, "scale_after": _scale_after,
                  "scale_squared": _scale_squared},
    ),
    ModuleExercise(
        CHAPTER, "osra", "build", _texts("osra"),
        reference=BLOCKS["osra"].cls, kwargs={"dim": 8, "num_heads": 2, "sr_ratio": 2},
        input_shapes=[(2, 8, 7, 7)], solution_cls=MyOSRAttention,
        mistakes={"no_scale": _NoScale, "softmax_queries": _SoftmaxQueries, "no_local_residual": _NoLocalResidual,
                  "kv_swapped": _KVSwapped},
    ),
    ConceptExercise(CHAPTER, "attn_shape", "concept", _texts("attn_shape"), correct=1),
    ConceptExercise(CHAPTER, "reduced_grid", "concept", _texts("reduced_grid"), correct=1),
    ConceptExercise(CHAPTER, "overlap", "concept", _texts("overlap"), correct=1),
]
