"""Figures of chapter 03 (MFE): what each branch of the dilated cascade sees on the image grid.

:class:`fusionlab.MFEBlock` computes y_0 = L_1(x) and y_i = L_{i+1}(y_{i−1} + x), each L a 3×3
conv with dilation d_i (1, then the block's ``atrous_rates``). Two views of branch i's receptive
field at one output pixel:

* :func:`tap_counts`: the number of paths from each input pixel to that output pixel if every
  weight were 1 (BN and ReLU ignored) — the geometry of the dilated taps and of the ``+ x`` skips;
* :func:`effective_receptive_fields`: |∂ y_i[centre] / ∂ x| of the block itself, averaged over
  random inputs (Luo et al., NeurIPS 2016) — what its actual weights make of that geometry.

Each figure function returns a matplotlib ``Figure`` that is already closed in pyplot.

>>> from fusionlab import MFEBlock
>>> receptive_field_sizes(MFEBlock(4, atrous_rates=(2, 4, 8)))
(3, 7, 15, 31)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import _pyplot

__all__ = ["branch_dilations", "receptive_field_sizes", "tap_counts", "effective_receptive_fields",
           "plot_receptive_fields"]

_LAYERS = ("layer1", "layer2", "layer3", "layer4")


def _check_block(owner: str, block: nn.Module) -> None:
    layers = all(isinstance(getattr(block, name, None), nn.Sequential) for name in _LAYERS)
    if not layers or not hasattr(block, "scales"):
        raise TypeError(f"{owner}: block must be an MFEBlock (with layer1–layer4 and scales()), "
                        f"got {type(block).__name__}.")


def branch_dilations(block: nn.Module) -> tuple[int, int, int, int]:
    """The dilation of each branch's 3×3 conv, read from the block: (1, *atrous_rates)."""
    _check_block("branch_dilations", block)
    return tuple(int(getattr(block, name)[0].dilation[0]) for name in _LAYERS)


def receptive_field_sizes(block: nn.Module) -> tuple[int, int, int, int]:
    """Side of each branch's (square) receptive field: 1 + 2·(d_1 + … + d_i) for branch i.

    A 3×3 conv with dilation d widens the field by 2d; the cascade adds the widths up, and the
    ``+ x`` skips add nothing wider.
    """
    sizes, width = [], 1
    for d in branch_dilations(block):
        width += 2 * d
        sizes.append(width)
    return tuple(sizes)


def _default_size(block: nn.Module) -> int:
    return receptive_field_sizes(block)[-1] + 6  # the widest field, a 3-pixel margin each side


def tap_counts(block: nn.Module, size: int | None = None) -> torch.Tensor:
    """Paths from each input pixel to the centre output pixel of each branch, all weights 1.

    Returns ``(4, size, size)`` (default size: the widest receptive field + 6). Branch 0 is one
    3×3 kernel (9 taps of 1); branch i convolves (branch i−1 + the input itself, the skip) with a
    3×3 kernel of dilation d_i — the same paddings and dilations as the block's convs.
    """
    _check_block("tap_counts", block)
    size = _default_size(block) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"tap_counts: size must be an int ≥ 3, got {size!r}.")
    delta = torch.zeros(1, 1, size, size)
    delta[..., size // 2, size // 2] = 1.0  # one output pixel; by symmetry paths to it = paths from it
    ones = torch.ones(1, 1, 3, 3)
    counts, previous = [], None
    for name in _LAYERS:
        conv = getattr(block, name)[0]
        source = delta if previous is None else previous + delta  # the cascade: y_{i-1} + x
        previous = F.conv2d(source, ones, padding=conv.padding, dilation=conv.dilation)
        counts.append(previous[0, 0])
    return torch.stack(counts)


def effective_receptive_fields(block: nn.Module, size: int | None = None, *, samples: int = 8,
                               seed: int = 0) -> torch.Tensor:
    """|∂ y_i[centre] / ∂ x|, summed over the input channels and averaged over random inputs.

    ``y_i[centre]`` is the sum over channels of branch i's output at the centre pixel; inputs are
    ``samples`` maps x ~ N(0, 1) of shape (C, size, size). The block runs in eval mode (BatchNorm
    uses its running statistics) and is left as it was: its mode is restored and its parameters'
    ``.grad`` is not touched. Returns ``(4, size, size)``.
    """
    _check_block("effective_receptive_fields", block)
    size = _default_size(block) if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 3:
        raise ValueError(f"effective_receptive_fields: size must be an int ≥ 3, got {size!r}.")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"effective_receptive_fields: samples must be an int ≥ 1, got {samples!r}.")
    param = next(block.parameters())
    gen = torch.Generator().manual_seed(seed)
    channels = block.layer1[0].in_channels
    # one batch per branch, stacked: (4 · samples, C, size, size)
    x = torch.randn(4 * samples, channels, size, size, generator=gen).to(param.device, param.dtype)
    x.requires_grad_(True)
    was_training = block.training
    block.eval()
    try:
        with torch.enable_grad():
            ys = block.scales(x)
            mid = size // 2
            # branch i is read on its own slice of the batch, so one backward pass serves all four
            total = sum(y[i * samples:(i + 1) * samples, :, mid, mid].sum() for i, y in enumerate(ys))
            (grad,) = torch.autograd.grad(total, x)
    finally:
        block.train(was_training)
    return grad.abs().sum(1).view(4, samples, size, size).mean(1).cpu()


def plot_receptive_fields(block: nn.Module, *, size: int | None = None, samples: int = 8, seed: int = 0,
                          erf: torch.Tensor | None = None):
    """Each branch's receptive field on the image grid: the taps (top) and the effective field (bottom).

    Top row: :func:`tap_counts`, each branch scaled to its own maximum (square-root colour scale);
    the 9 taps of the branch's own dilated kernel are marked with red dots, the receptive field's
    border with a dashed square. Bottom row: :func:`effective_receptive_fields` of ``block`` (or
    ``erf``, if given: ``(4, S, S)`` as that function returns), each scaled to its maximum, log
    colour scale (darkest: 10⁻³ of the maximum or less).
    """
    import matplotlib.colors as mcolors
    import matplotlib.patches as mpatches

    counts = tap_counts(block, size)
    n = counts.shape[-1]
    if erf is None:
        erf = effective_receptive_fields(block, n, samples=samples, seed=seed)
    elif tuple(erf.shape) != (4, n, n):
        raise ValueError(f"plot_receptive_fields: erf must have shape (4, {n}, {n}) to match the tap counts, "
                         f"got {tuple(erf.shape)}; pass the same size to both.")
    dilations = branch_dilations(block)
    fields = receptive_field_sizes(block)
    mid = n // 2

    plt = _pyplot()
    # one colour bar per row and shared axes: constrained layout stays quick
    fig, axes = plt.subplots(2, 4, figsize=(12.0, 6.2), sharex=True, sharey=True, layout="constrained")
    inputs = ("x", "y0 + x", "y1 + x", "y2 + x")
    extent = (-mid - 0.5, n - mid - 0.5, n - mid - 0.5, -mid - 0.5)  # axes in pixels from the centre
    cmap = plt.get_cmap("viridis").with_extremes(bad="black")
    reach = fields[-1] // 2
    for i in range(4):
        top, bottom = axes[0, i], axes[1, i]
        share = counts[i] / counts[i].max()
        paths = torch.where(counts[i] > 0, share, torch.nan).numpy()  # no path: NaN, drawn black
        shown_counts = top.imshow(paths, cmap=cmap, extent=extent, norm=mcolors.PowerNorm(0.5, vmin=0.0, vmax=1.0))
        d = dilations[i]
        top.plot([dx * d for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                 [dy * d for dy in (-1, 0, 1) for dx in (-1, 0, 1)], "o", color="red", markersize=3)
        relative = (erf[i] / erf[i].max()).clamp(min=1e-3).numpy()
        shown_erf = bottom.imshow(relative, cmap="magma", extent=extent, norm=mcolors.LogNorm(vmin=1e-3, vmax=1.0))
        half = fields[i] / 2
        for ax in (top, bottom):
            ax.add_patch(mpatches.Rectangle((-half, -half), fields[i], fields[i], fill=False, edgecolor="white",
                                            linestyle="--", linewidth=1))
        top.set_title(f"y{i} = L{i + 1}({inputs[i]}), 3×3, dilation {d}\nfield {fields[i]}×{fields[i]}, "
                      f"{int(counts[i].sum()):,} paths (max {int(counts[i].max())})", fontsize=9)
        bottom.set_title(f"y{i}: effective field, |∂y{i}[centre]/∂x|", fontsize=9)
        bottom.set_xlabel("pixels from the centre", fontsize=8)
    ticks = sorted({-reach, -dilations[-1], 0, dilations[-1], reach})  # the field's edge and the last taps
    axes[0, 0].set_xticks(ticks)
    axes[0, 0].set_yticks(ticks)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.colorbar(shown_counts, ax=axes[0, :], shrink=0.9, label="paths / the branch's maximum")
    fig.colorbar(shown_erf, ax=axes[1, :], shrink=0.9, label="gradient / its maximum")
    axes[0, 0].set_ylabel("paths if every weight were 1\n(red: this layer's 9 taps)", fontsize=9)
    axes[1, 0].set_ylabel(f"this block's weights,\nmean over {samples} random inputs", fontsize=9)
    fig.suptitle("MFE: the receptive field of each branch at the centre pixel (pixels of the input grid)")
    plt.close(fig)
    return fig
