"""Figures of the stitching lab (:mod:`fusionlab.lab`): the comparison, learning curves, trained maps.

Each function takes what it draws (a comparison, results, captured maps), never runs a network,
and does not import :mod:`fusionlab.lab`. It returns a matplotlib ``Figure`` that is already closed
in pyplot (see :mod:`fusionlab.plots`), so a notebook shows it once.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from . import _pyplot, to_numpy_image

__all__ = ["plot_comparison", "plot_history", "show_lab_maps", "plot_lab_scale_weights", "plot_course_growth"]


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
    references = list(getattr(comparison, "references", []))
    for k, ref in enumerate(references):  # seedless models (logistic regression): a dotted line
        ax_acc.axhline(ref["accuracy"], color=f"C{(k + 3) % 10}", linestyle=":", label=ref["block"])
    low = min([min(r["accuracies"]) for r in rows] + [ref["accuracy"] for ref in references])
    ax_acc.set_ylim(max(0.0, low - 0.05), min(1.0, max(max(r["accuracies"]) for r in rows) + 0.1))
    if references:
        ax_acc.legend(fontsize=7, loc="upper left")
    ax_acc.set_xticks(list(xs), names, rotation=35, ha="right")
    ax_acc.set_ylabel("validation accuracy")
    ax_acc.set_title(f"accuracy over {len(comparison.seeds)} seeds (dots: single runs)")

    for i, r in enumerate(rows):
        ax_flops.errorbar(r["flops"], r["accuracy_mean"], yerr=r["accuracy_std"], fmt="o", color=f"C{i % 10}",
                          capsize=3)
    ax_flops.set_xscale("log")
    ax_flops.margins(x=0.12)  # room for the label of the right-most point
    _label_points(ax_flops, [(r["flops"], r["accuracy_mean"]) for r in rows], stds, names,
                  [f"C{i % 10}" for i in range(len(rows))])
    ax_flops.set_xlabel("FLOPs per image (whole network, log scale)")
    ax_flops.set_ylabel("validation accuracy")
    ax_flops.set_title("accuracy against cost")
    epochs = comparison.epochs
    fig.suptitle(title or f"the stitching lab: {epochs} epoch{'s' if epochs != 1 else ''} per run")
    plt.close(fig)
    return fig


def _label_points(ax: Any, points: Sequence[tuple[float, float]], errors: Sequence[float], labels: Sequence[str],
                  colors: Sequence[str], fontsize: float = 8) -> None:
    """Annotate each point with its label in the point's colour: right of it or, if that would overprint a
    label placed before, another point or its error bar, left of it, then a line lower or higher, joined to
    its point by a thin line (points close in FLOPs and accuracy, e.g. msf and safm, stay readable)."""
    ax.autoscale_view()
    to_points = 72.0 / ax.figure.dpi  # display pixels -> points, the unit of xytext
    where = [tuple(ax.transData.transform(p) * to_points) for p in points]
    placed = []  # boxes (x0, y0, x1, y1) in points: the markers with their error bars, then the labels
    for (x, y), (fx, fy), err in zip(where, points, errors):
        low, high = (ax.transData.transform([(fx, fy - err), (fx, fy + err)])[:, 1] * to_points).tolist()
        placed.append((x - 5, min(low, y - 5), x + 5, max(high, y + 5)))
    for i in sorted(range(len(points)), key=lambda i: -points[i][1]):  # from the top down
        px, py = where[i]
        width, height = 0.62 * fontsize * len(labels[i]), 1.1 * fontsize  # rough text box, in points
        for dy in (4, -12, 16, -24, 28, -36):
            for dx in (6, -6):  # right of the point, else left of it
                left = px + dx if dx > 0 else px + dx - width
                box = (left, py + dy, left + width, py + dy + height)
                if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                           for j, b in enumerate(placed) if j != i):
                    break
            else:
                continue
            break
        placed.append(box)
        moved = (dx, dy) != (6, 4)  # a moved label gets a thin line to its point
        ax.annotate(labels[i], points[i], textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                    color=colors[i], ha="left" if dx > 0 else "right",
                    arrowprops=dict(arrowstyle="-", color=colors[i], linewidth=0.6, shrinkA=1, shrinkB=4) if moved else None)


def plot_history(results: Sequence[Any], *, title: str | None = None):
    """Validation accuracy after each epoch, one line per block (:class:`fusionlab.lab.LabResult` runs).

    Several seeds of one block are drawn as their mean with a band of ± one standard deviation.
    """
    import numpy as np

    results = list(results)
    if not results:
        raise ValueError("plot_history: no results to plot.")
    by_block: dict[str, list] = {}
    for r in results:
        by_block.setdefault(r.block, []).append(r)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for i, (name, runs) in enumerate(by_block.items()):
        epochs = min(len(r.history) for r in runs)
        acc = np.array([[h["val_accuracy"] for h in r.history[:epochs]] for r in runs])  # (seeds, epochs)
        x = np.arange(1, epochs + 1)
        label = name if len(runs) == 1 else f"{name} ({len(runs)} seeds)"
        ax.plot(x, acc.mean(0), "o-", color=f"C{i % 10}", label=label, markersize=4)
        if len(runs) > 1:
            ax.fill_between(x, acc.mean(0) - acc.std(0, ddof=1), acc.mean(0) + acc.std(0, ddof=1), color=f"C{i % 10}",
                            alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_xticks(np.arange(1, max(len(r.history) for r in results) + 1))
    ax.legend(fontsize=7, ncols=2)
    ax.set_title(title or "learning curves")
    plt.close(fig)
    return fig


def _constant(maps: torch.Tensor) -> bool:
    # the rule of fusionlab.lab.MapReading.constant: max − min below 1e-3 (relative for large values)
    top = float(maps.max())
    return top - float(maps.min()) < 1e-3 * max(1.0, abs(top))


def _captured(maps: Mapping[str, Any], kind: str) -> list[tuple[str, Any, torch.Tensor]]:
    if not isinstance(maps, Mapping):
        raise TypeError(f"expected a mapping name -> (probe, map) as fusionlab.lab.capture_maps returns, "
                        f"got {type(maps).__name__}.")
    return [(name, c[0], c[1]) for name, c in maps.items() if c is not None and c[0].kind == kind]


def show_lab_maps(maps: Mapping[str, Any], images: torch.Tensor, *, labels: Sequence[int] | None = None,
                  boxes: torch.Tensor | None = None, title: str | None = None):
    """Spatial gate/attention maps of trained lab networks, one row per block, under the images they came from.

    Args:
        maps: name -> ``(probe, map)`` as :func:`fusionlab.lab.capture_maps` returns (map ``(N, H, W)``);
            entries that are None or hold weights per scale are skipped (see :func:`plot_lab_scale_weights`).
        images: the N canvases ``(N, 1, S, S)`` the maps were computed on (top row).
        labels: their classes, shown over the images.
        boxes: ``(N, 3)`` rows ``(top, left, side)``: each digit's box, outlined in red on the images.

    Each row has its own colour scale, given in its title. A map that is constant (max − min below
    1e-3) is not drawn: its row says so and names the value. Returns None when no map is spatial.
    """
    from matplotlib.patches import Rectangle

    rows = _captured(maps, "spatial")
    if not rows:
        return None
    plt = _pyplot()
    n = len(images)
    fig = plt.figure(figsize=(1.25 * n + 1.0, 1.55 * (len(rows) + 1) + 0.4), layout="constrained")
    # one sub-figure per row, so each row has its own title and colour bar
    subfigs = fig.subfigures(len(rows) + 1, 1)
    top = subfigs[0].subplots(1, n, squeeze=False)[0]
    for i, ax in enumerate(top):
        ax.imshow(to_numpy_image(images[i].cpu()), cmap="gray_r")
        if boxes is not None:
            y, x, side = (int(v) for v in boxes[i])
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), side, side, fill=False, edgecolor="red", linewidth=1))
        ax.set_axis_off()
        if labels is not None:
            ax.set_title(f"digit {int(labels[i])}", fontsize=8)
    subfigs[0].suptitle(title or "trained gates and attention maps on validation canvases", fontsize=10)
    for sub, (name, probe, m) in zip(subfigs[1:], rows):
        axes = sub.subplots(1, n, squeeze=False)[0]
        if _constant(m):
            for ax in axes:
                ax.set_axis_off()
            sub.suptitle(f"{name}: {probe.label}: constant {float(m.max()):.3g} on every position and "
                         f"image, nothing to draw", fontsize=8, x=0.01, ha="left")
            continue
        vmin, vmax = float(m.min()), float(m.max())
        for i, ax in enumerate(axes):
            shown = ax.imshow(m[i].numpy(), cmap="viridis", vmin=vmin, vmax=vmax)
            ax.set_axis_off()
        sub.colorbar(shown, ax=axes.tolist(), shrink=0.9, pad=0.01)
        sub.suptitle(f"{name}: {probe.label} (colour scale {vmin:.3g} to {vmax:.3g})", fontsize=8, x=0.01, ha="left")
    plt.close(fig)
    return fig


def plot_lab_scale_weights(maps: Mapping[str, Any], *, title: str | None = None):
    """Weights per scale (MSF, MFE) of trained lab networks: their spread over images, one panel per block.

    ``maps``: name -> ``(probe, weights (N, S))`` as :func:`fusionlab.lab.capture_maps` returns;
    spatial maps and None are skipped. Each weight is averaged over channels; the dashed line is the
    uniform weight 1/S. Returns None when no entry holds weights per scale.
    """
    panels = _captured(maps, "scales")
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False, layout="constrained")
    for ax, (name, probe, weights) in zip(axes[0], panels):
        n_scales = weights.shape[1]
        ax.boxplot([weights[:, i].numpy() for i in range(n_scales)], tick_labels=[f"scale {i}" for i in range(n_scales)])
        ax.axhline(1.0 / n_scales, color="gray", linestyle="--", label=f"uniform 1/{n_scales}")
        ax.set_ylabel("weight")
        ax.set_title(f"{name}: {probe.label}", fontsize=8)
        ax.legend(fontsize=8)
    n = len(panels[0][2])
    fig.suptitle(title or f"weights per scale over {n} validation canvases", fontsize=10)
    plt.close(fig)
    return fig


def plot_course_growth(growths: Sequence[Any], *, title: str | None = None):
    """FLOPs and parameters against H·W for several blocks on shared log–log axes.

    ``growths`` are :func:`fusionlab.cost_growth` results (one per block). A line of slope 1
    means cost proportional to the number of pixels; slope 2, to pixel pairs (global attention).
    """
    from ..costs import FLOPS_NOTE

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
