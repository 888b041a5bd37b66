"""Gated fusion of two feature maps (GMAN).

Zheng et al., "GMAN: A Graph Multi-Attention Network for Traffic Prediction", AAAI 2020,
arXiv 1911.08415, equations (9)–(10)::

    z = σ(H_S W_1 + H_T W_2 + b)
    H = z ⊙ H_S + (1 − z) ⊙ H_T

The post's ``gatedFusion`` keeps a bias on both projections (``variant="blog"``, the default);
GMAN's official code has a bias on the second projection only and follows the gate with a
two-layer projection (``variant="paper"``); GMAN trains it with a batch norm inside that
projection (``batch_norm=True``).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import batchnorm_batch, floating_tensor, fmt_shape, one_of, positive_int, same_shape, weights_dtype

__all__ = ["GatedFusion"]


class GatedFusion(nn.Module):
    """Fuse two channels-last tensors with a learned, element-wise gate.

    Args:
        dim: channel count C, the last dimension of both inputs.
        variant: ``"blog"`` (the post's ``gatedFusion``, state_dict keys ``fc1.*``, ``fc2.*``)
            or ``"paper"`` (GMAN: no bias on ``fc1``, then ``proj`` = Linear → ReLU → Linear,
            Xavier-uniform weights and zero biases).
        batch_norm: only with ``variant="paper"``: GMAN as trained, a BatchNorm (eps 1e-3, over
            every position, per channel) between ``proj``'s first Linear and its ReLU (GMAN's
            ``FC`` normalises only layers with an activation). Keys ``proj.0``, ``proj.1`` (BN),
            ``proj.3``; without it ``proj.0``, ``proj.2``. In training mode it needs more than one
            position per channel.

    Shapes:
        x1, x2: ``(..., C)``, equal shapes, e.g. ``(B, T, N, C)`` for N sensors over T steps or
        ``(B, H, W, C)`` for an image. Output: the same shape.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(self, dim: int, *, variant: str = "blog", batch_norm: bool = False) -> None:
        super().__init__()
        dim = self.dim = positive_int("GatedFusion", "dim", dim)
        one_of("GatedFusion", "variant", variant, ("blog", "paper"))
        one_of("GatedFusion", "batch_norm", batch_norm, (False, True))
        if batch_norm and variant != "paper":
            raise ValueError(
                f"GatedFusion: batch_norm=True needs variant='paper' (the BatchNorm sits inside GMAN's output "
                f"projection, which variant={variant!r} does not have)."
            )
        self.variant = variant
        self.batch_norm = bool(batch_norm)
        paper = variant == "paper"
        self.fc1 = nn.Linear(dim, dim, bias=not paper)
        self.fc2 = nn.Linear(dim, dim, bias=True)
        if paper:
            norm = [_ChannelsLastBatchNorm(dim, eps=1e-3)] if batch_norm else []
            self.proj = nn.Sequential(nn.Linear(dim, dim), *norm, nn.ReLU(), nn.Linear(dim, dim))
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def _check(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        floating_tensor("GatedFusion", "x1", x1)
        floating_tensor("GatedFusion", "x2", x2)
        same_shape("GatedFusion", {"x1": x1, "x2": x2})
        if x1.dtype != x2.dtype:
            raise TypeError(
                f"GatedFusion: x1 and x2 must have the same dtype, got {x1.dtype} and {x2.dtype}; convert one "
                f"with x2.to(x1.dtype)."
            )
        weights_dtype("GatedFusion", "x1", x1, self.fc2.weight)
        if x1.dim() == 0 or x1.shape[-1] != self.dim:
            last = x1.shape[-1] if x1.dim() else "none"
            hint = " For an NCHW tensor pass x.permute(0, 2, 3, 1)." if x1.dim() == 4 else ""
            raise ValueError(
                f"GatedFusion expects channels-last inputs (..., C) with C = dim = {self.dim}, but x1 has "
                f"shape {fmt_shape(x1.shape)} whose last dimension is {last}.{hint}"
            )
        if self.batch_norm:
            batchnorm_batch("GatedFusion", "proj", x1.numel() // self.dim, x1.shape, self.training)

    def gate(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """The gate z = σ(fc1(x1) + fc2(x2)), same shape as the inputs, values in (0, 1)."""
        self._check(x1, x2)
        return torch.sigmoid(self.fc1(x1) + self.fc2(x2))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.gate(x1, x2)
        # z·x1 + (1 − z)·x2 = x2 + z·(x1 − x2): one fused kernel instead of four passes
        # under autocast z comes out of the Linears in the low precision; lerp needs one dtype
        out = torch.lerp(x2, x1, z.to(x1.dtype))
        if self.variant == "paper":
            out = self.proj(out)
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, variant={self.variant!r}" + (", batch_norm=True" if self.batch_norm else "")


class _ChannelsLastBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last dimension of a (..., C) tensor: statistics over every other position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)
