"""Chapter 06 figures: what MSAA's two paths compute on a picture.

MSAA (CM-UNet, arXiv 2405.10530) splits its fused map f into a *channel path* (one weight per
channel, CA(f)) and a *spatial path* (3×3 + 5×5 + 7×7 convs summed, then one weight per pixel,
SA(s)). :func:`msaa_internals` records those intermediate tensors from the block itself with
forward hooks (nothing is recomputed here); :func:`plot_msaa_paths` draws them side by side.

>>> import torch
>>> from fusionlab import MSAA
>>> block = MSAA(6, 16)
>>> xs = [torch.randn(1, 2, 8, 8) for _ in range(3)]
>>> parts = msaa_internals(block, *xs)
>>> tuple(parts["channel_weights"].shape), tuple(parts["spatial_weights"].shape)
((1, 4, 1, 1), (1, 1, 8, 8))
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import _pyplot, overlay, to_numpy_image

__all__ = ["msaa_internals", "plot_msaa_paths"]

# internals key -> (sub-module of MSAA.fusion_conv, what the hook keeps: its input or its output)
_HOOKED = {
    "f": ("down", "output"),
    "channel_weights": ("channel_attention", "output"),
    "conv_3x3": ("conv_3x3", "output"),
    "conv_5x5": ("conv_5x5", "output"),
    "conv_7x7": ("conv_7x7", "output"),
    "spatial_response": ("spatial_attention", "input"),
    "spatial_weights": ("spatial_attention", "output"),
}


@torch.no_grad()
def msaa_internals(block: nn.Module, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``block(x1, x2, x4)`` once and return its intermediate tensors (detached).

    Keys and shapes (d = ``block.inner_channels``):

    * ``f`` ``(B, d, H, W)``: the fused map, ``down(cat(x1, x2, x4))``;
    * ``channel_weights`` ``(B, d, 1, 1)``: CA(f), one weight in (0, 1) per channel;
    * ``conv_3x3``, ``conv_5x5``, ``conv_7x7`` ``(B, d, H, W)``: the three spatial branches;
    * ``spatial_response`` ``(B, d, H, W)``: their sum s, the input of the spatial attention;
    * ``spatial_weights`` ``(B, 1, H, W)``: SA(s), one weight in (0, 1) per pixel;
    * ``out`` ``(B, out_channels, H, W)``: the block's output.
    """
    fusion = getattr(block, "fusion_conv", None)
    if fusion is None:
        raise TypeError(f"msaa_internals: expected a fusionlab MSAA block, got {type(block).__name__}.")
    kept: dict[str, torch.Tensor] = {}
    handles = []
    for key, (name, which) in _HOOKED.items():
        def hook(module, inputs, output, key=key, which=which):
            kept[key] = (inputs[0] if which == "input" else output).detach()

        handles.append(getattr(fusion, name).register_forward_hook(hook))
    try:
        kept["out"] = block(x1, x2, x4).detach()
    finally:
        for h in handles:
            h.remove()
    return kept


def _channel_energy(t: torch.Tensor, sample: int) -> torch.Tensor:
    """(B, d, H, W) -> (H, W): mean |value| over channels, how strongly a branch responds at each pixel."""
    return t[sample].abs().mean(dim=0)


def plot_msaa_paths(image: Any, internals: dict[str, torch.Tensor], *, sample: int = 0, title: str | None = None):
    """MSAA's channel path beside its spatial path, for one sample of a batch.

    Left: the channel weights CA(f) as bars (one per inner channel; 0.5, dashed, is neutral).
    Top row: mean |value| over channels of the 3×3, 5×5 and 7×7 branches and of their sum s, on one
    colour scale. Bottom row: ``image`` (the photo the inputs were computed from, ``(3, H, W)`` or
    ``(1, 3, H, W)``), the spatial weights SA(s), and SA(s) over the photo (resized when smaller),
    both on SA's own range.

    Args:
        image: the photograph, for the overlay.
        internals: :func:`msaa_internals`'s result.
        sample: which batch element to draw.
        title: a title over the figure.
    """
    missing = {"channel_weights", "conv_3x3", "conv_5x5", "conv_7x7", "spatial_response", "spatial_weights"} - set(internals)
    if missing:
        raise ValueError(f"plot_msaa_paths: internals lacks {sorted(missing)}; pass msaa_internals(...)'s result.")
    batch = internals["channel_weights"].shape[0]
    if not 0 <= sample < batch:
        raise ValueError(f"plot_msaa_paths: sample must be in [0, {batch - 1}], got {sample}.")

    plt = _pyplot()
    fig = plt.figure(figsize=(13.5, 5.6), layout="constrained")
    grid = fig.add_gridspec(2, 5, width_ratios=(1.2, 1, 1, 1, 1))

    # channel path: one bar per inner channel
    ax = fig.add_subplot(grid[:, 0])
    weights = internals["channel_weights"][sample, :, 0, 0].cpu()
    ax.bar(range(len(weights)), weights.numpy(), color="C0")
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=1)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("inner channel of f")
    ax.set_ylabel("CA(f): weight in (0, 1)")
    ax.set_title("channel path: c = f · CA(f)", fontsize=10)

    # spatial path, top row: the three branches and their sum s, on one colour scale
    maps = [
        ("3×3 branch", internals["conv_3x3"]),
        ("5×5 branch", internals["conv_5x5"]),
        ("7×7 branch", internals["conv_7x7"]),
        ("s = their sum", internals["spatial_response"]),
    ]
    energies = [_channel_energy(t, sample).cpu() for _, t in maps]
    top = max(float(e.max()) for e in energies)
    for col, ((label, _), energy) in enumerate(zip(maps, energies), start=1):
        ax = fig.add_subplot(grid[0, col])
        shown = ax.imshow(to_numpy_image(energy), cmap="magma", vmin=0.0, vmax=top)
        ax.set_title(f"{label}: mean |value|", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)

    # spatial path, bottom row: the photo, SA(s) alone and over the photo (one colour scale)
    ax = fig.add_subplot(grid[1, 1])
    ax.imshow(to_numpy_image(image).clip(0.0, 1.0))
    ax.set_title("the photo", fontsize=9)
    ax.set_axis_off()
    sa = internals["spatial_weights"][sample, 0].cpu()
    low, high = float(sa.min()), float(sa.max())
    ax = fig.add_subplot(grid[1, 2])
    shown = ax.imshow(to_numpy_image(sa), cmap="viridis", vmin=low, vmax=high)
    ax.set_title("SA(s): one weight per pixel", fontsize=9)
    ax.set_axis_off()
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax = fig.add_subplot(grid[1, 3])
    overlay(image, sa, ax=ax, alpha=0.6, cmap="viridis", vmin=low, vmax=high, title="SA(s) over the photo")
    fig.suptitle(title or "MSAA: the channel path and the multi-kernel spatial path")
    plt.close(fig)
    return fig
