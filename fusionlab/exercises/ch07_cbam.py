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
