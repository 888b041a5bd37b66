"""Chapter 02, multi-scale selective fusion (SHISRCNet): write ``MSFblock``.

w = softmax over the 4 scales of σ(SE_i(GAP(x_i))), out = project(Σ_i w_i ⊙ x_i).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS
from ._core import ConceptExercise, ModuleExercise

CHAPTER = "02"

TEXT = {
    "en": {
        "msf_block": {
            "ref": "the post's",
            "title": "Build MSFblock",
            "prompt": "Write the post's MSFblock(in_channels): for each input x_i (B, C, H, W) pool to (B, C, 1, 1), "
                      "apply SE_i (like the post's oneConv: a module whose .conv is a Sequential holding one bias-free 1×1 conv), stack the "
                      "four to (B, C, 4, 1), take softmax over the scales of their sigmoid, weight and sum the "
                      "inputs, then project = Sequential(1×1 conv without bias, BatchNorm2d, ReLU). "
                      "Name your class MyMSFblock (the post's MSFblock stays as it is) and check it with check(MyMSFblock).",
            "what": "version of MSFblock", "post_class": "MSFblock", "signature": "MSFblock(in_channels)",
            "mistakes": {
                "softmax_channels": "the softmax runs over the channels instead of over the 4 scales "
                                    "(dim=1 instead of dim=2 of the (B, C, 4, 1) stack)",
                "no_sigmoid": "the sigmoid is missing: the post takes softmax(σ(logits)), not softmax(logits)",
                "no_softmax": "the softmax is missing: σ(logits) alone does not make the 4 weights of a channel sum to 1",
                "max_pool": "max pooling instead of global average pooling (GAP) before SE_i",
                "shared_se": "every scale goes through SE1: each scale x_i has its own SE_{i+1}",
            },
        },
        "weight_range": {
            "title": "How selective is the softmax?",
            "question": "MSF takes softmax over the 4 scales of σ(l_i). Whatever the logits l_i, each weight lies in:",
            "options": ["(0, 1): any value, a scale can win outright",
                        "about (0.109, 0.475): between 1/(1 + 3e) and e/(e + 3), never reaching either",
                        "exactly 0.25",
                        "[0, 0.5]"],
            "why": [
                "σ(l) lies in (0, 1), so the softmax inputs differ by less than 1 and no weight can approach 0 or 1.",
                "With σ ∈ (0, 1) the extremes are one input at 0 and three at 1 (1/(1 + 3e) ≈ 0.109) or one at 1 and "
                "three at 0 (e/(e + 3) ≈ 0.475): the weights never stray far from 1/4.",
                "Only when the four logits are equal; different logits give different weights.",
                "The weights never reach 0 (each is > 1/(1 + 3e) ≈ 0.109) nor 0.5.",
            ],
        },
        "weight_shape": {
            "title": "How many weights?",
            "question": "For inputs of shape (B, C, H, W), what shape do the fusion weights have (after softmax)?",
            "options": ["(B, 4): one weight per scale", "(B, C, 4, 1): one weight per channel and scale",
                        "(B, 4, H, W): one weight per pixel and scale", "(B, C, H, W)"],
            "why": [
                "Each SE_i keeps all C channels: a scale gets a different weight in every channel.",
                "GAP keeps C values per scale, SE_i maps C → C, the 4 are stacked on dim 2: (B, C, 4, 1); the softmax "
                "over dim 2 makes each channel's 4 weights sum to 1.",
                "GAP removes H and W before the weights are computed: the weights are the same at every pixel.",
                "That is the shape of the output, not of the weights.",
            ],
        },
    },
    "zh": {
        "msf_block": {
            "ref": "原文",
            "title": "实现 MSFblock",
            "prompt": "写出原文的 MSFblock(in_channels)：把每个输入 x_i (B, C, H, W) 池化为 (B, C, 1, 1)，"
                      "经过 SE_i（与原文的 oneConv 一样：一个模块，其 .conv 是只含一个无偏置 1×1 卷积的 Sequential），"
                      "把四个结果堆叠成 (B, C, 4, 1)，先取 sigmoid，再在尺度上做 softmax，用得到的权重对输入加权求和，"
                      "最后经过 project = Sequential(无偏置的 1×1 卷积, BatchNorm2d, ReLU)。"
                      "把你的类命名为 MyMSFblock（原文的 MSFblock 保持原样），并用 check(MyMSFblock) 检查。",
            "what": "多尺度选择性融合模块", "post_class": "MSFblock", "signature": "MSFblock(in_channels)",
            "mistakes": {
                "softmax_channels": "softmax 是在通道上而不是在 4 个尺度上做的"
                                    "（对 (B, C, 4, 1) 的堆叠结果用了 dim=1，而不是 dim=2）",
                "no_sigmoid": "缺少 sigmoid，原文计算的是 softmax(σ(logits))，而不是 softmax(logits)",
                "no_softmax": "缺少 softmax，只有 σ(logits) 不能让一个通道的 4 个权重之和为 1",
                "max_pool": "在 SE_i 之前用了最大池化，而不是全局平均池化（GAP）",
                "shared_se": "每个尺度都经过了 SE1，而每个尺度 x_i 都有自己的 SE_{i+1}",
            },
        },
        "weight_range": {
            "title": "softmax 的选择性有多强？",
            "question": "MSF 在 4 个尺度上对 σ(l_i) 做 softmax。无论 logits l_i 取什么值，每个权重都落在：",
            "options": ["(0, 1)：可取任意值，某个尺度可以完全胜出",
                        "约 (0.109, 0.475)：介于 1/(1 + 3e) 与 e/(e + 3) 之间，两端都取不到",
                        "恰好为 0.25",
                        "[0, 0.5]"],
            "why": [
                "σ(l) 落在 (0, 1) 内，所以 softmax 的各输入之差小于 1，任何权重都无法接近 0 或 1。",
                "σ ∈ (0, 1) 时，极端情况是一个输入为 0、三个为 1（1/(1 + 3e) ≈ 0.109），或者一个为 1、"
                "三个为 0（e/(e + 3) ≈ 0.475）：权重始终离 1/4 不远。",
                "只有四个 logits 相等时才是这样；logits 不同，权重也不同。",
                "权重既到不了 0（每个都 > 1/(1 + 3e) ≈ 0.109），也到不了 0.5。",
            ],
        },
        "weight_shape": {
            "title": "有多少个权重？",
            "question": "输入形状为 (B, C, H, W) 时，融合权重（softmax 之后）的形状是什么？",
            "options": ["(B, 4)：每个尺度一个权重", "(B, C, 4, 1)：每个通道、每个尺度一个权重",
                        "(B, 4, H, W)：每个像素、每个尺度一个权重", "(B, C, H, W)"],
            "why": [
                "每个 SE_i 都保留全部 C 个通道：同一个尺度在每个通道中得到的权重各不相同。",
                "GAP 为每个尺度保留 C 个值，SE_i 把 C 映射到 C，4 个结果在第 2 维上堆叠：(B, C, 4, 1)；"
                "在第 2 维上做 softmax，使每个通道的 4 个权重之和为 1。",
                "GAP 在计算权重之前就去掉了 H 和 W：每个像素处的权重都相同。",
                "这是输出的形状，不是权重的形状。",
            ],
        },
    },
}


class SqueezeConv(nn.Module):
    """The post's SE layer: a bias-free 1×1 conv inside a Sequential (state_dict key conv.0.weight)."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False))

    def forward(self, x):  # (B, C, 1, 1) -> (B, C, 1, 1)
        return self.conv(x)


class MyMSFblock(nn.Module):
    """softmax over scales of σ(SE_i(GAP(x_i))) weights the four inputs; project mixes the sum."""

    def __init__(self, in_channels):
        super().__init__()
        c = in_channels
        self.project = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.SE1 = SqueezeConv(c)
        self.SE2 = SqueezeConv(c)
        self.SE3 = SqueezeConv(c)
        self.SE4 = SqueezeConv(c)

    def weights(self, xs):  # four (B, C, H, W) -> (B, C, 4, 1)
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        logits = torch.cat([se(x.mean(dim=(2, 3), keepdim=True)) for se, x in zip(ses, xs)], dim=2)  # (B, C, 4, 1)
        return torch.softmax(torch.sigmoid(logits), dim=2)  # over the 4 scales, per channel

    def forward(self, x0, x1, x2, x3):  # each (B, C, H, W)
        xs = (x0, x1, x2, x3)
        w = self.weights(xs)  # (B, C, 4, 1)
        fused = sum(w[:, :, i:i + 1] * x for i, x in enumerate(xs))  # (B, C, 1, 1) ⊙ (B, C, H, W), summed
        return self.project(fused)  # (B, C, H, W)


class _SoftmaxChannels(MyMSFblock):
    def weights(self, xs):
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        logits = torch.cat([se(x.mean(dim=(2, 3), keepdim=True)) for se, x in zip(ses, xs)], dim=2)
        return torch.softmax(torch.sigmoid(logits), dim=1)


class _NoSigmoid(MyMSFblock):
    def weights(self, xs):
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        return torch.softmax(torch.cat([se(x.mean(dim=(2, 3), keepdim=True)) for se, x in zip(ses, xs)], dim=2), dim=2)


class _NoSoftmax(MyMSFblock):
    def weights(self, xs):
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        return torch.sigmoid(torch.cat([se(x.mean(dim=(2, 3), keepdim=True)) for se, x in zip(ses, xs)], dim=2))


class _MaxPool(MyMSFblock):
    def weights(self, xs):
        ses = (self.SE1, self.SE2, self.SE3, self.SE4)
        logits = torch.cat([se(x.amax(dim=(2, 3), keepdim=True)) for se, x in zip(ses, xs)], dim=2)
        return torch.softmax(torch.sigmoid(logits), dim=2)


class _SharedSE(MyMSFblock):
    def weights(self, xs):
        logits = torch.cat([self.SE1(x.mean(dim=(2, 3), keepdim=True)) for x in xs], dim=2)
        return torch.softmax(torch.sigmoid(logits), dim=2)


def _texts(name):
    return {lang: table[name] for lang, table in TEXT.items()}


EXERCISES = [
    ModuleExercise(
        CHAPTER, "msf_block", "build", _texts("msf_block"),
        reference=BLOCKS["msf"].cls, kwargs={"in_channels": 4}, input_shapes=[(2, 4, 3, 3)] * 4,
        solution_cls=MyMSFblock, helpers=(SqueezeConv,),
        mistakes={"softmax_channels": _SoftmaxChannels, "no_sigmoid": _NoSigmoid, "no_softmax": _NoSoftmax,
                  "max_pool": _MaxPool, "shared_se": _SharedSE},
    ),
    ConceptExercise(CHAPTER, "weight_range", "concept", _texts("weight_range"), correct=1),
    ConceptExercise(CHAPTER, "weight_shape", "concept", _texts("weight_shape"), correct=1),
]
