"""Overlapping spatial-reduction attention (OSRA, from TransXNet).

Lou et al., "TransXNet: Learning Both Global and Local Dynamics with a Dual Dynamic Token
Mixer for Visual Recognition", arXiv 2310.19380 (IEEE TNNLS). Queries come from every pixel;
keys and values from a map shrunk by an *overlapping* strided conv (kernel r + 3, stride r), so
the attention matrix is HW × H'W' instead of HW × HW. For x of shape (B, C, H, W), h heads,
d = C / h::

    q    = conv1×1(x)                                        (B, h, HW, d)
    y    = SR(x)                                             (B, C, H', W'), H' = ⌊(H + 2p − r − 3) / r⌋ + 1
    y    = DW3×3(y) + y                                      local refinement
    k, v = split(conv1×1(y))                                 (B, h, H'W', d) each
    out  = softmax(q kᵀ · scale + P) v                       (B, h, HW, d) → (B, C, H, W)

SR = depthwise conv (k = r + 3, stride r, padding p = ⌊(r + 3) / 2⌋) → BN → act → depthwise 1×1 conv
→ BN (identity for r = 1); P is an optional relative position bias, resized bicubically to
HW × H'W' when its size differs. The post uses act = ReLU (``variant="blog"``); TransXNet's code
uses GELU (``variant="paper"``, same state_dict keys). With that padding H' = ⌊(H − 1) / r⌋ + 1
for an even r and ⌊H / r⌋ + 1 for an odd r (``reduced_size`` computes it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from .._torch_internals import FakeTensor

from .._checks import (batchnorm_batch, divisible, floating_tensor, fmt_shape, image_tensor, one_of,
                       positive_int, positive_number, probability, weights_dtype)

__all__ = ["OSRAttention"]

DEFAULT_MAX_ATTN_BYTES = 256 * 2**20

# torch.compiler.is_exporting arrived in torch 2.4; with older versions an export may trace one block of rows
_is_exporting = getattr(torch.compiler, "is_exporting", lambda: False)


class OSRAttention(nn.Module):
    """Multi-head attention from every pixel to a reduced, overlapping grid of keys and values.

    Args:
        dim: channel count C; must be divisible by ``num_heads``.
        num_heads: number of heads h (each of width d = C / h).
        qk_scale: multiplies q kᵀ; ``None`` means d^-1/2. Must be positive (the post's
            ``qk_scale or …`` silently turns 0 into the default; here 0 is an error).
        attn_drop: dropout probability on the attention probabilities (training mode only).
        sr_ratio: spatial-reduction stride r; 1 keeps the full grid (no ``sr`` layers).
        variant: ``"blog"`` (ReLU inside ``sr``, the post's ``OSRAttention``) or ``"paper"``
            (GELU there, as TransXNet's code); the state_dict keys are the same.
        max_attn_bytes: the most memory one attention matrix (B, h, rows, H'W') may take; larger
            problems are computed in blocks of query rows, so no full HW × H'W' matrix is held
            (under autograd, blocks are recomputed in backward). Also a module attribute. A position
            bias is the caller's own tensor; once resized it has the attention matrix's size.
            Blocks apply in eager and in ``torch.export`` at fixed sizes; a ``jit.trace`` graph or an
            export with a dynamic size (ONNX included) computes attention in one call, so it runs at any batch.

    Shapes:
        x: ``(B, C, H, W)``, any H, W ≥ 1. relative_pos_enc: optional, 4-D ``(B or 1, h or 1, L, S)``;
        resized bicubically to (HW, H'W') when (L, S) differs. Output: ``(B, C, H, W)``.

    Computation: the fused ``F.scaled_dot_product_attention`` (scale folded in, the bias as its
    additive mask). With dropout active (training, attn_drop > 0) the probabilities are formed
    explicitly and passed through ``attn_drop``, so with the same seed the result equals the
    post's as long as no query blocking is needed. A bias of another dtype is cast to x's dtype.

    In training mode the BatchNorms of ``sr`` need more than one value per channel: B·H'·W' ≥ 2
    (batch 1 with H, W ≤ r fails); ``forward`` raises a ValueError then.

    state_dict keys equal the post's: ``q``, ``kv``, ``sr.0`` (conv), ``sr.1`` (BN), ``sr.3`` (conv),
    ``sr.4`` (BN), ``local_conv``. TransXNet names them ``sr.0.conv``, ``sr.0.bn``, ``sr.1.conv``, ``sr.1.bn``.

    Deployment: TorchScript scripting (torch.jit.script) is not supported; jit.trace, torch.export and ONNX are.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        sr_ratio: int = 2,
        *,
        variant: str = "blog",
        max_attn_bytes: int = DEFAULT_MAX_ATTN_BYTES,
    ) -> None:
        super().__init__()
        owner = "OSRAttention"
        dim = self.dim = positive_int(owner, "dim", dim)
        num_heads = self.num_heads = positive_int(owner, "num_heads", num_heads)
        divisible(owner, "dim", dim, "num_heads", num_heads)
        if qk_scale is not None:
            positive_number(owner, "qk_scale", qk_scale)
        attn_drop = probability(owner, "attn_drop", attn_drop)
        sr_ratio = self.sr_ratio = positive_int(owner, "sr_ratio", sr_ratio)
        one_of(owner, "variant", variant, ("blog", "paper"))
        self.max_attn_bytes = positive_int(owner, "max_attn_bytes", max_attn_bytes)
        self.variant = variant
        head_dim = dim // num_heads
        self.scale = float(qk_scale) if qk_scale is not None else head_dim**-0.5

        self.q = nn.Conv2d(dim, dim, kernel_size=1)
        self.kv = nn.Conv2d(dim, dim * 2, kernel_size=1)
        self.attn_drop = nn.Dropout(attn_drop)
        if sr_ratio > 1:
            r = sr_ratio
            self.sr = nn.Sequential(
                # overlapping windows: kernel r + 3 > stride r
                nn.Conv2d(dim, dim, kernel_size=r + 3, stride=r, padding=(r + 3) // 2, groups=dim, bias=False),
                nn.BatchNorm2d(dim),
                nn.GELU() if variant == "paper" else nn.ReLU(),
                nn.Conv2d(dim, dim, kernel_size=1, groups=dim, bias=False),
                nn.BatchNorm2d(dim),
            )
        else:
            self.sr = nn.Identity()
        self.local_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)

    def reduced_size(self, height: int, width: int) -> tuple[int, int]:
        """(H', W'): the key/value grid for an H×W input."""
        r = self.sr_ratio
        if r == 1:
            return height, width
        k, p = r + 3, (r + 3) // 2
        return (height + 2 * p - k) // r + 1, (width + 2 * p - k) // r + 1

    def _check(self, x: torch.Tensor, relative_pos_enc: torch.Tensor | None) -> None:
        owner = "OSRAttention"
        image_tensor(owner, "x", x, self.dim)
        weights_dtype(owner, "x", x, self.q.weight)
        b, _, h, w = x.shape
        if self.sr_ratio > 1:
            h2, w2 = self.reduced_size(h, w)
            batchnorm_batch(owner, f"sr (reduced grid {h2}×{w2})", b * h2 * w2, x.shape, self.training)
        if relative_pos_enc is not None:
            p = relative_pos_enc
            floating_tensor(owner, "relative_pos_enc", p)
            if p.dim() != 4 or p.shape[0] not in (1, b) or p.shape[1] not in (1, self.num_heads):
                raise ValueError(
                    f"{owner}: relative_pos_enc must be a 4-D bias (B or 1, heads or 1, L, S) with B = {b} "
                    f"and heads = {self.num_heads}, got shape {fmt_shape(p.shape)}; it is added to the "
                    f"(B, heads, HW, H'W') attention logits after bicubic resizing of (L, S)."
                )

    def position_bias(self, relative_pos_enc: torch.Tensor | None, size: tuple[int, int], dtype: torch.dtype):
        """The bias resized bicubically to ``size`` = (HW, H'W') if needed, in ``dtype``."""
        if relative_pos_enc is None:
            return None
        bias = relative_pos_enc
        if tuple(bias.shape[2:]) != tuple(size):
            bias = F.interpolate(bias, size=size, mode="bicubic", align_corners=False)
        return bias.to(dtype)

    def _fused(self, q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)

    def _explicit(self, q, k, v, bias):
        # scale folded into q: HW·d multiplies instead of HW·H'W'
        attn = (q * self.scale) @ k.transpose(-1, -2)  # (B, h, rows, H'W')
        if bias is not None:
            attn = attn + bias
        attn = self.attn_drop(attn.softmax(dim=-1))
        return attn @ v  # (B, h, rows, d)

    def attend(self, q, k, v, bias=None) -> torch.Tensor:
        """softmax(q kᵀ · scale + bias) v over q's rows, in blocks of rows within ``max_attn_bytes``."""
        batch, heads, rows_total, _ = q.shape
        keys = k.shape[-2]
        attend = self._explicit if (self.training and self.attn_drop.p > 0) else self._fused
        # meta and fake tensors hold no memory: one block (keeps shape traces and FLOP counts fast);
        # but torch.export traces with fake tensors too, and its program must keep the blocks
        untraced_fake = isinstance(q, FakeTensor) and not _is_exporting()
        # a graph replayed at other sizes must not bake the block count, which follows from B·h·HW·H'W':
        # jit.trace records this trace's sizes as constants; an export with a symbolic size would guard on it
        symbolic = _is_exporting() and not all(type(n) is int for n in (batch, heads, rows_total, keys))
        if torch.jit.is_tracing() or symbolic or q.is_meta or untraced_fake:
            return attend(q, k, v, bias)
        rows = max(1, self.max_attn_bytes // (batch * heads * keys * q.element_size()))
        if rows >= rows_total:
            return attend(q, k, v, bias)
        # an exported program is traced for inference: no backward, so no recomputation
        save_memory = torch.is_grad_enabled() and not _is_exporting() and any(
            t is not None and t.requires_grad for t in (q, k, v, bias)
        )
        blocks = []
        for start in range(0, rows_total, rows):
            q_rows = q[:, :, start:start + rows]
            b_rows = bias[:, :, start:start + rows] if bias is not None else None
            if save_memory:
                # keep only the inputs for backward; the block's probabilities are recomputed
                # (with the same dropout mask: checkpoint restores the RNG state)
                blocks.append(checkpoint(attend, q_rows, k, v, b_rows, use_reentrant=False))
            else:
                blocks.append(attend(q_rows, k, v, b_rows))
        return torch.cat(blocks, dim=2)

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        """The key/value map: SR(x) then y + DW3×3(y), shape (B, C, H', W')."""
        if self.sr_ratio > 1:
            conv, norm1, act, pointwise, norm2 = self.sr
            y = act(norm1(conv(x)))
            # a depthwise 1×1 conv is a per-channel scale; PyTorch's CPU conv would loop over the C groups
            y = norm2(y * pointwise.weight.view(1, -1, 1, 1))
        else:
            y = x
        return self.local_conv(y) + y

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q ``(B, h, HW, d)`` from every pixel; k, v ``(B, h, H'W', d)`` from the reduced map."""
        b, c, h, w = x.shape
        heads = self.num_heads
        d = c // heads
        # the same conv calls as the post (bit-identical q, k, v); then each head's d features are
        # made adjacent, the layout the fused attention kernel needs: (B, h, HW, d)
        q = self.q(x).view(b, heads, d, h * w).transpose(-1, -2).contiguous()
        y = self.reduce(x)  # (B, C, H', W')
        # k = the first C output channels, v = the rest, each split into heads: (B, h, H'W', d)
        kv = self.kv(y).view(b, 2, heads, d, -1).transpose(-1, -2).contiguous()
        k, v = kv.unbind(1)
        return q, k, v

    def attention(self, x: torch.Tensor, relative_pos_enc: torch.Tensor | None = None) -> torch.Tensor:
        """The attention probabilities softmax(q kᵀ · scale + P), shape ``(B, h, HW, H'W')``, no dropout.

        Row ``i·W + j`` is where query pixel (i, j) looks; reshaped to (H', W') it is a map over the
        key grid. This holds the whole matrix (``forward`` never does): use it on small inputs.
        """
        self._check(x, relative_pos_enc)
        h, w = x.shape[-2:]
        q, k, _ = self.project(x)
        logits = (q * self.scale) @ k.transpose(-1, -2)  # (B, h, HW, H'W')
        bias = self.position_bias(relative_pos_enc, (h * w, k.shape[-2]), q.dtype)
        if bias is not None:
            logits = logits + bias
        return logits.softmax(dim=-1)

    def forward(self, x: torch.Tensor, relative_pos_enc: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x, relative_pos_enc)
        b, c, h, w = x.shape
        q, k, v = self.project(x)
        bias = self.position_bias(relative_pos_enc, (h * w, k.shape[-2]), q.dtype)
        out = self.attend(q, k, v, bias)  # (B, h, HW, d)
        return out.transpose(-1, -2).reshape(b, c, h, w)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, num_heads={self.num_heads}, scale={self.scale:.4g}, sr_ratio={self.sr_ratio}, "
                f"variant={self.variant!r}, max_attn_bytes={self.max_attn_bytes}")
