"""Multi-scale feature extraction (MFE) with a chain of dilated convolutions (SHISRCNet).

"SHISRCNet: Super-resolution And Classification Network For Low-resolution Breast Cancer
Histopathology Image", MICCAI 2023, arXiv 2306.14119. For x of shape (B, C, H, W)::

    y_0 = L_1(x)                  3×3 conv → BN → ReLU
    y_1 = L_2(y_0 + x)            dilated 3×3 conv (rate r_1) → BN → ReLU, likewise L_3, L_4
    y_2 = L_3(y_1 + x)
    y_3 = L_4(y_2 + x)            every y_i is (B, C, H, W); the receptive field grows along the chain
    w   = softmax_i(σ(SE_i(GAP(y_i))))                  (B, 4, C), as in MSF
    out = project(Σ_i w_i ⊙ y_i + x)                    (B, C, H, W)

``variant="paper"``: the SE layers are 1×1 conv (with bias) → BatchNorm → ReLU, as the official
code runs (its second ``oneConv`` definition wins); see :mod:`fusionlab.blocks.msf`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .._checks import batchnorm_batch, image_tensor, is_int, one_of, positive_int, weights_dtype
from .msf import VARIANTS, add_fusion_layers, scale_weights, select_scales

__all__ = ["MFEBlock"]


def _conv_bn_relu(channels: int, dilation: int) -> nn.Sequential:
    # padding = dilation keeps H×W for a 3×3 kernel at any rate; no conv bias before BatchNorm
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
    )


class MFEBlock(nn.Module):
    """Extract four scales with chained dilated convolutions, then fuse them with MSF's weights.

    Args:
        in_channels: channel count C of the input (and of the output).
        atrous_rates: dilation rates of layers 2–4, three positive ints (the post passes ``[2, 4, 8]``).
        variant: ``"blog"`` (the post's ``MFEblock``) or ``"paper"`` (SE layers 1×1 conv with bias
            → BatchNorm → ReLU, keys ``SE{i}.conv.0.*``, ``SE{i}.conv.1.*``).

    Shapes:
        x: ``(B, C, H, W)``, any H, W ≥ 1. Output: ``(B, C, H, W)``.

    In training mode BatchNorm needs more than one value per channel: B·H·W ≥ 2, and B ≥ 2 for
    the paper variant's SE layers; otherwise ``forward`` raises a ValueError.

    state_dict keys equal the post's: ``layer1``–``layer4`` (``.0`` conv, ``.1`` BN),
    ``project.0``, ``project.1``, ``SE1``–``SE4``.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, in_channels: int, atrous_rates: Sequence[int] = (2, 4, 8), *, variant: str = "blog") -> None:
        super().__init__()
        self.in_channels = positive_int("MFEBlock", "in_channels", in_channels)
        rates = tuple(atrous_rates) if isinstance(atrous_rates, (list, tuple)) else None
        if rates is None or len(rates) != 3 or any(not is_int(r) or r < 1 for r in rates):
            raise ValueError(
                f"MFEBlock: atrous_rates must be three positive ints (the dilation of layers 2–4), "
                f"got {atrous_rates!r}; for example (2, 4, 8)."
            )
        one_of("MFEBlock", "variant", variant, VARIANTS)
        self.atrous_rates = rates = tuple(int(r) for r in rates)
        self.variant = variant
        c = self.in_channels
        self.layer1 = _conv_bn_relu(c, 1)
        self.layer2 = _conv_bn_relu(c, rates[0])
        self.layer3 = _conv_bn_relu(c, rates[1])
        self.layer4 = _conv_bn_relu(c, rates[2])
        add_fusion_layers(self, c, variant)  # project, SE1–SE4: MSF's fusion

    def _check(self, x: torch.Tensor) -> None:
        image_tensor("MFEBlock", "x", x, self.in_channels)
        weights_dtype("MFEBlock", "x", x, self.layer1[0].weight)
        b, _, h, w = x.shape
        batchnorm_batch("MFEBlock", "layer1–layer4 and project", b * h * w, x.shape, self.training)
        if self.variant == "paper":
            batchnorm_batch("MFEBlock(variant='paper')", "the SE layers (pooled 1×1 maps)", b, x.shape, self.training,
                            map_helps=False)

    def scales(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The four extracted scales y_0..y_3, each (B, C, H, W)."""
        self._check(x)
        y0 = self.layer1(x)
        y1 = self.layer2(y0 + x)
        y2 = self.layer3(y1 + x)
        y3 = self.layer4(y2 + x)
        return y0, y1, y2, y3

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The fusion weights, shape (B, 4, C)."""
        return scale_weights(self.scales(x), (self.SE1, self.SE2, self.SE3, self.SE4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = self.scales(x)
        w = scale_weights(ys, (self.SE1, self.SE2, self.SE3, self.SE4))  # (B, 4, C)
        # residual: the fused scales are added to the input before the projection
        return self.project(select_scales(ys, w).add_(x))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, atrous_rates={self.atrous_rates}, variant={self.variant!r}"
