"""Pictures for the chapters: a bundled photograph, grids of maps, overlays, cost curves.

The core lives here; each chapter's own figures (gate maps, attention of one pixel, …) live
in one module per block beside it (``fusionlab.plots.osra``, …), built on these helpers.

Every function returns a matplotlib ``Figure`` that is already closed in pyplot, so a
notebook shows it exactly once: as the cell's last value, or with ``display(fig)``.
matplotlib, NumPy and scikit-image are imported on first use (``pip install "fusionlab[course]"``).

>>> x = photo("astronaut", size=64)
>>> tuple(x.shape), x.dtype
((1, 3, 64, 64), torch.float32)
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

__all__ = ["PHOTOS", "photo", "to_numpy_image", "show_maps", "overlay", "plot_growth", "fit_cut_out"]

# skimage.data images that ship inside scikit-image (no download)
PHOTOS = ("astronaut", "camera", "coffee", "chelsea")

# ITU-R BT.601 luma weights: the usual RGB -> gray conversion
_LUMA = (0.299, 0.587, 0.114)


def photo(name: str = "astronaut", size: int | tuple[int, int] | None = 128, gray: bool = False) -> torch.Tensor:
    """A bundled photograph from ``skimage.data`` as a float32 tensor in [0, 1].

    Args:
        name: one of :data:`PHOTOS` (``astronaut``, ``camera``, ``coffee``, ``chelsea``).
        size: an int S gives the centre square crop resized to S×S; a pair (H, W) resizes the whole
            picture to H×W; None keeps the original size. Resizing is antialiased bilinear.
        gray: one luminance channel instead of RGB (``camera`` is gray already; without
            ``gray`` its channel is repeated three times).

    Returns:
        ``(1, C, H, W)`` with C = 1 if ``gray`` else 3. Always the same values for the same arguments.
    """
    if name not in PHOTOS:
        raise ValueError(f"photo: name must be one of {', '.join(PHOTOS)}; got {name!r}.")
    if size is not None and not (
        (isinstance(size, int) and size >= 1)
        or (isinstance(size, tuple) and len(size) == 2 and all(isinstance(s, int) and s >= 1 for s in size))
    ):
        raise ValueError(f"photo: size must be an int ≥ 1, a pair (H, W) of them, or None; got {size!r}.")
    try:
        import skimage.data
    except ImportError as err:  # without the course extras
        raise ImportError(
            "photo needs scikit-image (its photographs ship inside it): pip install scikit-image "
            "(or pip install 'fusionlab[course]')."
        ) from err

    array = getattr(skimage.data, name)()  # uint8, (H, W) or (H, W, 3)
    x = torch.from_numpy(array.copy()).float().div_(255.0)
    x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)  # (C, H, W)
    if isinstance(size, int):
        h, w = x.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, top : top + side, left : left + side]
        size = (size, size)
    x = x.unsqueeze(0)
    if size is not None and tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    if gray and x.shape[1] == 3:
        x = (x * torch.tensor(_LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif not gray and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.clamp(0.0, 1.0).contiguous()


def fit_cut_out(net: torch.nn.Module, opt: torch.optim.Optimizer, batches: Any, steps: int) -> list[float]:
    """Train ``net`` to keep what a mask covers and erase the rest: ``steps`` Adam steps of
    ``mse(net(x), x · mask)`` over ``(x, mask) = batches()``; the loss per step.

    The chapters' small "see it" tasks (a striped disc pasted on a photo: chapters 06 and 07) share
    this loop; they differ in the network and in how the pictures are made.
    """
    losses = []
    for _ in range(steps):
        x, mask = batches()
        loss = F.mse_loss(net(x), x * mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def to_numpy_image(t: Any):
    """A tensor or array as a NumPy image for ``imshow``: ``(H, W)`` or ``(H, W, 3)``, float.

    Accepts ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` with C = 1 or 3 (channels first, the torch
    way), and ``(H, W, 3)`` arrays (channels last). Detaches and moves tensors to the CPU.
    """
    import numpy as np

    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float32).numpy()
    a = np.asarray(t, dtype=np.float32)
    while a.ndim > 2 and a.shape[0] == 1 and not (a.ndim == 3 and a.shape[-1] == 3):
        a = a[0]  # drop batch and single-channel dimensions
    if a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] == 3)):
        raise ValueError(
            f"to_numpy_image: expected a map (H, W) or an RGB image (3, H, W) / (H, W, 3), possibly with "
            f"a leading batch of 1, got shape {tuple(np.shape(t))}."
        )
    return a


def _items(maps: Any) -> list:
    if isinstance(maps, (list, tuple)):
        return list(maps)
    if isinstance(maps, Mapping):
        return list(maps.values())
    shape = tuple(maps.shape)
    if len(shape) == 4 and shape[0] == 1:
        shape, maps = shape[1:], maps[0]
    if len(shape) == 3:
        return [maps[i] for i in range(shape[0])]  # a stack of N maps
    return [maps]


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def show_maps(
    maps: Any,
    titles: Sequence[str] | None = None,
    *,
    cmap: str = "viridis",
    colorbar: bool | str = True,
    vmin: float | None = None,
    vmax: float | None = None,
    suptitle: str | None = None,
    ncols: int | None = None,
    size: float = 2.4,
):
    """A grid of pictures: heat maps with colour bars, RGB images without.

    Args:
        maps: a list (or dict, its keys become titles) of tensors/arrays, each a map ``(H, W)`` or
            an RGB image ``(3, H, W)`` / ``(H, W, 3)``; or one tensor ``(N, H, W)`` = N maps.
        titles: one per map.
        cmap: colour map of the heat maps.
        colorbar: ``True`` one colour bar per heat map, ``"shared"`` one scale (same vmin/vmax) and
            one bar for all heat maps, ``False`` none.
        vmin, vmax: fix the colour scale (e.g. 0 and 1 for gates and attention weights).
        suptitle: a title over the grid.
        ncols: maps per row (default: all in one row up to 4).
        size: inches per panel.
    """
    import numpy as np

    if isinstance(maps, Mapping) and titles is None:
        titles = list(maps)
    arrays = [to_numpy_image(m) for m in _items(maps)]
    if not arrays:
        raise ValueError("show_maps: maps is empty; pass at least one map or image.")
    if titles is not None and len(titles) != len(arrays):
        raise ValueError(f"show_maps: got {len(arrays)} maps but {len(titles)} titles.")
    if colorbar not in (True, False, "shared"):
        raise ValueError(f"show_maps: colorbar must be True, False or 'shared'; got {colorbar!r}.")
    ncols = ncols or min(len(arrays), 4)
    nrows = -(-len(arrays) // ncols)
    heat = [a for a in arrays if a.ndim == 2]
    if colorbar == "shared" and heat:
        vmin = float(min(a.min() for a in heat)) if vmin is None else vmin
        vmax = float(max(a.max() for a in heat)) if vmax is None else vmax

    plt = _pyplot()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols + 0.6, size * nrows + (0.4 if suptitle else 0)),
        squeeze=False, layout="constrained",
    )
    heat_axes, last_image = [], None
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(arrays):
            continue
        a = arrays[i]
        if a.ndim == 3:  # RGB: values are colours, no colour bar
            ax.imshow(np.clip(a, 0.0, 1.0))
        else:
            last_image = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
            heat_axes.append(ax)
            if colorbar is True:
                fig.colorbar(last_image, ax=ax, fraction=0.046, pad=0.04)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if colorbar == "shared" and heat_axes:
        fig.colorbar(last_image, ax=heat_axes, shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    plt.close(fig)
    return fig


def overlay(
    image: Any,
    heat: Any,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    title: str | None = None,
    colorbar: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    ax=None,
):
    """A heat map drawn over a photograph (e.g. where a gate or an attention head looks).

    ``heat`` ``(h, w)`` is resized (bilinear) to the image's ``(H, W)`` when smaller, as attention
    maps often are. Draws into ``ax`` if given, else into a new figure; returns the figure.
    """
    import numpy as np

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha!r}.")
    img = np.clip(to_numpy_image(image), 0.0, 1.0)
    h = to_numpy_image(heat)
    if h.ndim != 2:
        raise ValueError(f"overlay: heat must be one map (H, W), got shape {h.shape}.")
    if h.shape != img.shape[:2]:
        h = F.interpolate(
            torch.from_numpy(h)[None, None], size=img.shape[:2], mode="bilinear", align_corners=False
        )[0, 0].numpy()
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.0), layout="constrained")
        plt.close(fig)
    fig = ax.figure
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
    shown = ax.imshow(h, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return fig


def _plain_log_x(ax, values: Sequence[float]) -> None:
    """A log x axis labelled at the data points in plain numbers (no "2×10² 3×10²" minor-tick labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelrotation=30)


def plot_growth(growth: Any, *, title: str | None = None):
    """Parameters and FLOPs (and CPU latency, when measured) against H·W, log–log.

    ``growth`` is :func:`fusionlab.costs.cost_growth`'s result or a list of its row dicts
    (``hw``, ``params``, ``flops``, ``latency``). FLOPs that double with H·W lie on a line of
    slope 1; attention over all pixel pairs would show slope 2.
    """
    from ..costs import FLOPS_NOTE

    rows = list(growth)
    if not rows:
        raise ValueError("plot_growth: no rows to plot.")
    hw = [r["hw"] for r in rows]
    timed = [r for r in rows if r.get("latency") is not None]
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(9.0 if timed else 5.0, 3.6), squeeze=False,
                             layout="constrained")
    ax = axes[0, 0]
    ax.plot(hw, [r["flops"] for r in rows], "o-", label="FLOPs*")
    ax.plot(hw, [r["params"] for r in rows], "s--", label="parameters")
    _plain_log_x(ax, hw)
    ax.set_yscale("log")
    ax.set_xlabel("H·W (pixels)")
    ax.set_ylabel("count")
    ax.set_title("parameters and FLOPs")
    ax.legend()
    if timed:
        ax2 = axes[0, 1]
        ax2.plot([r["hw"] for r in timed], [r["latency"] * 1e3 for r in timed], "o-", color="C2")
        _plain_log_x(ax2, [r["hw"] for r in timed])
        ax2.set_yscale("log")
        ax2.set_xlabel("H·W (pixels)")
        ax2.set_ylabel("latency (ms, warm median)")
        ax2.set_title("CPU latency on this machine (noisy)")
    name = getattr(growth, "block", None)
    fig.suptitle(title or (f"{name}: cost as H·W grows" if name else "cost as H·W grows"))
    fig.text(0.01, -0.02, "* " + FLOPS_NOTE, fontsize=7, ha="left", va="top", wrap=True)
    plt.close(fig)
    return fig
