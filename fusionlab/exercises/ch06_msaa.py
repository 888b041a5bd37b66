"""Chapter 06, multi-scale attention aggregation (CM-UNet's MSAA): write ``MSAA``.

f = down(cat(x1, x2, x4)); c = f ⊙ CA(f); s = conv3(f) + conv5(f) + conv7(f); s = s ⊙ SA(s); out = up(s + c).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "06"

TEXT = {
    "en": {
        "msaa": {
            "ref": "CM-UNet's",
            "title": "Build MSAA",
            "prompt": "Write MSAA(in_channels, out_channels, factor=4.0) as CM-UNet names it: one sub-module "
                      "fusion_conv with d = int(out_channels // factor) and sub-modules down (1×1 conv "
                      "in_channels → d), conv_3x3, conv_5x5, conv_7x7 (d → d, 'same' padding, with bias), "
                      "spatial_attention (conv1: 7×7 conv 2 → 1, padding 3, no bias, over [mean_c s, max_c s]), "
                      "channel_attention (fc = Sequential(1×1 conv d → d // 4, ReLU, 1×1 conv d // 4 → d), no "
                      "biases, applied to the average- and the max-pooled f and summed, then σ) and up (1×1 conv "
                      "d → out_channels). Forward(x1, x2, x4): f = down(cat), c = f ⊙ CA(f), "
                      "s = conv_3x3(f) + conv_5x5(f) + conv_7x7(f), s = s ⊙ SA(s), return up(s + c). "
                      "Name your class MyMSAA (fusionlab's MSAA stays as it is; the post has no MSAA code) and check it with check(MyMSAA).",
            "what": "version of MSAA", "post_class": "MSAA", "signature": "MSAA(in_channels, out_channels, factor=4.0)",
            "mistakes": {
                "max_mean_order": "the spatial gate stacks [max, mean]; CM-UNet's order is [mean, max] (the conv's "
                                  "two input channels are not interchangeable)",
                "gate_on_f": "the spatial gate is computed from f; it must be computed from s, the multi-kernel sum",
                "avg_only": "the channel attention uses average pooling only: CA = σ(fc(avg) + fc(max))",
                "no_channel_branch": "the channel branch is missing: the output is up(s + c), not up(s)",
            },
        },
        "inner_width": {
            "title": "Inner width",
            "question": "MSAA(in_channels=224, out_channels=64) with the default factor 4: how many channels does f "
                        "have, and how wide is the channel attention's hidden layer?",
            "options": ["224 and 56", "64 and 16", "16 and 4", "56 and 14"],
            "why": [
                "down maps the 224 input channels to the inner width d = out_channels // factor, not to in_channels / 4.",
                "64 is the output width; f has d = 64 // 4 = 16 channels.",
                "d = int(64 // 4) = 16 and the channel MLP's hidden width is d // 4 = 4.",
                "The inner width follows out_channels (64), not in_channels (224).",
            ],
        },
        "kernel_sum": {
            "title": "Three kernels or one?",
            "question": "s = conv3×3(f) + conv5×5(f) + conv7×7(f), all with 'same' padding. Could one 7×7 conv compute "
                        "exactly the same s?",
            "options": ["No: three kernels see three receptive fields that one conv cannot combine",
                        "Yes: zero-pad the 3×3 and 5×5 kernels to 7×7 and add the three kernels (and biases)",
                        "Only if the three convs share their weights",
                        "Only with a nonlinearity between them"],
            "why": [
                "Convolution is linear in the kernel: a sum of convs over the same input is one conv with the summed "
                "(centred, zero-padded) kernel.",
                "Convolution is linear in the kernel, so the sum is one 7×7 conv with kernel K7 + pad(K5) + pad(K3) "
                "and bias b3 + b5 + b7: the same function with fewer parameters would do (the separate kernels only "
                "change how training proceeds).",
                "No sharing is needed: any three kernels add up to one.",
                "A nonlinearity would break the equivalence; there is none between the convs and the sum.",
            ],
        },
    },
    "zh": {
        "msaa": {
            "ref": "CM-UNet 代码中",
            "title": "实现 MSAA",
            "prompt": "按 CM-UNet 的命名写出 MSAA(in_channels, out_channels, factor=4.0)：一个子模块 fusion_conv，"
                      "其中 d = int(out_channels // factor)，它的子模块有 down（1×1 卷积 in_channels → d）、"
                      "conv_3x3、conv_5x5、conv_7x7（d → d，'same' 填充，带偏置）、spatial_attention（conv1：7×7 卷积 "
                      "2 → 1，padding 3，无偏置，作用于 [mean_c s, max_c s]）、channel_attention（fc = Sequential(1×1 卷积 "
                      "d → d // 4, ReLU, 1×1 卷积 d // 4 → d)，无偏置，分别作用于平均池化和最大池化后的 f 并求和，再经过 σ）"
                      "以及 up（1×1 卷积 d → out_channels）。forward(x1, x2, x4) 中：f = down(cat)，c = f ⊙ CA(f)，"
                      "s = conv_3x3(f) + conv_5x5(f) + conv_7x7(f)，s = s ⊙ SA(s)，返回 up(s + c)。"
                      "把你的类命名为 MyMSAA（fusionlab 的 MSAA 保持不变；原文没有 MSAA 的代码），并用 check(MyMSAA) 检查。",
            "what": "MSAA 实现", "post_class": "MSAA", "signature": "MSAA(in_channels, out_channels, factor=4.0)",
            "mistakes": {
                "max_mean_order": "空间门控按 [max, mean] 拼接；CM-UNet 的顺序是 [mean, max]（卷积的两个输入通道不能互换）",
                "gate_on_f": "空间门控是由 f 计算的；它必须由 s（多个卷积核的结果之和）计算",
                "avg_only": "通道注意力只用了平均池化：CA = σ(fc(avg) + fc(max))",
                "no_channel_branch": "缺少通道分支：输出是 up(s + c)，而不是 up(s)",
            },
        },
        "inner_width": {
            "title": "内部宽度",
            "question": "MSAA(in_channels=224, out_channels=64)，factor 取默认值 4：f 有多少个通道？"
                        "通道注意力的隐藏层有多宽？",
            "options": ["224 和 56", "64 和 16", "16 和 4", "56 和 14"],
            "why": [
                "down 把 224 个输入通道映射到内部宽度 d = out_channels // factor，而不是 in_channels / 4。",
                "64 是输出宽度；f 有 d = 64 // 4 = 16 个通道。",
                "d = int(64 // 4) = 16，通道 MLP 的隐藏层宽度为 d // 4 = 4。",
                "内部宽度取决于 out_channels（64），而不是 in_channels（224）。",
            ],
        },
        "kernel_sum": {
            "title": "三个卷积核还是一个？",
            "question": "s = conv3×3(f) + conv5×5(f) + conv7×7(f)，三者都用 'same' 填充。能否用一个 7×7 卷积"
                        "精确地算出同样的 s？",
            "options": ["不能：三个卷积核看到三种感受野，一个卷积无法把它们组合起来",
                        "能：把 3×3 和 5×5 卷积核零填充到 7×7，再把三个卷积核（以及偏置）相加",
                        "只有三个卷积共享权重时才能",
                        "只有在它们之间加入非线性时才能"],
            "why": [
                "卷积对卷积核是线性的：对同一输入做的几个卷积之和，就是用相加后的（居中、零填充的）卷积核做的一个卷积。",
                "卷积对卷积核是线性的，所以这个和就是一个 7×7 卷积，卷积核为 K7 + pad(K5) + pad(K3)，"
                "偏置为 b3 + b5 + b7：参数更少的同一个函数就够了（分开的卷积核只改变训练的过程）。",
                "不需要共享权重：任意三个卷积核都能相加成一个。",
                "非线性会破坏这种等价；而这些卷积与求和之间并没有非线性。",
            ],
        },
    },
}


class SpatialGate(nn.Module):
    """SA(s) = σ(conv7×7([mean_c s, max_c s])), no bias: (B, 1, H, W)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def pool(self, s):  # (B, d, H, W) -> (B, 2, H, W): mean first, then max
        return torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)

    def forward(self, s):
        return torch.sigmoid(self.conv1(self.pool(s)))


class ChannelGate(nn.Module):
    """CA(f) = σ(fc(avg f) + fc(max f)), fc: d → d/4 → d without biases: (B, d, 1, 1)."""

    def __init__(self, d):
        super().__init__()
        self.fc = nn.Sequential(nn.Conv2d(d, d // 4, 1, bias=False), nn.ReLU(), nn.Conv2d(d // 4, d, 1, bias=False))

    def forward(self, f):
        return torch.sigmoid(self.fc(f.mean(dim=(2, 3), keepdim=True)) + self.fc(f.amax(dim=(2, 3), keepdim=True)))


class FusionConv(nn.Module):
    def __init__(self, in_channels, out_channels, factor=4.0):
        super().__init__()
        d = int(out_channels // factor)
        self.down = nn.Conv2d(in_channels, d, 1)
        self.conv_3x3 = nn.Conv2d(d, d, 3, padding=1)
        self.conv_5x5 = nn.Conv2d(d, d, 5, padding=2)
        self.conv_7x7 = nn.Conv2d(d, d, 7, padding=3)
        self.spatial_attention = SpatialGate()
        self.channel_attention = ChannelGate(d)
        self.up = nn.Conv2d(d, out_channels, 1)

    def forward(self, x1, x2, x4):
        f = self.down(torch.cat([x1, x2, x4], dim=1))  # (B, d, H, W)
        c = f * self.channel_attention(f)  # channel branch
        s = self.conv_3x3(f) + self.conv_5x5(f) + self.conv_7x7(f)  # three receptive fields
        s = s * self.spatial_attention(s)  # spatial branch, gated by its own map
        return self.up(s + c)  # (B, out_channels, H, W)


class MyMSAA(nn.Module):
    def __init__(self, in_channels, out_channels, factor=4.0):
        super().__init__()
        self.fusion_conv = FusionConv(in_channels, out_channels, factor)

    def forward(self, x1, x2, x4):
        return self.fusion_conv(x1, x2, x4)


class _MaxMeanGate(SpatialGate):
    def pool(self, s):
        return torch.cat([s.amax(dim=1, keepdim=True), s.mean(dim=1, keepdim=True)], dim=1)


class _AvgOnlyGate(ChannelGate):
    def forward(self, f):
        return torch.sigmoid(self.fc(f.mean(dim=(2, 3), keepdim=True)))


class _GateOnF(FusionConv):
    def forward(self, x1, x2, x4):
        f = self.down(torch.cat([x1, x2, x4], dim=1))
        c = f * self.channel_attention(f)
        s = self.conv_3x3(f) + self.conv_5x5(f) + self.conv_7x7(f)
        return self.up(s * self.spatial_attention(f) + c)


class _NoChannelBranch(FusionConv):
    def forward(self, x1, x2, x4):
        f = self.down(torch.cat([x1, x2, x4], dim=1))
        s = self.conv_3x3(f) + self.conv_5x5(f) + self.conv_7x7(f)
        return self.up(s * self.spatial_attention(s))


def _with(fusion=FusionConv, spatial=SpatialGate, channel=ChannelGate):
    """An MSAA whose fusion_conv (or one of its gates) is a mistaken version."""

    class Wrong(MyMSAA):
        def __init__(self, in_channels, out_channels, factor=4.0):
            nn.Module.__init__(self)
            self.fusion_conv = fusion(in_channels, out_channels, factor)
            d = int(out_channels // factor)
            self.fusion_conv.spatial_attention = spatial()
            self.fusion_conv.channel_attention = channel(d)

    return Wrong


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "msaa", "build", _texts("msaa"),
        reference=BLOCKS["msaa"].cls, kwargs={"in_channels": 12, "out_channels": 32, "factor": 4.0},
        input_shapes=[(2, 2, 6, 6), (2, 4, 6, 6), (2, 6, 6, 6)], solution_cls=MyMSAA,
        helpers=(SpatialGate, ChannelGate, FusionConv),
        mistakes={"max_mean_order": _with(spatial=_MaxMeanGate), "gate_on_f": _with(fusion=_GateOnF),
                  "avg_only": _with(channel=_AvgOnlyGate), "no_channel_branch": _with(fusion=_NoChannelBranch)},
    ),
    ConceptExercise(CHAPTER, "inner_width", "concept", _texts("inner_width"), correct=2),
    ConceptExercise(CHAPTER, "kernel_sum", "concept", _texts("kernel_sum"), correct=1),
]
