"""Figures of the stitching lab (:mod:`fusionlab.lab`): the comparison, learning curves, trained maps.

Each function returns a matplotlib ``Figure`` that is already closed in pyplot (see
:mod:`fusionlab.plots`), so a notebook shows it once.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from . import _pyplot, to_numpy_image

__all__ = ["plot_comparison", "plot_history", "show_lab_maps", "plot_course_growth"]


def plot_comparison(comparison: Any, *, title: str | None = None):
    """Validation accuracy per block (mean ± std over seeds, each seed a dot) and accuracy against FLOPs.

    ``comparison`` is :func:`fusionlab.lab.compare`'s result.
    """
    rows = comparison.rows
    if not rows:
        raise ValueError("plot_comparison: the comparison has no rows.")
    plt = _pyplot()
    fig, (ax_acc, ax_flops) = plt.subplots(1, 2, figsize=(11.0, 3.8), layout="constrained")
    names = [r["block"] for r in rows]
    xs = range(len(rows))
    means = [r["accuracy_mean"] for r in rows]
    stds = [r["accuracy_std"] for r in rows]
    ax_acc.bar(xs, means, yerr=stds, capsize=4, color="C0", alpha=0.6, label="mean ± std")
    for x, r in zip(xs, rows):
        ax_acc.plot([x] * len(r["accuracies"]), r["accuracies"], "k.", markersize=5)
    low = min(min(r["accuracies"]) for r in rows)
    ax_acc.set_ylim(max(0.0, low - 0.1), 1.0)
    ax_acc.set_xticks(list(xs), names, rotation=35, ha="right")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.set_title(f"accuracy over {len(comparison.seeds)} seeds (dots: single runs)")

    for i, r in enumerate(rows):
        ax_flops.errorbar(r["flops"], r["accuracy_mean"], yerr=r["accuracy_std"], fmt="o", color=f"C{i % 10}",
                          capsize=3)
        ax_flops.annotate(r["block"], (r["flops"], r["accuracy_mean"]), textcoords="offset points", xytext=(4, 4),
                          fontsize=8)
    ax_flops.set_xscale("log")
    ax_flops.set_xlabel("FLOPs per digit (whole network, log scale)")
    ax_flops.set_ylabel("validation accuracy")
    ax_flops.set_title("accuracy against cost")
    fig.suptitle(title or f"the stitching lab: {comparison.epochs} epochs per run")
    plt.close(fig)
    return fig


def plot_history(results: Sequence[Any], *, title: str | None = None):
    """Validation accuracy after each epoch, one line per run (:class:`fusionlab.lab.LabResult`)."""
    results = list(results)
    if not results:
        raise ValueError("plot_history: no results to plot.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    colours: dict[str, str] = {}
    for r in results:
        colour = colours.setdefault(r.block, f"C{len(colours) % 10}")
        epochs = [h["epoch"] for h in r.history]
        label = r.block if sum(q.block == r.block for q in results[: results.index(r)]) == 0 else None
        ax.plot(epochs, [h["val_accuracy"] for h in r.history], "o-", color=colour, alpha=0.8, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(title or "learning curves")
    plt.close(fig)
    return fig


def show_lab_maps(model: Any, images: torch.Tensor, *, labels: Sequence[int] | None = None, title: str | None = None):
    """A trained lab network's gate/attention map on some digits (read by a forward hook).

    Spatial maps: the digits in the top row, the map under each (one colour scale). Weights per
    scale (MSF, MFE): their mean and spread over the digits, with the uniform weight 1/S dashed.
    Returns None when the block has no map (see :data:`fusionlab.lab.MAPS`).
    """
    from ..lab import capture_maps

    captured = capture_maps(model, images)
    if captured is None:
        return None
    probe, maps = captured
    plt = _pyplot()
    name = model.block_name
    if probe.kind == "scales":
        fig, ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
        n_scales = maps.shape[1]
        ax.boxplot([maps[:, i].numpy() for i in range(n_scales)], tick_labels=[f"scale {i}" for i in range(n_scales)])
        ax.axhline(1.0 / n_scales, color="gray", linestyle="--", label=f"uniform 1/{n_scales}")
        ax.set_ylabel("weight")
        ax.legend(fontsize=8)
        ax.set_title(title or f"{name}: {probe.label}\n(over {len(maps)} validation digits)", fontsize=9)
        plt.close(fig)
        return fig
    n = len(maps)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 0.8, 3.6), squeeze=False, layout="constrained")
    vmin, vmax = float(maps.min()), float(maps.max())
    shown = None
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(to_numpy_image(images[i].cpu()), cmap="gray")
        if labels is not None:
            top.set_title(f"digit {int(labels[i])}", fontsize=8)
        shown = bottom.imshow(maps[i].numpy(), cmap="viridis", vmin=vmin, vmax=vmax)
        top.set_axis_off()
        bottom.set_axis_off()
    fig.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.9)
    fig.suptitle(title or f"{name}: {probe.label}", fontsize=9)
    plt.close(fig)
    return fig


def plot_course_growth(growths: Sequence[Any], *, title: str | None = None):
    """FLOPs and parameters against H·W for several blocks on shared log–log axes.

    ``growths`` are :func:`fusionlab.cost.cost_growth` results (one per block). A line of slope 1
    means cost proportional to the number of pixels; slope 2, to pixel pairs (global attention).
    """
    from ..cost import FLOPS_NOTE

    growths = list(growths)
    if not growths:
        raise ValueError("plot_course_growth: no growth results to plot.")
    plt = _pyplot()
    fig, (ax_flops, ax_params) = plt.subplots(1, 2, figsize=(11.0, 4.0), layout="constrained")
    markers = "os^vD<>ph*"
    for i, g in enumerate(growths):
        rows = list(g)
        hw = [r["hw"] for r in rows]
        style = dict(marker=markers[i % len(markers)], color=f"C{i % 10}", label=g.block, markersize=4)
        ax_flops.plot(hw, [r["flops"] for r in rows], "-", **style)
        ax_params.plot(hw, [r["params"] for r in rows], "--", **style)
    for ax, what in ((ax_flops, "FLOPs*"), (ax_params, "parameters")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("H·W (pixels)")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    ax_flops.set_title("FLOPs per forward pass")
    ax_params.set_title("parameters (most do not depend on H·W)")
    ax_params.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title or "how cost grows with resolution")
    fig.text(0.01, -0.02, "* " + FLOPS_NOTE, fontsize=7, ha="left", va="top", wrap=True)
    plt.close(fig)
    return fig
