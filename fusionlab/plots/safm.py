"""Figures of chapter 04 (SAFM): the pooled pyramid and the modulation map.

Both read the block's own intermediate results (:meth:`fusionlab.SAFM.pyramid`, ``levels``,
``attention``), so what is drawn is what the block computes. Each function returns a closed
matplotlib ``Figure`` (see :mod:`fusionlab.plots`).
"""
from __future__ import annotations

import torch

from . import _pyplot, to_numpy_image

__all__ = ["plot_pyramid", "plot_modulation"]


def _picture(group: torch.Tensor):
    """One channel group (C/n, h, w) as something imshow can draw: RGB when it has 3 channels, else the mean."""
    if group.shape[0] == 3:
        return to_numpy_image(group.clamp(0.0, 1.0)), True
    return to_numpy_image(group.mean(0)), False


def plot_pyramid(block, x: torch.Tensor, *, sample: int = 0, title: str | None = None):
    """SAFM's pyramid for one input: each level's pooled map at its own size, then at H×W.

    Top row: the block's :meth:`~fusionlab.SAFM.pyramid` — group i max-pooled to (H // 2^i, W // 2^i),
    drawn pixel for pixel (the axes count that level's pixels). Bottom row: the block's
    :meth:`~fusionlab.SAFM.levels` — after the level's 3×3 depthwise conv and nearest up-sampling
    back to H×W (mean over the group's channels, with a colour bar).

    Args:
        block: a :class:`fusionlab.SAFM`.
        x: its input ``(B, C, H, W)``; a group of 3 channels holding an RGB picture is drawn in colour.
        sample: which item of the batch to draw.
    """
    with torch.no_grad():
        pooled = [p[sample].detach().cpu() for p in block.pyramid(x)]
        levels = [s[sample].detach().cpu() for s in block.levels(x)]
    h, w = x.shape[-2:]
    n = len(pooled)
    plt = _pyplot()
    fig, axes = plt.subplots(2, n, figsize=(2.5 * n + 0.8, 5.4), squeeze=False, layout="constrained")
    for i, (p, s) in enumerate(zip(pooled, levels)):
        top, bottom = axes[0, i], axes[1, i]
        picture, rgb = _picture(p)
        shown = top.imshow(picture, interpolation="nearest", cmap=None if rgb else "viridis")
        if not rgb:
            fig.colorbar(shown, ax=top, fraction=0.046, pad=0.04)
        ph, pw = p.shape[-2:]
        top.set_title(f"level {i}: {ph}×{pw}" + ("" if i == 0 else f" (max-pooled ÷{2 ** i})"), fontsize=9)
        top.tick_params(labelsize=7)
        shown = bottom.imshow(to_numpy_image(s.mean(0)), interpolation="nearest", cmap="viridis")
        fig.colorbar(shown, ax=bottom, fraction=0.046, pad=0.04)
        bottom.set_title(f"DW conv{'' if i == 0 else ', nearest ↑'} → {h}×{w}\n(mean over C/n)", fontsize=9)
        bottom.set_axis_off()
    axes[0, 0].set_ylabel("pixels of that level", fontsize=8)
    fig.suptitle(title or f"SAFM's pyramid: {n} channel groups, one scale each")
    plt.close(fig)
    return fig


def plot_modulation(block, x: torch.Tensor, *, target: torch.Tensor | None = None, sample: int = 0,
                    show: slice = slice(0, 3), title: str | None = None):
    """The input, the modulation map GELU(aggr(·)), the output = modulation ⊙ input (and a target).

    Args:
        block: a :class:`fusionlab.SAFM`.
        x: its input ``(B, C, H, W)``.
        target: optional ``(B, C, H, W)`` drawn last (what a training aimed at).
        show: the channels drawn as a picture (default the first three, as RGB when there are three).
    The modulation is drawn as its mean over all C channels, with a colour bar.
    """
    with torch.no_grad():
        modulation = block.attention(x)[sample].detach().cpu()
        out = block(x)[sample].detach().cpu()
    panels = [("input x", x[sample, show].detach().cpu()),
              ("modulation GELU(aggr(·))\n(mean over C)", modulation.mean(0)),
              ("output = modulation ⊙ x", out[show])]
    if target is not None:
        panels.append(("target", target[sample, show].detach().cpu()))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.7 * len(panels) + 0.8, 3.1), squeeze=False,
                             layout="constrained")
    for ax, (label, t) in zip(axes[0], panels):
        if t.dim() == 3 and t.shape[0] == 3:
            ax.imshow(to_numpy_image(t.clamp(0.0, 1.0)))
        else:
            shown = ax.imshow(to_numpy_image(t.mean(0) if t.dim() == 3 else t), cmap="viridis")
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title or "SAFM: a spatially varying gain on the input")
    plt.close(fig)
    return fig
