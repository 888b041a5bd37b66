"""Chapter 07 figures: the post's joint CBAM variant beside the original CBAM.

* :func:`attention_weights` gives the channel weights M_c and the spatial weights M_s of either
  block, from the block's own methods (``CBAMBlock.weights``; ``CBAM.channel_weights`` and
  ``CBAM.spatial_weights`` on the channel-refined map, as CBAM applies them).
* :func:`plot_attention_pair` draws M_c as bars and M_s on the photo, one row per block.
* :func:`plot_param_growth` draws parameters against H·W for several blocks: the joint MLP of
  ``CBAMBlock`` has (C + H·W)·C/r·2 weights, CBAM's parameters do not depend on H·W.

>>> import torch
>>> from fusionlab import CBAM
>>> mc, ms = attention_weights(CBAM(16, reduction=4).eval(), torch.randn(1, 16, 5, 5))
>>> tuple(mc.shape), tuple(ms.shape)
((1, 16, 1, 1), (1, 1, 5, 5))
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from . import _pyplot, overlay, to_numpy_image

__all__ = ["attention_weights", "plot_attention_pair", "plot_param_growth"]


@torch.no_grad()
def attention_weights(block: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M_c, M_s) of a ``CBAMBlock`` or a ``CBAM`` on ``x`` ``(B, C, H, W)``: ``(B, C, 1, 1)``, ``(B, 1, H, W)``.

    ``CBAMBlock`` computes both from x at once (its ``weights``); ``CBAM`` computes M_s on the
    channel-refined map M_c · x, which is what its forward multiplies.
    """
    from ..blocks.cbam import CBAM, CBAMBlock

    if isinstance(block, CBAMBlock):
        return block.weights(x)
    if isinstance(block, CBAM):
        mc = block.channel_weights(x)
        return mc, block.spatial_weights(x * mc)
    raise TypeError(f"attention_weights: expected a fusionlab CBAMBlock or CBAM, got {type(block).__name__}.")


def plot_attention_pair(image: Any, weights: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *, sample: int = 0,
                        title: str | None = None):
    """One row per block: its channel weights M_c as bars, its spatial weights M_s alone and on the photo.

    Args:
        image: the photograph the features came from, ``(3, H, W)`` or ``(1, 3, H, W)``; M_s is
            resized to it when smaller.
        weights: block label -> ``(M_c, M_s)`` as :func:`attention_weights` returns them.
        sample: which batch element to draw.
        title: a title over the figure.

    Each M_s is drawn on its own range (the colour bar says it), so small contrasts stay visible.
    """
    if not weights:
        raise ValueError("plot_attention_pair: weights is empty; pass {label: (M_c, M_s)} for at least one block.")
    for label, pair in weights.items():
        if len(pair) != 2 or pair[0].dim() != 4 or pair[1].dim() != 4 or pair[1].shape[1] != 1:
            raise ValueError(
                f"plot_attention_pair: weights[{label!r}] must be (M_c (B, C, 1, 1), M_s (B, 1, H, W)) as "
                f"attention_weights returns."
            )
        if not 0 <= sample < pair[0].shape[0]:
            raise ValueError(f"plot_attention_pair: sample must be in [0, {pair[0].shape[0] - 1}], got {sample}.")

    plt = _pyplot()
    rows = len(weights)
    fig, axes = plt.subplots(rows, 3, figsize=(11.0, 3.1 * rows), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": (1.6, 1, 1)})
    for (label, (mc, ms)), (ax_bar, ax_map, ax_over) in zip(weights.items(), axes):
        channel = mc[sample, :, 0, 0].detach().cpu()
        ax_bar.bar(range(len(channel)), channel.numpy(), color="C0", width=1.0)
        ax_bar.axhline(0.5, color="gray", linestyle="--", linewidth=1)
        ax_bar.set_ylim(0.0, 1.0)
        ax_bar.set_xlabel("channel")
        ax_bar.set_ylabel("M_c: weight in (0, 1)")
        ax_bar.set_title(f"{label}: channel weights M_c", fontsize=9)

        spatial = ms[sample, 0].detach().cpu()
        low, high = float(spatial.min()), float(spatial.max())
        shown = ax_map.imshow(to_numpy_image(spatial), cmap="viridis", vmin=low, vmax=high)
        ax_map.set_title(f"{label}: spatial weights M_s", fontsize=9)
        ax_map.set_axis_off()
        fig.colorbar(shown, ax=ax_map, fraction=0.046, pad=0.04)
        overlay(image, spatial, ax=ax_over, alpha=0.6, cmap="viridis", vmin=low, vmax=high, colorbar=False,
                title="M_s over the photo")
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def plot_param_growth(growths: Mapping[str, Any], *, title: str | None = None):
    """Parameters against H·W (log–log), one line per block.

    Args:
        growths: label -> :func:`fusionlab.cost.cost_growth`'s result (or a list of its row dicts with
            ``hw`` and ``params``).
        title: the figure's title.

    A block whose weights do not depend on the map size draws a flat line; the post's ``CBAMBlock``
    grows linearly with H·W (slope 1), because its joint MLP has C + H·W inputs and outputs.
    """
    if not growths:
        raise ValueError("plot_param_growth: growths is empty; pass {label: cost_growth(...)} for at least one block.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 3.8), layout="constrained")
    for i, (label, growth) in enumerate(growths.items()):
        rows = list(growth)
        if not rows:
            raise ValueError(f"plot_param_growth: growths[{label!r}] has no rows.")
        ax.plot([r["hw"] for r in rows], [r["params"] for r in rows], "os^vD"[i % 5] + "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("H·W (pixels the block is built for)")
    ax.set_ylabel("parameters")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    ax.set_title(title or "parameters as H·W grows")
    plt.close(fig)
    return fig
