"""Chapter 03, multi-scale feature extraction (SHISRCNet): write ``MFEblock``.

y0 = L1(x), y1 = L2(y0 + x), y2 = L3(y1 + x), y3 = L4(y2 + x) (dilated 3×3 conv → BN → ReLU), then MSF's
weights and a residual: out = project(Σ_i w_i ⊙ y_i + x).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "03"

TEXT = {
    "en": {
        "mfe_block": {
            "ref": "the post's",
            "title": "Build MFEblock",
            "prompt": "Write the post's MFEblock(in_channels, atrous_rates): layer1 = 3×3 conv (no bias) → BN → ReLU, "
                      "layer2–layer4 the same with dilation (and padding) atrous_rates[0..2]; chain them as "
                      "y0 = layer1(x), y1 = layer2(y0 + x), y2 = layer3(y1 + x), y3 = layer4(y2 + x); weight the four "
                      "with MSF's softmax(σ(SE_i(GAP(y_i)))) over the scales and return project(Σ w_i y_i + x). "
                      "SE1–SE4 and project are as in MSFblock. Name your class MyMFEblock (the post's MFEblock stays as it is) and check it with check(MyMFEblock).",
            "what": "version of MFEblock", "post_class": "MFEblock", "signature": "MFEblock(in_channels, atrous_rates)",
            "mistakes": {
                "no_residual": "the residual is missing: the post projects Σ w_i y_i + x, not Σ w_i y_i",
                "parallel": "the layers run in parallel on x: the post chains them, layer_{i+1} gets y_i + x",
                "no_skip": "the chain lacks the skip from x: layer_{i+1} gets y_i + x, not y_i alone",
                "softmax_channels": "the softmax runs over the channels instead of over the 4 scales (dim=2 of "
                                    "the (B, C, 4, 1) stack)",
            },
        },
        "receptive_field": {
            "title": "Receptive field of the chain",
            "question": "With atrous_rates = (2, 4, 8), how wide (in pixels) is the receptive field of y3, the last "
                        "scale of the chain?",
            "options": ["9", "17", "31", "63"],
            "why": [
                "9 is the field of four stacked 3×3 convs without dilation (3 + 2 + 2 + 2); dilation widens layers 2–4.",
                "17 is the field of a single 3×3 conv at rate 8 (2·8 + 1); the chain adds up the layers before it.",
                "A 3×3 conv at rate r widens the field by 2r: 3 (layer1) + 4 + 8 + 16 = 31 through the chain "
                "layer1 → layer2 → layer3 → layer4.",
                "63 would need a fifth layer at rate 16 (1 + 2·(1 + 2 + 4 + 8 + 16)); with (2, 4, 8) the chain reaches 31.",
            ],
        },
        "padding": {
            "title": "Why padding = dilation",
            "question": "Why does each dilated 3×3 conv of MFE use padding equal to its dilation rate?",
            "options": ["To make the receptive field larger",
                        "To keep H×W: a 3×3 kernel at rate r spans 2r + 1 pixels, so r pixels of padding per side "
                        "keep the size, which y_i + x needs",
                        "To halve H×W at every layer",
                        "It has no effect on the output shape"],
            "why": [
                "The dilation sets the receptive field; padding only adds zeros at the border.",
                "A 3×3 conv at rate r covers 2r + 1 pixels and removes 2r from H and W; padding r on each side gives "
                "them back, so y_i + x and the weighted sum have matching shapes.",
                "Stride halves a map; MFE has no stride and keeps H×W throughout.",
                "Without it, rate 8 would shrink H and W by 16 and y_i + x would fail.",
            ],
        },
    },
    "zh": {
        "mfe_block": {
            "ref": "原文",
            "title": "实现 MFEblock",
            "prompt": "编写原文的 MFEblock(in_channels, atrous_rates)：layer1 = 3×3 卷积（无偏置）→ BN → ReLU，"
                      "layer2–layer4 结构相同，空洞率（及填充）依次为 atrous_rates[0..2]；按 "
                      "y0 = layer1(x)、y1 = layer2(y0 + x)、y2 = layer3(y1 + x)、y3 = layer4(y2 + x) 串联；"
                      "用 MSF 的 softmax(σ(SE_i(GAP(y_i))))（softmax 在各尺度之间进行）给这四个输出加权，"
                      "返回 project(Σ w_i y_i + x)。SE1–SE4 和 project 与 MSFblock 中的相同。"
                      "类名取为 MyMFEblock（原文的 MFEblock 保持不变），并用 check(MyMFEblock) 检查。",
            "what": "实现", "post_class": "MFEblock", "signature": "MFEblock(in_channels, atrous_rates)",
            "mistakes": {
                "no_residual": "缺少残差：原文投影的是 Σ w_i y_i + x，而不是 Σ w_i y_i",
                "parallel": "各层在 x 上并行运行：原文把它们串联起来，layer_{i+1} 的输入是 y_i + x",
                "no_skip": "串联中缺少来自 x 的跳跃连接：layer_{i+1} 的输入是 y_i + x，而不只是 y_i",
                "softmax_channels": "softmax 在通道之间进行，而不是在 4 个尺度之间（应为 (B, C, 4, 1) "
                                    "堆叠的 dim=2）",
            },
        },
        "receptive_field": {
            "title": "串联的感受野",
            "question": "当 atrous_rates = (2, 4, 8) 时，串联的最后一个尺度 y3 的感受野有多宽（以像素计）？",
            "options": ["9", "17", "31", "63"],
            "why": [
                "9 是四个不带空洞的 3×3 卷积堆叠后的感受野（3 + 2 + 2 + 2）；空洞让第 2–4 层把感受野增宽得更多。",
                "17 是单个空洞率为 8 的 3×3 卷积的感受野（2·8 + 1）；串联还要把它之前各层的贡献累加上去。",
                "空洞率为 r 的 3×3 卷积使感受野增宽 2r：沿着 layer1 → layer2 → layer3 → layer4 这条链，"
                "3（layer1）+ 4 + 8 + 16 = 31。",
                "63 需要再加一个空洞率为 16 的第五层（1 + 2·(1 + 2 + 4 + 8 + 16)）；用 (2, 4, 8) 时，串联只能达到 31。",
            ],
        },
        "padding": {
            "title": "为什么填充 = 空洞率",
            "question": "为什么 MFE 中每个空洞 3×3 卷积的填充都等于它的空洞率？",
            "options": ["为了让感受野更大",
                        "为了保持 H×W：空洞率为 r 的 3×3 卷积核跨越 2r + 1 个像素，每边填充 r 个像素就能保持尺寸，"
                        "而 y_i + x 需要尺寸一致",
                        "为了让每一层的 H×W 减半",
                        "它对输出形状没有影响"],
            "why": [
                "感受野由空洞率决定；填充只是在边界上补零。",
                "空洞率为 r 的 3×3 卷积覆盖 2r + 1 个像素，会让 H 和 W 各减少 2r；每边填充 r 把它们补回来，"
                "这样 y_i + x 和加权求和的形状才能对上。",
                "让特征图减半的是步幅；MFE 没有步幅，始终保持 H×W。",
                "没有填充的话，空洞率 8 会让 H 和 W 各缩小 16，y_i + x 就会出错。",
            ],
        },
    }
}


class SqueezeConv(nn.Module):
    """The post's SE layer: a bias-free 1×1 conv inside a Sequential (state_dict key conv.0.weight)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False))

    def forward(self, x):
        return self.conv(x)


def conv_bn_relu(channels, rate):
    # padding = rate keeps H×W for a 3×3 kernel at dilation `rate`
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU())


class MyMFEblock(nn.Module):
    """Chained dilated convs give four scales y0..y3; MSF's weights fuse them, plus a residual."""

    def __init__(self, in_channels, atrous_rates):
        super().__init__()
        c = in_channels
        r1, r2, r3 = atrous_rates
        self.layer1 = conv_bn_relu(c, 1)
        self.layer2 = conv_bn_relu(c, r1)
        self.layer3 = conv_bn_relu(c, r2)
        self.layer4 = conv_bn_relu(c, r3)
        self.project = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.SE1, self.SE2, self.SE3, self.SE4 = SqueezeConv(c), SqueezeConv(c), SqueezeConv(c), SqueezeConv(c)

    def scales(self, x):  # (B, C, H, W) -> four (B, C, H, W)
        y0 = self.layer1(x)
        y1 = self.layer2(y0 + x)  # each layer sees the previous scale plus the input
        y2 = self.layer3(y1 + x)
        y3 = self.layer4(y2 + x)
        return y0, y1, y2, y3

    def fuse(self, ys):  # MSF: four (B, C, H, W) -> (B, C, H, W)
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        logits = torch.cat([se(y.mean(dim=(2, 3), keepdim=True)) for se, y in zip(ses, ys)], dim=2)  # (B, C, 4, 1)
        w = torch.softmax(torch.sigmoid(logits), dim=2)  # over the 4 scales
        return sum(w[:, :, i:i + 1] * y for i, y in enumerate(ys))

    def forward(self, x):
        return self.project(self.fuse(self.scales(x)) + x)  # residual before the projection


class _NoResidual(MyMFEblock):
    def forward(self, x):
        return self.project(self.fuse(self.scales(x)))


class _Parallel(MyMFEblock):
    def scales(self, x):
        return self.layer1(x), self.layer2(x), self.layer3(x), self.layer4(x)


class _NoSkip(MyMFEblock):
    def scales(self, x):
        y0 = self.layer1(x)
        y1 = self.layer2(y0)
        y2 = self.layer3(y1)
        return y0, y1, y2, self.layer4(y2)


class _SoftmaxChannels(MyMFEblock):
    def fuse(self, ys):
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        logits = torch.cat([se(y.mean(dim=(2, 3), keepdim=True)) for se, y in zip(ses, ys)], dim=2)
        w = torch.softmax(torch.sigmoid(logits), dim=1)
        return sum(w[:, :, i:i + 1] * y for i, y in enumerate(ys))


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "mfe_block", "build", _texts("mfe_block"),
        reference=BLOCKS["mfe"].cls, kwargs={"in_channels": 4, "atrous_rates": (2, 4, 8)},
        input_shapes=[(2, 4, 9, 9)], solution_cls=MyMFEblock, helpers=(SqueezeConv, conv_bn_relu),
        mistakes={"no_residual": _NoResidual, "parallel": _Parallel, "no_skip": _NoSkip,
                  "softmax_channels": _SoftmaxChannels},
    ),
    ConceptExercise(CHAPTER, "receptive_field", "concept", _texts("receptive_field"), correct=2),
    ConceptExercise(CHAPTER, "padding", "concept", _texts("padding"), correct=1),
]
