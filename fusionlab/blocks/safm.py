"""Spatially-adaptive feature modulation (SAFM, from SAFMN).

Sun et al., "Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution",
ICCV 2023, arXiv 2302.13800. The channels are split into ``n_levels`` groups; group i is
max-pooled to (H // 2^i, W // 2^i), filtered by a 3×3 depthwise conv and brought back to
H×W by nearest upsampling; a 1×1 conv mixes the groups and its GELU modulates the input::

    x_0, …, x_{n−1} = split(x)                                  each (B, C/n, H, W)
    s_0 = DW_0(x_0)
    s_i = up_nearest(DW_i(maxpool_{H/2^i × W/2^i}(x_i)))          i ≥ 1
    out = GELU(conv1×1(cat(s_0, …, s_{n−1}))) ⊙ x                (B, C, H, W)

In SAFMN this sits inside ``x + SAFM(LayerNorm(x))`` followed by a conv feed-forward; neither
is part of the block (nor of the post's class).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import divisible, image_tensor, positive_int, weights_dtype

__all__ = ["SAFM"]


class SAFM(nn.Module):
    """Modulate a feature map by a multi-scale, spatially varying attention map.

    Args:
        dim: channel count C; must be divisible by ``n_levels``.
        n_levels: number of scales (groups of C / n_levels channels), any int ≥ 1. The post's
            class needs n_levels ≥ 4 (its debug prints index the fourth group); this one does not.

    Shapes:
        x: ``(B, C, H, W)`` with H, W ≥ 2^(n_levels − 1) (group i is pooled to H // 2^i, which must
        be ≥ 1: 8×8 for the default 4 levels). Output: ``(B, C, H, W)``.

    state_dict keys equal the post's: ``mfr.{i}.weight``, ``mfr.{i}.bias``, ``aggr.weight``, ``aggr.bias``.
    Deployment: ``jit.trace``, ``torch.export`` and ONNX (``dynamo=True`` and the legacy
    ``dynamo=False``) all take a dynamic batch. A dynamic H or W works only with ``jit.trace`` (its
    graph replays at any H×W ≥ 2^(n_levels − 1)); ``torch.export`` refuses it (the pooled sizes
    H // 2^i specialise: a constraint error), the dynamo ONNX program keeps the example's H×W, and
    the legacy exporter refuses it (``adaptive_max_pool2d``: input size not accessible). TorchScript
    scripting (torch.jit.script) is not supported.
    """

    def __init__(self, dim: int, n_levels: int = 4) -> None:
        super().__init__()
        dim = self.dim = positive_int("SAFM", "dim", dim)
        n_levels = self.n_levels = positive_int("SAFM", "n_levels", n_levels)
        divisible("SAFM", "dim", dim, "n_levels", n_levels)
        chunk_dim = dim // n_levels
        self.mfr = nn.ModuleList(
            [nn.Conv2d(chunk_dim, chunk_dim, 3, 1, 1, groups=chunk_dim) for _ in range(n_levels)]
        )
        self.aggr = nn.Conv2d(dim, dim, 1, 1, 0)
        self.act = nn.GELU()

    def _check(self, x: torch.Tensor) -> None:
        image_tensor("SAFM", "x", x, self.dim, min_size=2 ** (self.n_levels - 1))
        weights_dtype("SAFM", "x", x, self.aggr.weight)

    @staticmethod
    def _size(x: torch.Tensor) -> tuple[int, int]:
        h, w = x.shape[-2:]
        if torch.onnx.is_in_onnx_export() and torch.jit.is_tracing():
            # the legacy ONNX exporter traces sizes as tensors, and its adaptive pooling needs constants
            h, w = int(h), int(w)
        return h, w

    @staticmethod
    def _pool(part: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        # measured on CPU: max_pool2d (when H divides evenly) or a reshape + amax is no faster
        return F.adaptive_max_pool2d(part, size)

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The pooled maps at their own sizes, before the depthwise convs: group 0 as it is,
        (B, C/n, H, W); group i ≥ 1 max-pooled to (B, C/n, H // 2^i, W // 2^i)."""
        self._check(x)
        h, w = self._size(x)
        parts = x.chunk(self.n_levels, dim=1)
        return [parts[0]] + [self._pool(parts[i], (h // 2**i, w // 2**i)) for i in range(1, self.n_levels)]

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The per-level maps s_0..s_{n−1}, each (B, C/n, H, W), before the 1×1 aggregation."""
        self._check(x)
        h, w = self._size(x)
        parts = x.chunk(self.n_levels, dim=1)
        out = [self.mfr[0](parts[0])]
        for i in range(1, self.n_levels):
            s = self._pool(parts[i], (h // 2**i, w // 2**i))
            s = self.mfr[i](s)
            out.append(F.interpolate(s, size=(h, w), mode="nearest"))
        return out

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The modulation map GELU(aggr(cat(levels))), shape (B, C, H, W)."""
        return self.act(self.aggr(torch.cat(self.levels(x), dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # GELU's backward needs its input, not its output, so the product can reuse the output buffer
        return self.attention(x).mul_(x)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, n_levels={self.n_levels}"
