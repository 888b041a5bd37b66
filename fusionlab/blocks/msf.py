"""Multi-scale selective fusion (MSF) of four feature maps (SHISRCNet).

"SHISRCNet: Super-resolution And Classification Network For Low-resolution Breast Cancer
Histopathology Image", MICCAI 2023, arXiv 2306.14119. The paper's MFE block ends in this
fusion; the post cut it out and gave it four inputs. For inputs y_0..y_3 of shape (B, C, H, W)::

    g_i = GAP(y_i)                      (B, C)     one average per channel
    l_i = SE_i(g_i)                     (B, C)     1×1 conv: channel correlations, per scale
    w   = softmax_i(σ(l_0, …, l_3))     (B, 4, C)  one weight per scale and channel
    out = project(Σ_i w_i ⊙ y_i)        (B, C, H, W), project = 1×1 conv → BN → ReLU

Because every σ(l_i) lies in (0, 1), the softmax can never pick one scale: each weight stays
within about [0.11, 0.47].

``variant="paper"``: the official repository defines ``oneConv`` twice and Python keeps the
second one, so its SE layers are 1×1 conv (with bias) → BatchNorm → ReLU.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import batchnorm_batch, image_tensor, one_of, positive_int, same_shape, weights_dtype

__all__ = ["MSFBlock", "SqueezeConv", "add_fusion_layers", "scale_logits", "squash_logits", "scale_weights",
           "select_scales"]

VARIANTS = ("blog", "paper")


class SqueezeConv(nn.Module):
    """The post's ``oneConv`` as used for ``SE1``–``SE4``: a 1×1 conv on a pooled (B, C, 1, 1) map.

    ``variant="blog"``: ``conv`` = [Conv2d(C, C, 1, bias=False)] (key ``conv.0.weight``).
    ``variant="paper"``: ``conv`` = [Conv2d(C, C, 1), BatchNorm2d(C), ReLU] (keys ``conv.0.*``, ``conv.1.*``).
    """

    def __init__(self, channels: int, *, variant: str = "blog") -> None:
        super().__init__()
        if variant == "paper":
            self.conv = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU())
        else:
            self.conv = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False))
        self.variant = variant

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, C) pooled vector → (B, C) logits for this scale."""
        if self.variant == "blog":
            # a 1×1 conv on a 1×1 map is a matrix product; linear skips conv's set-up cost
            weight = self.conv[0].weight
            return F.linear(pooled, weight.view(weight.shape[0], weight.shape[1]))
        return self.conv(pooled[:, :, None, None]).flatten(1)


def add_fusion_layers(module: nn.Module, channels: int, variant: str) -> tuple[nn.Module, ...]:
    """Give ``module`` MSF's layers under the post's names, in its order: ``project`` (1×1 conv → BN →
    ReLU) and the squeezes ``SE1``–``SE4``; returns the squeezes. MSF and MFE both build with this."""
    c = channels
    module.project = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
    module.SE1 = SqueezeConv(c, variant=variant)
    module.SE2 = SqueezeConv(c, variant=variant)
    module.SE3 = SqueezeConv(c, variant=variant)
    module.SE4 = SqueezeConv(c, variant=variant)
    return module.SE1, module.SE2, module.SE3, module.SE4


def scale_logits(features: Sequence[torch.Tensor], squeezes: Sequence[nn.Module]) -> torch.Tensor:
    """l_i = SE_i(GAP(y_i)), stacked: shape (B, n_scales, C)."""
    # (B, C) per scale -> (B, S, C)
    return torch.stack([se(y.mean(dim=(2, 3))) for se, y in zip(squeezes, features)], dim=1)


def squash_logits(logits: torch.Tensor) -> torch.Tensor:
    """w = softmax over scales of σ(l): (B, n_scales, C) → (B, n_scales, C)."""
    # softmax over the scale axis, as the post's dim=2 of (B, C, S, 1)
    return torch.softmax(torch.sigmoid(logits), dim=1)


def scale_weights(features: Sequence[torch.Tensor], squeezes: Sequence[nn.Module]) -> torch.Tensor:
    """w = softmax over scales of σ(SE_i(GAP(y_i))): shape (B, n_scales, C)."""
    return squash_logits(scale_logits(features, squeezes))


def select_scales(features: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Σ_i w_i ⊙ y_i with w (B, S, C) broadcast over H×W: (B, C, H, W)."""
    w = weights[:, :, :, None, None]  # (B, S, C, 1, 1)
    # one output buffer, accumulated in place: S passes over memory instead of 2S − 1 temporaries
    out = features[0] * w[:, 0]
    for i in range(1, len(features)):
        out = out.addcmul_(features[i], w[:, i])
    return out


class MSFBlock(nn.Module):
    """Fuse four same-shaped feature maps with per-channel, per-scale softmax weights.

    Args:
        in_channels: channel count C of every input (and of the output).
        variant: ``"blog"`` (the post's ``MSFblock``; SE layers are bare 1×1 convs, keys
            ``SE{i}.conv.0.weight``) or ``"paper"`` (SHISRCNet's code as run: SE layers are
            1×1 conv with bias → BatchNorm → ReLU, keys ``SE{i}.conv.0.*``, ``SE{i}.conv.1.*``).

    Shapes:
        x0, x1, x2, x3: ``(B, C, H, W)``, all equal. Output: ``(B, C, H, W)``.

    In training mode BatchNorm needs more than one value per channel: ``project`` needs
    B·H·W ≥ 2 and the paper variant's SE layers (on pooled 1×1 maps) need B ≥ 2; otherwise
    ``forward`` raises a ValueError (call ``.eval()`` for single images).

    state_dict keys equal the post's: ``project.0.weight``, ``project.1.*``, ``SE1``–``SE4``.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, in_channels: int, *, variant: str = "blog") -> None:
        super().__init__()
        self.in_channels = positive_int("MSFBlock", "in_channels", in_channels)
        one_of("MSFBlock", "variant", variant, VARIANTS)
        self.variant = variant
        add_fusion_layers(self, self.in_channels, variant)

    def _check(self, xs: Sequence[torch.Tensor]) -> None:
        names = ("x0", "x1", "x2", "x3")
        for name, x in zip(names, xs):
            image_tensor("MSFBlock", name, x, self.in_channels)
            weights_dtype("MSFBlock", name, x, self.project[0].weight)
        same_shape("MSFBlock", dict(zip(names, xs)))
        b, _, h, w = xs[0].shape
        batchnorm_batch("MSFBlock", "project", b * h * w, xs[0].shape, self.training)
        if self.variant == "paper":
            batchnorm_batch("MSFBlock(variant='paper')", "the SE layers (pooled 1×1 maps)", b, xs[0].shape,
                            self.training, map_helps=False)

    def weights(self, x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """The fusion weights, shape (B, 4, C): for each channel, how much each input contributes."""
        return squash_logits(self.logits(x0, x1, x2, x3))

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        xs = (x0, x1, x2, x3)
        w = self.weights(*xs)  # (B, 4, C)
        return self.project(select_scales(xs, w))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, variant={self.variant!r}"

    def logits(self, x0: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        """The scores before the squeeze, l_i = SE_i(GAP(x_i)), shape (B, 4, C).

        ``weights(...)`` is ``softmax(sigmoid(logits(...)), dim=1)``; chapter 02 swaps the squeeze.
        """
        xs = (x0, x1, x2, x3)
        self._check(xs)
        return scale_logits(xs, (self.SE1, self.SE2, self.SE3, self.SE4))
