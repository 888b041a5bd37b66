"""Figures of chapter 02 (MSF): the softmax-over-sigmoid squeeze and the weight per scale and channel.

MSF (:class:`fusionlab.MSFBlock`) weighs S inputs with w = softmax_i(σ(l_i)). Each σ(l_i) lies in
(0, 1), so the softmax sees logits that differ by less than 1 and every weight stays strictly
between the bounds of :func:`squeeze_bounds` — about [0.11, 0.47] for four scales.

Each figure function returns a matplotlib ``Figure`` that is already closed in pyplot (see
:mod:`fusionlab.plots`), so a notebook shows it once.

>>> lo, hi = squeeze_bounds(4)
>>> round(lo, 4), round(hi, 4)
(0.1092, 0.4754)
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks.msf import scale_weights
from . import _pyplot

__all__ = ["squeeze_bounds", "squeezed_weights", "photo_scales", "plot_squeeze", "plot_scale_weights"]


def squeeze_bounds(n_scales: int = 4) -> tuple[float, float]:
    """The open interval that every weight of softmax(σ(l)) over ``n_scales`` scales lies in.

    A weight is largest when its σ is 1 and the others are 0: e / (e + S − 1); smallest when its
    σ is 0 and the others are 1: 1 / (1 + (S − 1)·e). Neither bound is reached by finite logits.
    """
    if isinstance(n_scales, bool) or not isinstance(n_scales, int) or n_scales < 2:
        raise ValueError(f"squeeze_bounds: n_scales must be an int ≥ 2, got {n_scales!r}.")
    e, others = math.e, n_scales - 1
    return 1.0 / (1.0 + others * e), e / (e + others)


def squeezed_weights(logits: torch.Tensor) -> torch.Tensor:
    """MSF's weights for given logits ``(B, S, C)``: softmax over S of σ(logits), shape ``(B, S, C)``.

    Computed by the block's own :func:`fusionlab.blocks.msf.scale_weights`: each scale's logits
    become a 1×1 map whose average is the logit, and the squeeze layers are identities.
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"squeezed_weights: logits must be a tensor (B, S, C), got {shape}.")
    maps = [logits[:, i, :, None, None] for i in range(logits.shape[1])]  # S maps (B, C, 1, 1)
    return scale_weights(maps, [nn.Identity()] * len(maps))


def photo_scales(image: torch.Tensor, factors: Sequence[int] = (1, 2, 4, 8)) -> list[torch.Tensor]:
    """One picture at several scales, all of its size: average over f×f blocks, resize back (bilinear).

    ``image`` ``(B, C, H, W)``; returns one ``(B, C, H, W)`` tensor per factor (factor 1: the image
    itself). Averaging keeps each channel's mean, so global average pooling sees almost the same
    vector at every scale.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"photo_scales: image must be a tensor (B, C, H, W), got {shape}.")
    h, w = image.shape[-2:]
    bad = [f for f in factors if isinstance(f, bool) or not isinstance(f, int) or not 1 <= f <= min(h, w)]
    if bad or not factors:
        raise ValueError(
            f"photo_scales: factors must be ints between 1 and min(H, W) = {min(h, w)}, got {tuple(factors)!r}."
        )
    scales = []
    for f in factors:
        if f == 1:
            scales.append(image)
        else:
            coarse = F.avg_pool2d(image, f)  # (B, C, H // f, W // f)
            scales.append(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))
    return scales


def plot_squeeze(n_scales: int = 4, *, max_gap: float = 12.0, samples: int = 20000, spread: float = 3.0,
                 seed: int = 0):
    """softmax(σ(l)) against a plain softmax(l) over ``n_scales`` scales, in two panels.

    Left: the weight of one scale whose logit lies ``gap`` above all the others (it wins), and of
    one that lies ``gap`` below them (it loses), as the gap grows: a plain softmax goes to 1 and 0,
    the squeezed one stops at the bounds of :func:`squeeze_bounds` (dashed).
    Right: every weight for ``samples`` random logit vectors l ~ N(0, spread²): where the weights
    can fall.
    """
    lo, hi = squeeze_bounds(n_scales)
    gaps = torch.linspace(0.0, max_gap, 121)
    # one scale at +gap/2, the others at −gap/2 (a winner), and the mirror image (a loser)
    winner = torch.full((len(gaps), n_scales, 1), -0.5) * gaps[:, None, None]
    winner[:, 0] = gaps[:, None] / 2
    loser = -winner
    gen = torch.Generator().manual_seed(seed)
    random_logits = torch.randn(samples, n_scales, 1, generator=gen) * spread

    plt = _pyplot()
    fig, (ax_gap, ax_hist) = plt.subplots(1, 2, figsize=(10.0, 3.8), layout="constrained")
    for logits, label, style in ((winner, "winner", "-"), (loser, "loser", "--")):
        ax_gap.plot(gaps, torch.softmax(logits, dim=1)[:, 0, 0], style, color="C0", label=f"plain softmax, {label}")
        ax_gap.plot(gaps, squeezed_weights(logits)[:, 0, 0], style, color="C3", label=f"softmax(σ(·)), {label}")
    for bound in (lo, hi):
        ax_gap.axhline(bound, color="0.4", linestyle=":", linewidth=1)
    ax_gap.axhline(1.0 / n_scales, color="0.7", linewidth=0.8)
    ax_gap.text(max_gap, hi, f"e/(e+{n_scales - 1}) = {hi:.3f}", ha="right", va="bottom", fontsize=8)
    ax_gap.text(max_gap, lo, f"1/(1+{n_scales - 1}e) = {lo:.3f}", ha="right", va="bottom", fontsize=8)
    ax_gap.set_xlabel("logit gap between one scale and the other three")
    ax_gap.set_ylabel("that scale's weight")
    ax_gap.set_ylim(-0.02, 1.02)
    ax_gap.set_title(f"how far one scale can win or lose ({n_scales} scales)")
    ax_gap.legend(fontsize=7, loc="center right", bbox_to_anchor=(1.0, 0.72))

    bins = torch.linspace(0.0, 1.0, 101)
    plain = torch.softmax(random_logits, dim=1).flatten()
    squeezed = squeezed_weights(random_logits).flatten()
    ax_hist.hist(plain.numpy(), bins=bins.numpy(), density=True, histtype="stepfilled", alpha=0.45, color="C0",
                 label="plain softmax")
    ax_hist.hist(squeezed.numpy(), bins=bins.numpy(), density=True, histtype="stepfilled", alpha=0.6, color="C3",
                 label="softmax(σ(·))")
    for bound in (lo, hi):
        ax_hist.axvline(bound, color="0.4", linestyle=":", linewidth=1)
    ax_hist.set_yscale("log")
    ax_hist.set_xlabel("weight of a scale")
    ax_hist.set_ylabel("density (log scale)")
    ax_hist.set_title(f"every weight of {samples:,} random logit vectors l ~ N(0, {spread:g}²)", fontsize=10)
    ax_hist.legend(fontsize=8)
    plt.close(fig)
    return fig


def _as_scale_channel(name: str, t) -> torch.Tensor:
    t = torch.as_tensor(t).detach().to("cpu", torch.float32)
    if t.dim() == 3 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 2:
        raise ValueError(f"plot_scale_weights: {name} must be (S, C) or (1, S, C), got shape {tuple(t.shape)}.")
    return t


def plot_scale_weights(
    weights: Mapping[str, torch.Tensor],
    *,
    error: torch.Tensor | None = None,
    scale_labels: Sequence[str] | None = None,
    channel_labels: Sequence[str] | None = None,
    title: str | None = None,
):
    """MSF's weights as heat maps: one row per scale, one column per channel, the value in each cell.

    Args:
        weights: panel title -> weights ``(S, C)`` or ``(1, S, C)`` (one image of
            :meth:`fusionlab.MSFBlock.weights`); all panels share one colour scale from 0 to 1.
        error: optional ``(S, C)``: how far each scale alone is from the target, per channel. It
            gets a panel of its own, and the best scale of each channel (least error) is framed in
            every panel, so you can see whether the weights pick it.
        scale_labels, channel_labels: tick labels (default ``scale 0…``, ``0…``).
        title: a title over the panels.
    """
    import matplotlib.patches as mpatches

    if not weights:
        raise ValueError("plot_scale_weights: weights is empty; pass at least one (S, C) tensor.")
    panels = {name: _as_scale_channel(f"weights[{name!r}]", w) for name, w in weights.items()}
    shape = next(iter(panels.values())).shape
    for name, w in panels.items():
        if w.shape != shape:
            raise ValueError(f"plot_scale_weights: every panel must have one shape; {name!r} has "
                             f"{tuple(w.shape)}, the first {tuple(shape)}.")
    best = None
    if error is not None:
        error = _as_scale_channel("error", error)
        if error.shape != shape:
            raise ValueError(f"plot_scale_weights: error must have the weights' shape {tuple(shape)}, "
                             f"got {tuple(error.shape)}.")
        best = error.argmin(dim=0)  # (C,) the best single scale per channel
    n_scales, n_channels = shape
    scale_labels = list(scale_labels or [f"scale {i}" for i in range(n_scales)])
    channel_labels = list(channel_labels or [str(c) for c in range(n_channels)])

    plt = _pyplot()
    n_panels = len(panels) + (error is not None)
    width = max(3.2, 0.5 * n_channels + 1.6)
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, 0.45 * n_scales + 1.9), squeeze=False,
                             layout="constrained")
    axes = list(axes[0])
    items = list(panels.items())
    if error is not None:
        items.append(("error of each scale alone (lower is better)", error))
    shown = None
    for ax, (name, values) in zip(axes, items):
        is_error = values is error
        image = ax.imshow(values.numpy(), cmap="magma_r" if is_error else "viridis", aspect="auto",
                          vmin=None if is_error else 0.0, vmax=None if is_error else 1.0)
        if is_error:
            fig.colorbar(image, ax=ax, shrink=0.9, label="mean squared error")
        else:
            shown = image
        low, high = float(values.min()), float(values.max())
        for s in range(n_scales):
            for c in range(n_channels):
                v = float(values[s, c])
                dark = (v - low) / (high - low + 1e-12) > 0.5 if is_error else v < 0.5
                ax.text(c, s, f"{v:.2f}" if not is_error else f"{v:.3f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
        if best is not None:
            for c in range(n_channels):
                ax.add_patch(mpatches.Rectangle((c - 0.5, int(best[c]) - 0.5), 1, 1, fill=False, edgecolor="red",
                                                linewidth=1.6))
        ax.set_xticks(range(n_channels), channel_labels, fontsize=7)
        ax.set_yticks(range(n_scales), scale_labels, fontsize=8)
        ax.set_xlabel("channel")
        ax.set_title(name, fontsize=9)
    if shown is not None:
        weight_axes = axes[: len(panels)]
        fig.colorbar(shown, ax=weight_axes, shrink=0.9, label="weight")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig
