"""Chapter 07, channel and spatial attention: write the post's joint ``CBAMBlock`` and the paper's ``CBAM``.

CBAMBlock: channel logits (B, C) and spatial logits (B, HW) → one joint MLP → σ → (x·M_c, x·M_s).
CBAM: x' = σ(MLP(avg) + MLP(max)) ⊙ x, out = σ(BN(conv([max_c x', mean_c x']))) ⊙ x'.
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "07"

TEXT = {
    "en": {
        "cbam_joint": {
            "ref": "the post's",
            "title": "Build the post's CBAMBlock",
            "prompt": "Write the post's CBAMBlock(channel=512, reduction=16, kernel_size=49, HW=None) with sub-modules "
                      "ChannelAttention (se = Sequential(1×1 conv C → C // r, ReLU, 1×1 conv C // r → C), no biases, "
                      "se(max-pooled) + se(avg-pooled), no sigmoid), SpatialAttention (conv: k×k conv 2 → 1 with "
                      "bias over [max_c x, mean_c x], no sigmoid) and MLP (1×1 conv C + HW → C // r, ReLU, 1×1 conv "
                      "C // r → C + HW, no biases). Forward: concatenate the channel logits (B, C, 1, 1) and the "
                      "spatial logits reshaped to (B, HW, 1, 1), pass them through MLP, split at C, apply σ and return "
                      "(x · M_c, x · M_s). Name your class MyCBAMBlock (the post's CBAMBlock stays as it is) and check it with check(MyCBAMBlock).",
            "what": "version of CBAMBlock", "post_class": "CBAMBlock",
            "signature": "CBAMBlock(channel=512, reduction=16, kernel_size=49, HW=None)",
            "mistakes": {
                "sigmoid_before_mlp": "σ is applied to the channel and spatial logits before the joint MLP; the post "
                                      "concatenates raw logits and applies σ after the MLP",
                "mean_max_order": "the spatial pooling stacks [mean, max]; the post's order is [max, mean]",
                "spatial_first": "the joint vector is [spatial, channel]; the post concatenates [channel, spatial] "
                                 "and splits at C",
                "avg_only": "the channel logits use average pooling only: the post sums se(max) + se(avg)",
            },
        },
        "cbam": {
            "ref": "the paper's",
            "title": "Build CBAM (the paper's block)",
            "prompt": "Write CBAM(channels, reduction=16, kernel_size=7) as in the paper's code: channel_mlp = "
                      "Sequential(Linear C → C // r, ReLU, Linear C // r → C) (with biases) shared by the average- "
                      "and the max-pooled vectors, M_c = σ(sum); spatial_conv = k×k conv 2 → 1 without bias over "
                      "[max_c, mean_c] of the channel-refined map x' = M_c ⊙ x, then spatial_bn = BatchNorm2d(1), "
                      "M_s = σ(·); return M_s ⊙ x'. Name your class MyCBAM (fusionlab's CBAM stays as it is; the post has no CBAM class) and check it with check(MyCBAM).",
            "what": "version of CBAM", "post_class": "CBAM", "signature": "CBAM(channels, reduction=16, kernel_size=7)",
            "mistakes": {
                "parallel": "the spatial gate is computed from x; CBAM is sequential: it pools the channel-refined "
                            "map x' = M_c ⊙ x",
                "mean_max_order": "the spatial pooling stacks [mean, max]; CBAM's code stacks [max, mean]",
                "avg_only": "the channel gate uses average pooling only: M_c = σ(MLP(avg) + MLP(max))",
                "no_channel_sigmoid": "the channel gate lacks its sigmoid: M_c = σ(MLP(avg) + MLP(max))",
            },
        },
        "positional_mask": {
            "title": "What the joint MLP learns",
            "question": "CBAMBlock's joint MLP takes C + H·W inputs: one per channel and one per pixel position. "
                        "What follows?",
            "options": ["Nothing special: it works for any H×W, like CBAM",
                        "It has a weight per pixel position, so it learns a positional mask and the block only "
                        "accepts the H×W it was built for",
                        "The spatial weights no longer depend on the input",
                        "It makes the block translation-equivariant"],
            "why": [
                "The MLP's first layer has C + HW input channels; another H×W gives another vector length and the "
                "weights no longer fit.",
                "Each of the HW positions has its own weights in the MLP, so the block can learn which positions "
                "matter (a positional mask); the weights are sized for one H×W.",
                "They still depend on the input, through the spatial and channel logits the MLP receives.",
                "The opposite: per-position weights tie the result to absolute positions; CBAM's conv is equivariant.",
            ],
        },
        "joint_params": {
            "title": "Size of the joint MLP",
            "question": "How many weights does the joint MLP of CBAMBlock(channel=64, reduction=8, kernel_size=7, "
                        "HW=49) have?",
            "options": ["1,024", "1,808", "904", "113"],
            "why": [
                "2 · 64 · 8 = 1,024 would be an MLP over the channels only (CBAM's); this one also takes the 49 positions.",
                "Two bias-free 1×1 convs (C + HW) → C // r → (C + HW): 2 · 113 · 8 = 1,808.",
                "113 · 8 = 904 is one of its two layers.",
                "113 = C + HW is the MLP's input width, not its number of weights.",
            ],
        },
        "sequential": {
            "title": "Parallel or sequential?",
            "question": "In the paper's CBAM, what does the spatial attention pool over?",
            "options": ["The input x, in parallel with the channel attention",
                        "The channel-refined map M_c ⊙ x: channel gate first, then spatial gate",
                        "The channel weights M_c",
                        "The output of the post's joint MLP"],
            "why": [
                "That is a parallel arrangement; the paper found the sequential, channel-first order works best.",
                "CBAM is sequential: x' = M_c(x) ⊙ x, then out = M_s(x') ⊙ x'; the spatial gate sees the refined map.",
                "M_c is (B, C, 1, 1): it has no spatial extent to pool over.",
                "The joint MLP belongs to the post's CBAMBlock, not to the paper's CBAM.",
            ],
        },
    },
    "zh": {
        "cbam_joint": {
            "ref": "原文",
            "title": "实现原文的 CBAMBlock",
            "prompt": "写出原文的 CBAMBlock(channel=512, reduction=16, kernel_size=49, HW=None)，子模块包括："
                      "ChannelAttention（se = Sequential(1×1 卷积 C → C // r, ReLU, 1×1 卷积 C // r → C)，均无偏置；"
                      "计算 se(最大池化结果) + se(平均池化结果)，不取 sigmoid）、SpatialAttention（conv：在 "
                      "[max_c x, mean_c x] 上做 2 → 1 的 k×k 卷积，带偏置，不取 sigmoid）和 MLP（1×1 卷积 "
                      "C + HW → C // r, ReLU, 1×1 卷积 C // r → C + HW，均无偏置）。前向传播：把通道 logit "
                      "(B, C, 1, 1) 和 reshape 成 (B, HW, 1, 1) 的空间 logit 拼接起来，送入 MLP，在 C 处拆分，取 σ，"
                      "返回 (x · M_c, x · M_s)。把你的类命名为 MyCBAMBlock（原文的 CBAMBlock 保持不变），"
                      "并用 check(MyCBAMBlock) 检查。",
            "what": "实现", "post_class": "CBAMBlock",
            "signature": "CBAMBlock(channel=512, reduction=16, kernel_size=49, HW=None)",
            "mistakes": {
                "sigmoid_before_mlp": "在联合 MLP 之前就对通道 logit 和空间 logit 取了 σ；原文拼接的是原始 logit，"
                                      "在 MLP 之后才取 σ",
                "mean_max_order": "空间池化按 [mean, max] 堆叠；原文的顺序是 [max, mean]",
                "spatial_first": "联合向量是 [空间, 通道]；原文按 [通道, 空间] 拼接，并在 C 处拆分",
                "avg_only": "通道 logit 只用了平均池化：原文是 se(max) + se(avg) 之和",
            },
        },
        "cbam": {
            "ref": "论文",
            "title": "实现 CBAM（论文中的模块）",
            "prompt": "按论文的代码写出 CBAM(channels, reduction=16, kernel_size=7)：channel_mlp = "
                      "Sequential(Linear C → C // r, ReLU, Linear C // r → C)（带偏置），由平均池化向量和最大池化向量"
                      "共享，M_c = σ(二者之和)；spatial_conv 是不带偏置的 2 → 1 的 k×k 卷积，作用在经过通道细化的"
                      "特征图 x' = M_c ⊙ x 的 [max_c, mean_c] 上，后接 spatial_bn = BatchNorm2d(1)，M_s = σ(·)；"
                      "返回 M_s ⊙ x'。把你的类命名为 MyCBAM（fusionlab 的 CBAM 保持不变；原文没有 CBAM 类），"
                      "并用 check(MyCBAM) 检查。",
            "what": "实现", "post_class": "CBAM", "signature": "CBAM(channels, reduction=16, kernel_size=7)",
            "mistakes": {
                "parallel": "空间门控是从 x 算出来的；CBAM 是串行的：它池化的是经过通道细化的特征图 x' = M_c ⊙ x",
                "mean_max_order": "空间池化按 [mean, max] 堆叠；CBAM 的代码按 [max, mean] 堆叠",
                "avg_only": "通道门控只用了平均池化：M_c = σ(MLP(avg) + MLP(max))",
                "no_channel_sigmoid": "通道门控缺少 sigmoid：M_c = σ(MLP(avg) + MLP(max))",
            },
        },
        "positional_mask": {
            "title": "联合 MLP 学到了什么",
            "question": "CBAMBlock 的联合 MLP 有 C + H·W 个输入：每个通道一个，每个像素位置一个。由此可以推出什么？",
            "options": ["没什么特别的：它和 CBAM 一样适用于任意 H×W",
                        "它为每个像素位置都配有权重，所以会学到一个位置掩码，而且模块只接受构建时给定的 H×W",
                        "空间权重不再依赖于输入",
                        "它让模块具有平移等变性"],
            "why": [
                "MLP 的第一层有 C + HW 个输入通道；换一种 H×W，向量长度就变了，权重也就对不上了。",
                "HW 个位置在 MLP 中各有自己的权重，所以模块能学到哪些位置重要（位置掩码）；而这些权重的尺寸是按某一个 "
                "H×W 定的。",
                "它们仍然依赖于输入：通过 MLP 接收的空间 logit 和通道 logit。",
                "恰恰相反：逐位置的权重把结果绑定在绝对位置上；CBAM 的卷积才是平移等变的。",
            ],
        },
        "joint_params": {
            "title": "联合 MLP 的大小",
            "question": "CBAMBlock(channel=64, reduction=8, kernel_size=7, HW=49) 的联合 MLP 有多少个权重？",
            "options": ["1,024", "1,808", "904", "113"],
            "why": [
                "2 · 64 · 8 = 1,024 是只作用于通道的 MLP（CBAM 的那种）；这个 MLP 还要接收 49 个位置。",
                "两个不带偏置的 1×1 卷积 (C + HW) → C // r → (C + HW)：2 · 113 · 8 = 1,808。",
                "113 · 8 = 904 只是它两层中的一层。",
                "113 = C + HW 是 MLP 的输入宽度，不是它的权重个数。",
            ],
        },
        "sequential": {
            "title": "并行还是串行？",
            "question": "在论文的 CBAM 中，空间注意力是在什么上做池化的？",
            "options": ["输入 x，与通道注意力并行",
                        "经过通道细化的特征图 M_c ⊙ x：先通道门控，再空间门控",
                        "通道权重 M_c",
                        "原文联合 MLP 的输出"],
            "why": [
                "那是并行的排布；论文发现先通道、后空间的串行顺序效果最好。",
                "CBAM 是串行的：x' = M_c(x) ⊙ x，然后 out = M_s(x') ⊙ x'；空间门控看到的是细化后的特征图。",
                "M_c 的形状是 (B, C, 1, 1)：它没有空间范围可供池化。",
                "联合 MLP 属于原文的 CBAMBlock，而不是论文的 CBAM。",
            ],
        },
    }
}


class ChannelAttention(nn.Module):
    """Channel logits (no sigmoid): se(max-pooled) + se(avg-pooled), (B, C, 1, 1)."""

    def __init__(self, channel, reduction=16):
        super().__init__()
        self.se = nn.Sequential(nn.Conv2d(channel, channel // reduction, 1, bias=False), nn.ReLU(),
                                nn.Conv2d(channel // reduction, channel, 1, bias=False))

    def forward(self, x):
        return self.se(x.amax(dim=(2, 3), keepdim=True)) + self.se(x.mean(dim=(2, 3), keepdim=True))


class SpatialAttention(nn.Module):
    """Spatial logits (no sigmoid): conv over [max_c x, mean_c x], (B, 1, H, W)."""

    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def pool(self, x):
        return torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)

    def forward(self, x):
        return self.conv(self.pool(x))


class MyCBAMBlock(nn.Module):
    """Channel and spatial logits through one joint MLP; returns (x · M_c, x · M_s)."""

    def __init__(self, channel=512, reduction=16, kernel_size=49, HW=None):
        super().__init__()
        self.ChannelAttention = ChannelAttention(channel, reduction)
        self.SpatialAttention = SpatialAttention(kernel_size)
        joint = channel + HW  # one input per channel and one per pixel position
        self.MLP = nn.Sequential(nn.Conv2d(joint, channel // reduction, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(channel // reduction, joint, 1, bias=False))

    def logits(self, x):  # (B, C + HW, 1, 1)
        B, C, H, W = x.shape
        return torch.cat([self.ChannelAttention(x).reshape(B, C, 1, 1),
                          self.SpatialAttention(x).reshape(B, H * W, 1, 1)], dim=1)

    def forward(self, x):
        B, C, H, W = x.shape
        joint = torch.sigmoid(self.MLP(self.logits(x)))  # (B, C + HW, 1, 1)
        return x * joint[:, :C].reshape(B, C, 1, 1), x * joint[:, C:].reshape(B, 1, H, W)


class MyCBAM(nn.Module):
    """Channel gate, then spatial gate on the channel-refined map (Woo et al., ECCV 2018)."""

    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        self.channel_mlp = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(),
                                         nn.Linear(channels // reduction, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1, momentum=0.01)  # the official CBAM code's momentum

    def channel_gate(self, x):  # (B, C, 1, 1)
        logits = self.channel_mlp(x.mean(dim=(2, 3))) + self.channel_mlp(x.amax(dim=(2, 3)))  # (B, C)
        return torch.sigmoid(logits)[:, :, None, None]

    def spatial_gate(self, x):  # (B, 1, H, W)
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))

    def forward(self, x):
        x = x * self.channel_gate(x)  # channel first ...
        return x * self.spatial_gate(x)  # ... then space, on the refined map


class _SigmoidBeforeMLP(MyCBAMBlock):
    def logits(self, x):
        return torch.sigmoid(super().logits(x))


class _MeanMaxSpatial(SpatialAttention):
    def pool(self, x):
        return torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)


class _MeanMaxOrder(MyCBAMBlock):
    def __init__(self, channel=512, reduction=16, kernel_size=49, HW=None):
        super().__init__(channel, reduction, kernel_size, HW)
        self.SpatialAttention = _MeanMaxSpatial(kernel_size)


class _SpatialFirst(MyCBAMBlock):
    def logits(self, x):
        B, C, H, W = x.shape
        return torch.cat([self.SpatialAttention(x).reshape(B, H * W, 1, 1),
                          self.ChannelAttention(x).reshape(B, C, 1, 1)], dim=1)


class _AvgOnlyChannel(ChannelAttention):
    def forward(self, x):
        return self.se(x.mean(dim=(2, 3), keepdim=True))


class _AvgOnly(MyCBAMBlock):
    def __init__(self, channel=512, reduction=16, kernel_size=49, HW=None):
        super().__init__(channel, reduction, kernel_size, HW)
        self.ChannelAttention = _AvgOnlyChannel(channel, reduction)


class _Parallel(MyCBAM):
    def forward(self, x):
        return x * self.channel_gate(x) * self.spatial_gate(x)


class _MeanMaxCBAM(MyCBAM):
    def spatial_gate(self, x):
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))


class _AvgOnlyCBAM(MyCBAM):
    def channel_gate(self, x):
        return torch.sigmoid(self.channel_mlp(x.mean(dim=(2, 3))))[:, :, None, None]


class _NoChannelSigmoid(MyCBAM):
    def channel_gate(self, x):
        return (self.channel_mlp(x.mean(dim=(2, 3))) + self.channel_mlp(x.amax(dim=(2, 3))))[:, :, None, None]


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "cbam_joint", "build", _texts("cbam_joint"),
        reference=BLOCKS["cbam_joint"].cls, kwargs={"channel": 16, "reduction": 4, "kernel_size": 3, "HW": 16},
        input_shapes=[(2, 16, 4, 4)], solution_cls=MyCBAMBlock,
        helpers=(ChannelAttention, SpatialAttention),
        mistakes={"sigmoid_before_mlp": _SigmoidBeforeMLP, "mean_max_order": _MeanMaxOrder,
                  "spatial_first": _SpatialFirst, "avg_only": _AvgOnly},
    ),
    ModuleExercise(
        CHAPTER, "cbam", "build", _texts("cbam"),
        reference=BLOCKS["cbam"].cls, kwargs={"channels": 16, "reduction": 4, "kernel_size": 3},
        input_shapes=[(2, 16, 5, 5)], solution_cls=MyCBAM,
        mistakes={"parallel": _Parallel, "mean_max_order": _MeanMaxCBAM, "avg_only": _AvgOnlyCBAM,
                  "no_channel_sigmoid": _NoChannelSigmoid},
    ),
    ConceptExercise(CHAPTER, "positional_mask", "concept", _texts("positional_mask"), correct=1),
    ConceptExercise(CHAPTER, "joint_params", "concept", _texts("joint_params"), correct=1),
    ConceptExercise(CHAPTER, "sequential", "concept", _texts("sequential"), correct=1),
]
