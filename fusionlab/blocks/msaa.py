"""Multi-scale attention aggregation (MSAA, from CM-UNet).

The post's section 6 has only a heading and a figure; the module published under this name is
MSAA from "CM-UNet: Hybrid CNN-Mamba UNet for Remote Sensing Image Semantic Segmentation",
arXiv 2405.10530. It fuses three encoder scales that the caller has already brought to one H×W
(bilinear resizing and 1×1 convs outside the block). With d = ⌊out_channels / factor⌋::

    f   = down(cat(x1, x2, x4))                       1×1 conv → (B, d, H, W)
    c   = f ⊙ CA(f),  CA = σ(MLP(AvgPool f) + MLP(MaxPool f)),  MLP: d → d/4 → d, no biases
    s   = conv3×3(f) + conv5×5(f) + conv7×7(f)        three receptive fields, with biases
    s   = s ⊙ SA(s),  SA = σ(conv7×7([mean_c s, max_c s])), no bias
    out = up(s + c)                                   1×1 conv → (B, out_channels, H, W)
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import fmt_shape, image_tensor, positive_int, positive_number, weights_dtype
from .cbam import channel_logits

__all__ = ["MSAA"]

CHANNEL_REDUCTION = 4  # CA's hidden width is d // 4


class _ChannelGate(nn.Module):
    """CA(f) = σ(MLP(avg) + MLP(max)) with a bias-free 1×1-conv MLP d → d/4 → d: (B, d, 1, 1).

    The core is CBAM's (:func:`fusionlab.blocks.cbam.channel_logits`); only the layer names differ."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // CHANNEL_REDUCTION
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False)
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(channel_logits(f, self.fc))[:, :, None, None]


class _SpatialGate(nn.Module):
    """SA(s) = σ(conv7×7([mean_c s, max_c s])), no bias: (B, 1, H, W)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([s.mean(dim=1, keepdim=True), s.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return torch.sigmoid(self.conv1(pooled))


class FusionConv(nn.Module):
    """CM-UNet's ``FusionConv``: the whole computation of MSAA (see the module docstring).

    Sub-modules (their names are the state_dict interface, as upstream): ``down``, ``conv_3x3``,
    ``conv_5x5``, ``conv_7x7``, ``spatial_attention`` (``conv1``), ``channel_attention``
    (``fc.0``, ``fc.2``), ``up``. Upstream also builds a ``down_2`` conv that ``forward`` never
    uses (it breaks DDP without ``find_unused_parameters``); it is left out here.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: float = 4.0) -> None:
        super().__init__()
        d = int(out_channels // factor)
        self.down = nn.Conv2d(in_channels, d, kernel_size=1)
        self.conv_3x3 = nn.Conv2d(d, d, kernel_size=3, padding=1)
        self.conv_5x5 = nn.Conv2d(d, d, kernel_size=5, padding=2)
        self.conv_7x7 = nn.Conv2d(d, d, kernel_size=7, padding=3)
        self.spatial_attention = _SpatialGate()
        self.channel_attention = _ChannelGate(d)
        self.up = nn.Conv2d(d, out_channels, kernel_size=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        f = self.down(torch.cat([x1, x2, x4], dim=1))  # (B, d, H, W)
        c = f * self.channel_attention(f)  # channel-refined
        s = self.conv_3x3(f) + self.conv_5x5(f) + self.conv_7x7(f)  # multi-scale spatial context
        s = s * self.spatial_attention(s)
        return self.up(s + c)  # (B, out_channels, H, W)


class MSAA(nn.Module):
    """Aggregate three same-size scales with channel attention and multi-kernel spatial attention.

    Args:
        in_channels: channels of x1, x2 and x4 together (C1 + C2 + C4), as upstream.
        out_channels: output channels; the inner width is d = ⌊out_channels / factor⌋ and the
            channel attention's hidden width d // 4 must be ≥ 1 (out_channels ≥ 16 for factor 4).
        factor: channel reduction of the inner width d.

    Shapes:
        x1 ``(B, C1, H, W)``, x2 ``(B, C2, H, W)``, x4 ``(B, C4, H, W)``, equal B, H, W and
        C1 + C2 + C4 = in_channels. Output: ``(B, out_channels, H, W)``.

    state_dict keys: ``fusion_conv.*`` as CM-UNet's ``MSAA`` minus its unused ``fusion_conv.down_2``,
    so an upstream checkpoint loads with ``strict=False`` (only ``down_2`` unexpected). No
    BatchNorm: any batch size works in training mode.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, in_channels: int, out_channels: int, factor: float = 4.0) -> None:
        super().__init__()
        owner = "MSAA"
        in_channels = self.in_channels = positive_int(owner, "in_channels", in_channels)
        out_channels = self.out_channels = positive_int(owner, "out_channels", out_channels)
        self.factor = positive_number(owner, "factor", factor)
        d = int(out_channels // factor)
        if d // CHANNEL_REDUCTION < 1:
            need = math.ceil(CHANNEL_REDUCTION * factor)
            raise ValueError(
                f"{owner}: out_channels={out_channels} with factor={factor} gives inner width d = {d}, so the "
                f"channel attention's hidden width d // {CHANNEL_REDUCTION} would be 0; use out_channels ≥ {need} "
                f"(d ≥ {CHANNEL_REDUCTION})."
            )
        self.inner_channels = d
        self.fusion_conv = FusionConv(in_channels, out_channels, factor)

    def _check(self, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> None:
        named = {"x1": x1, "x2": x2, "x4": x4}
        for name, x in named.items():
            image_tensor("MSAA", name, x)
        b, _, h, w = x1.shape
        for name, x in named.items():
            if x.shape[0] != b or x.shape[-2:] != x1.shape[-2:]:
                raise ValueError(
                    f"MSAA: x1, x2 and x4 must share batch size and H×W (resize the coarser scales first), "
                    f"got x1 {fmt_shape(x1.shape)} and {name} {fmt_shape(x.shape)}."
                )
            weights_dtype("MSAA", name, x, self.fusion_conv.down.weight)
        total = x1.shape[1] + x2.shape[1] + x4.shape[1]
        if total != self.in_channels:
            raise ValueError(
                f"MSAA: x1, x2 and x4 have {x1.shape[1]} + {x2.shape[1]} + {x4.shape[1]} = {total} channels, but the "
                f"block was built with in_channels={self.in_channels} (their sum)."
            )

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        self._check(x1, x2, x4)
        return self.fusion_conv(x1, x2, x4)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, factor={self.factor}"
