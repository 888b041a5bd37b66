"""Channel and spatial attention: the post's joint variant (``CBAMBlock``) and the original CBAM.

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018, arXiv 1807.06521::

    M_c(x) = σ(MLP(AvgPool(x)) + MLP(MaxPool(x)))       (B, C, 1, 1), one shared MLP
    x'     = M_c(x) ⊙ x
    M_s(x') = σ(BN(conv_k×k([max_c x', mean_c x'])))    (B, 1, H, W)
    out    = M_s(x') ⊙ x'                               sequential: channel gate, then spatial gate

:class:`CBAM` is that block, as in the official code (``Linear`` layers with bias, [max, mean]
order, BatchNorm after the spatial conv).

The post's ``CBAMBlock`` (no paper; it descends from External-Attention-pytorch) computes the
channel logits (B, C) and the spatial logits (B, H·W) *without* sigmoid, concatenates them to
(B, C + H·W), passes them through one joint MLP (C + H·W → C // r → C + H·W), splits, applies σ
and returns both products ``(x · M_c, x · M_s)`` without combining them. Its MLP is sized for one
H×W, so the block only accepts the H×W it was built for. :class:`ChannelAttention` and
:class:`SpatialAttention` are its two halves; they return logits (no sigmoid), as in the post.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import batchnorm_batch, fmt_shape, image_tensor, odd_int, positive_int, weights_dtype

__all__ = ["ChannelAttention", "SpatialAttention", "CBAMBlock", "CBAM", "channel_logits"]

# the official CBAM's BatchNorm (its BasicConv) keeps running statistics with momentum 0.01
CBAM_BN_MOMENTUM = 0.01


def _reduced_width(owner: str, channels: int, reduction: int, channels_name: str) -> int:
    reduction = positive_int(owner, "reduction", reduction)
    if channels // reduction < 1:
        raise ValueError(
            f"{owner}: {channels_name} // reduction = {channels} // {reduction} = 0 would give the MLP a hidden "
            f"layer of width 0; use reduction ≤ {channels}."
        )
    return channels // reduction


def _mlp(pooled: torch.Tensor, first: nn.Module, second: nn.Module) -> torch.Tensor:
    """Linear → ReLU → linear on vectors (..., C) with the weights (and biases, if any) of two 1×1 convs
    or Linears: a 1×1 conv on a pooled map is a matrix product, without conv's set-up cost."""
    hidden = F.relu(F.linear(pooled, first.weight.flatten(1), first.bias))
    return F.linear(hidden, second.weight.flatten(1), second.bias)


def channel_logits(x: torch.Tensor, mlp: nn.Sequential) -> torch.Tensor:
    """CBAM's channel-gate core, MLP(AvgPool x) + MLP(MaxPool x) with one shared MLP
    ``mlp`` = [C → C/r, ReLU, C/r → C] (1×1 convs or Linears): (B, C, H, W) → logits (B, C).

    :class:`ChannelAttention`, :class:`CBAM` and MSAA's channel gate all run this."""
    pooled = torch.stack([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))])  # (2, B, C): both through one MLP call
    out = _mlp(pooled, mlp[0], mlp[2])
    return out[0] + out[1]


class ChannelAttention(nn.Module):
    """Channel logits: one shared MLP over the max- and average-pooled vectors, summed (no sigmoid).

    Args:
        channel: channel count C.
        reduction: hidden width C // reduction (must be ≥ 1).

    Shapes:
        x: ``(B, C, H, W)``. Output: logits ``(B, C, 1, 1)``. state_dict: ``se.0.weight``, ``se.2.weight``.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        channel = self.channel = positive_int("ChannelAttention", "channel", channel)
        hidden = _reduced_width("ChannelAttention", channel, reduction, "channel")
        self.reduction = int(reduction)
        self.se = nn.Sequential(
            nn.Conv2d(channel, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channel, 1, bias=False),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C), without the input check."""
        return channel_logits(x, self.se)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image_tensor("ChannelAttention", "x", x, self.channel)
        weights_dtype("ChannelAttention", "x", x, self.se[0].weight)
        return self.logits(x)[:, :, None, None]

    def extra_repr(self) -> str:
        return f"channel={self.channel}, reduction={self.reduction}"


class SpatialAttention(nn.Module):
    """Spatial logits: a k×k conv over the channel-wise max and mean maps (no sigmoid).

    Args:
        kernel_size: odd k (padding k // 2 keeps H×W; an even k would give (H + 1)×(W + 1)).

    Shapes:
        x: ``(B, C, H, W)``. Output: logits ``(B, 1, H, W)``. state_dict: ``conv.weight``, ``conv.bias``.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.kernel_size = odd_int("SpatialAttention", "kernel_size", kernel_size)
        self.conv = nn.Conv2d(2, 1, kernel_size=kernel_size, padding=kernel_size // 2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return self.conv(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image_tensor("SpatialAttention", "x", x)
        weights_dtype("SpatialAttention", "x", x, self.conv.weight)
        return self.logits(x)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class CBAMBlock(nn.Module):
    """The post's joint channel-and-spatial attention: one MLP over channel and spatial logits.

    Args:
        channel: channel count C.
        reduction: the joint MLP's hidden width is C // reduction (must be ≥ 1).
        kernel_size: odd kernel of the spatial conv (49 by default, as the post; its demo uses 7).
        HW: H·W of the inputs the block is built for (required: the joint MLP has C + H·W inputs).

    Shapes:
        x: ``(B, C, H, W)`` with H·W = HW. Output: a pair ``(x · M_c, x · M_s)``, both ``(B, C, H, W)``,
        with M_c ``(B, C, 1, 1)`` and M_s ``(B, 1, H, W)`` (see :meth:`weights`).

    state_dict keys equal the post's: ``ChannelAttention.se.{0,2}.weight``,
    ``SpatialAttention.conv.*``, ``MLP.0.weight``, ``MLP.2.weight``. The post's unused
    ``init_weights``, ``residual`` and sigmoid sub-modules are left out (none has parameters).

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and
    ONNX are (dynamic batch; H×W is fixed by construction).
    """

    def __init__(self, channel: int = 512, reduction: int = 16, kernel_size: int = 49, HW: int | None = None) -> None:
        super().__init__()
        owner = "CBAMBlock"
        if HW is None:
            raise TypeError(
                f"{owner}: HW=None is not allowed; pass HW = H * W of the inputs (the joint MLP has "
                f"channel + H·W inputs), e.g. CBAMBlock(channel={channel}, HW=7 * 7)."
            )
        channel = self.channel = positive_int(owner, "channel", channel)
        HW = self.HW = positive_int(owner, "HW", HW)
        hidden = _reduced_width(owner, channel, reduction, "channel")
        kernel_size = odd_int(owner, "kernel_size", kernel_size)
        self.reduction, self.kernel_size = int(reduction), kernel_size
        self.ChannelAttention = ChannelAttention(channel=channel, reduction=reduction)
        self.SpatialAttention = SpatialAttention(kernel_size=kernel_size)
        self.joint_channel = channel + HW
        self.MLP = nn.Sequential(
            nn.Conv2d(self.joint_channel, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, self.joint_channel, 1, bias=False),
        )

    def _check(self, x: torch.Tensor) -> None:
        image_tensor("CBAMBlock", "x", x, self.channel)
        weights_dtype("CBAMBlock", "x", x, self.MLP[0].weight)
        h, w = x.shape[-2:]
        if h * w != self.HW:
            raise ValueError(
                f"CBAMBlock: x has H×W = {h}×{w} = {h * w} positions, but the block was built for HW={self.HW}; "
                f"build it with HW={h * w} or resize x (shape {fmt_shape(x.shape)})."
            )

    def weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M_c, M_s): channel weights (B, C, 1, 1) and spatial weights (B, 1, H, W), values in (0, 1)."""
        self._check(x)
        b, c, h, w = x.shape
        channel = self.ChannelAttention.logits(x)  # (B, C)
        spatial = self.SpatialAttention.logits(x).reshape(b, h * w)  # (B, HW)
        joint = _mlp(torch.cat([channel, spatial], dim=1), self.MLP[0], self.MLP[2])  # (B, C + HW)
        joint = torch.sigmoid(joint)
        return joint[:, :c].reshape(b, c, 1, 1), joint[:, c:].reshape(b, 1, h, w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        channel_weight, spatial_weight = self.weights(x)
        return x * channel_weight, x * spatial_weight

    def extra_repr(self) -> str:
        return f"channel={self.channel}, reduction={self.reduction}, kernel_size={self.kernel_size}, HW={self.HW}"


class CBAM(nn.Module):
    """CBAM (Woo et al., ECCV 2018): channel gate, then spatial gate on the channel-refined map.

    Args:
        channels: channel count C.
        reduction: the shared MLP's hidden width is C // reduction (must be ≥ 1).
        kernel_size: odd kernel of the spatial conv.

    Shapes:
        x: ``(B, C, H, W)``, any H, W ≥ 1. Output: ``(B, C, H, W)``.

    Parameters: ``channel_mlp`` (Linear C → C/r → C, with biases), ``spatial_conv`` (2 → 1, no bias),
    ``spatial_bn`` (BatchNorm2d(1), momentum 0.01 as the official code). The official ResNet set-up
    initialises ``spatial_bn.weight`` to 0 so that every gate starts at 0.5; this block keeps
    PyTorch's default (1). In training mode the spatial BatchNorm needs B·H·W ≥ 2 (``forward``
    raises a ValueError otherwise).

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        channels = self.channels = positive_int("CBAM", "channels", channels)
        hidden = _reduced_width("CBAM", channels, reduction, "channels")
        kernel_size = self.kernel_size = odd_int("CBAM", "kernel_size", kernel_size)
        self.reduction = int(reduction)
        self.channel_mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_bn = nn.BatchNorm2d(1, momentum=CBAM_BN_MOMENTUM)

    def _check(self, x: torch.Tensor) -> None:
        image_tensor("CBAM", "x", x, self.channels)
        weights_dtype("CBAM", "x", x, self.spatial_conv.weight)
        b, _, h, w = x.shape
        batchnorm_batch("CBAM", "the spatial gate", b * h * w, x.shape, self.training)

    def channel_weights(self, x: torch.Tensor) -> torch.Tensor:
        """M_c(x): (B, C, 1, 1), values in (0, 1)."""
        self._check(x)
        return torch.sigmoid(channel_logits(x, self.channel_mlp))[:, :, None, None]

    def spatial_weights(self, x: torch.Tensor) -> torch.Tensor:
        """M_s(x) for an (already channel-refined) x: (B, 1, H, W), values in (0, 1)."""
        self._check(x)
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return torch.sigmoid(self.spatial_bn(self.spatial_conv(pooled)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refined = x * self.channel_weights(x)
        return refined * self.spatial_weights(refined)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}, kernel_size={self.kernel_size}"
