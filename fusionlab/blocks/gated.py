"""Gated fusion of two feature maps (GMAN).

Zheng et al., "GMAN: A Graph Multi-Attention Network for Traffic Prediction", AAAI 2020,
arXiv 1911.08415, equations (9)–(10)::

    z = σ(H_S W_1 + H_T W_2 + b)
    H = z ⊙ H_S + (1 − z) ⊙ H_T

The post's ``gatedFusion`` keeps a bias on both projections (``variant="blog"``, the default);
GMAN's official code has a bias on the second projection only and follows the gate with a
two-layer projection (``variant="paper"``).
"""
from __future__ import annotations

import torch
from torch import nn

from .._checks import floating_tensor, fmt_shape, one_of, positive_int, same_shape

__all__ = ["GatedFusion"]


class GatedFusion(nn.Module):
    """Fuse two channels-last tensors with a learned, element-wise gate.

    Args:
        dim: channel count C, the last dimension of both inputs.
        variant: ``"blog"`` (the post's ``gatedFusion``, state_dict keys ``fc1.*``, ``fc2.*``)
            or ``"paper"`` (GMAN: no bias on ``fc1``, then ``proj`` = Linear → ReLU → Linear,
            Xavier-uniform weights and zero biases).

    Shapes:
        x1, x2: ``(..., C)``, equal shapes, e.g. ``(B, N, T, C)`` for N sensors over T steps or
        ``(B, H, W, C)`` for an image. Output: the same shape.
    """

    def __init__(self, dim: int, *, variant: str = "blog") -> None:
        super().__init__()
        self.dim = positive_int("GatedFusion", "dim", dim)
        one_of("GatedFusion", "variant", variant, ("blog", "paper"))
        self.variant = variant
        paper = variant == "paper"
        self.fc1 = nn.Linear(dim, dim, bias=not paper)
        self.fc2 = nn.Linear(dim, dim, bias=True)
        if paper:
            self.proj = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    def _check(self, x1: torch.Tensor, x2: torch.Tensor) -> None:
        floating_tensor("GatedFusion", "x1", x1)
        floating_tensor("GatedFusion", "x2", x2)
        same_shape("GatedFusion", {"x1": x1, "x2": x2})
        if x1.dim() == 0 or x1.shape[-1] != self.dim:
            last = x1.shape[-1] if x1.dim() else "none"
            hint = " For an NCHW tensor pass x.permute(0, 2, 3, 1)." if x1.dim() == 4 else ""
            raise ValueError(
                f"GatedFusion expects channels-last inputs (..., C) with C = dim = {self.dim}, but x1 has "
                f"shape {fmt_shape(x1.shape)} whose last dimension is {last}.{hint}"
            )

    def gate(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """The gate z = σ(fc1(x1) + fc2(x2)), same shape as the inputs, values in (0, 1)."""
        self._check(x1, x2)
        return torch.sigmoid(self.fc1(x1) + self.fc2(x2))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.gate(x1, x2)
        # z·x1 + (1 − z)·x2 = x2 + z·(x1 − x2): one fused kernel instead of four passes
        out = torch.lerp(x2, x1, z)
        if self.variant == "paper":
            out = self.proj(out)
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, variant={self.variant!r}"
