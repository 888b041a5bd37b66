"""Chapter 03's small task where scale matters: tell a stripe pattern's period at every pixel.

A photo is covered with four striped patches of period 2, 4, 8 and 16 pixels (:func:`stripe_scenes`);
:class:`StripePeriodNet` (a 1×1 lift, :class:`~fusionlab.MFEBlock`, a 1×1 classifier) learns the
period in seconds (:func:`train_stripe_periods`); :func:`probe_branches` asks each MFE branch alone
which period it sees (a linear probe) and :func:`plot_stripe_periods` draws the answers.
:mod:`fusionlab.plots.mfe` re-exports every name, so ``from fusionlab.plots.mfe import ...`` works.

>>> stripes(4, 8)[:, 0].tolist()
[1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0]
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks.mfe import MFEBlock
from ..modes import eval_mode
from . import _pyplot, photo

__all__ = ["PERIODS", "TRAIN_PHOTOS", "stripes", "stripe_scenes", "StripePeriodNet", "StripeRun",
           "train_stripe_periods", "Probes", "probe_branches", "plot_stripe_periods", "plot_scale_weights"]


PERIODS = (2, 4, 8, 16)  # stripe periods in pixels: twice the dilations 1, 2, 4, 8
TRAIN_PHOTOS = ("astronaut", "camera", "coffee")  # the test scenes use "chelsea", never seen in training


def stripes(period: int, size: int, *, kind: int = 0, phase: int = 0) -> torch.Tensor:
    """A ``(size, size)`` pattern of ±1 with the given period in pixels: ``kind`` 0 horizontal
    stripes, 1 vertical, 2 a checkerboard; ``phase`` shifts it by that many pixels."""
    if isinstance(period, bool) or not isinstance(period, int) or period < 2 or period % 2:
        raise ValueError(f"stripes: period must be an even int ≥ 2, got {period!r}.")
    if kind not in (0, 1, 2):
        raise ValueError(f"stripes: kind must be 0 (horizontal), 1 (vertical) or 2 (checkerboard), got {kind!r}.")
    t = torch.arange(size)
    wave = ((t + phase) % period < period // 2).float() * 2 - 1  # half a period +1, half −1
    rows, cols = wave.view(-1, 1), wave.view(1, -1)
    if kind == 0:
        return rows.expand(size, size).clone()
    if kind == 1:
        return cols.expand(size, size).clone()
    return rows * cols


def _bases(photos: tuple[str, ...], side: int = 256) -> torch.Tensor:
    return torch.cat([photo(name, size=side, gray=True) for name in photos])[:, 0]  # (P, side, side)


def _scenes(count: int, size: int, gen: torch.Generator, bases: torch.Tensor,
            amplitude: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    half = size // 2
    images = torch.empty(count, 1, size, size)
    labels = torch.empty(count, size, size, dtype=torch.long)
    side = bases.shape[-1]
    for n in range(count):
        base = bases[int(torch.randint(len(bases), (1,), generator=gen))]
        top, left = (int(v) for v in torch.randint(0, side - size + 1, (2,), generator=gen))
        images[n, 0] = base[top:top + size, left:left + size]
        order = torch.randperm(len(PERIODS), generator=gen)  # every period once, in a random quadrant
        for q in range(4):
            rows = slice(0, half) if q < 2 else slice(half, size)
            cols = slice(0, half) if q % 2 == 0 else slice(half, size)
            k = int(order[q])
            period = PERIODS[k]
            kind = int(torch.randint(3, (1,), generator=gen))
            phase = int(torch.randint(period, (1,), generator=gen))
            a = amplitude[0] + (amplitude[1] - amplitude[0]) * float(torch.rand(1, generator=gen))
            h, w = rows.stop - rows.start, cols.stop - cols.start
            images[n, 0, rows, cols] += a * stripes(period, max(h, w), kind=kind, phase=phase)[:h, :w]
            labels[n, rows, cols] = k
    return images, labels


def stripe_scenes(count: int, size: int = 48, *, seed: int = 0, photos: tuple[str, ...] = TRAIN_PHOTOS,
                  amplitude: tuple[float, float] = (0.1, 0.2)) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo crops covered with four striped quadrants, one of each period in :data:`PERIODS`.

    Each scene is a random ``size``×``size`` crop of a gray photo (``photos``, 256×256) plus, in each
    quadrant, stripes of one period (random order, orientation, phase, and an amplitude drawn from
    ``amplitude``). Returns ``images (count, 1, size, size)`` and ``labels (count, size, size)``: the
    index into :data:`PERIODS` at every pixel. The same arguments give the same scenes.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"stripe_scenes: count must be an int ≥ 1, got {count!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 256:
        raise ValueError(f"stripe_scenes: size must be an int between 8 and 256, got {size!r}.")
    return _scenes(count, size, torch.Generator().manual_seed(seed), _bases(tuple(photos)), amplitude)


class StripePeriodNet(nn.Module):
    """A 1×1 conv lifts the gray image to C channels, :class:`~fusionlab.MFEBlock` does all the
    spatial work, a 1×1 conv reads a score per period at every pixel.

    Shapes: ``(B, 1, H, W)`` -> ``(B, len(PERIODS), H, W)``. The stem and the head see one pixel
    each, so every view of the neighbourhood comes from MFE's branches.
    """

    def __init__(self, channels: int = 8, atrous_rates: tuple[int, int, int] = (2, 4, 8)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 1)
        self.mfe = MFEBlock(channels, atrous_rates=atrous_rates)
        self.head = nn.Conv2d(channels, len(PERIODS), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mfe(self.stem(x)))


@dataclass
class StripeRun:
    """What :func:`train_stripe_periods` returns: the trained ``model`` (eval mode), the loss of every
    step, the untrained copy's weights on the test scenes, and this machine's wall time."""

    model: StripePeriodNet
    losses: list[float]
    untrained: StripePeriodNet
    seconds: float
    config: dict = field(default_factory=dict)


def train_stripe_periods(channels: int = 8, *, steps: int = 200, size: int = 48, batch: int = 8, lr: float = 1e-2,
                         seed: int = 0, device: torch.device | str | None = None) -> StripeRun:
    """Train :class:`StripePeriodNet` to tell the stripe period at every pixel (cross-entropy, Adam).

    Every step draws ``batch`` new scenes (:func:`stripe_scenes` on the training photos). With the
    defaults: 200 steps of 8 scenes 48×48, C = 8 — a few seconds to 20 s on one CPU thread. The same
    seed gives the same model on the same machine and library versions.
    """
    for name, value, low in (("steps", steps, 1), ("batch", batch, 1), ("size", size, 8)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (name == "size" and value > 256):
            valid = "between 8 and 256" if name == "size" else "≥ 1"
            raise ValueError(f"train_stripe_periods: {name} must be an int {valid}, got {value!r}.")
    device = torch.device(device or "cpu")
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        model = StripePeriodNet(channels)
    untrained = copy.deepcopy(model)
    model.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    bases = _bases(TRAIN_PHOTOS)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        x, y = _scenes(batch, size, gen, bases, (0.1, 0.2))
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    return StripeRun(model.cpu().eval(), losses, untrained.eval(), seconds,
                     {"channels": channels, "steps": steps, "size": size, "batch": batch, "lr": lr, "seed": seed})


@dataclass
class Probes:
    """What each view tells: ``recall[v, k]`` is the share of the test pixels of period ``PERIODS[k]``
    that the probe on view ``names[v]`` labels right; ``maps[v]`` its answer at every test pixel."""

    names: tuple[str, ...]
    recall: torch.Tensor  # (V, len(PERIODS))
    accuracy: torch.Tensor  # (V,)
    maps: torch.Tensor  # (V, N, H, W) long

    def row(self, name: str) -> dict[int, float]:
        v = self.names.index(name)
        return {p: float(r) for p, r in zip(PERIODS, self.recall[v])}


def _views(model: StripePeriodNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad(), eval_mode(model):
        f = model.stem(x)
        ys = model.mfe.scales(f)
        return {"x": f, **{f"y{i}": y for i, y in enumerate(ys)}, "model": model(x)}


def _fit_probe(features: torch.Tensor, labels: torch.Tensor, iters: int):
    # multinomial logistic regression on standardised per-pixel features; convex, so a zero start is fine
    c = features.shape[1]
    flat = features.permute(0, 2, 3, 1).reshape(-1, c)
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    weight = torch.zeros(c, len(PERIODS), requires_grad=True)
    bias = torch.zeros(len(PERIODS), requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=iters, line_search_fn="strong_wolfe")
    target = labels.reshape(-1)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(((flat - mean) / std) @ weight + bias, target)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = weight.detach(), bias.detach()
    return lambda feats: (((feats.permute(0, 2, 3, 1) - mean) / std) @ w + b).argmax(-1)  # (N, H, W)


def probe_branches(model: StripePeriodNet, fit: tuple[torch.Tensor, torch.Tensor],
                   test: tuple[torch.Tensor, torch.Tensor], *, iters: int = 50) -> Probes:
    """A linear probe per view: the best per-pixel linear classifier of the period that reads only
    that view's C channels at the pixel, fitted on ``fit`` scenes, scored on ``test`` scenes.

    Views: ``x`` (the stem's output: the pixel alone, no neighbourhood), ``y0``–``y3`` (MFE's
    branches) and ``model`` (the trained network's own answer, no probe).
    """
    fit_views, test_views = _views(model, fit[0]), _views(model, test[0])
    names, maps = [], []
    for name in ("x", "y0", "y1", "y2", "y3", "model"):
        if name == "model":
            pred = test_views[name].argmax(1)
        else:
            pred = _fit_probe(fit_views[name], fit[1], iters)(test_views[name])
        names.append(name)
        maps.append(pred)
    maps = torch.stack(maps)
    truth = test[1]
    recall = torch.stack([torch.stack([(m[truth == k] == k).float().mean() for k in range(len(PERIODS))])
                          for m in maps])
    accuracy = (maps == truth).float().mean((1, 2, 3))
    return Probes(tuple(names), recall, accuracy, maps)


_PERIOD_COLOURS = ((0.27, 0.47, 0.82), (0.35, 0.73, 0.38), (0.95, 0.75, 0.2), (0.84, 0.27, 0.3))


def _period_rgb(labels: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` period indices -> ``(H, W, 3)`` colours (one fixed colour per period)."""
    return torch.tensor(_PERIOD_COLOURS)[labels]


def plot_stripe_periods(scene: torch.Tensor, truth: torch.Tensor, probes: Probes, *, index: int = 0):
    """One test scene: the input, the true period at every pixel, each branch's probe answer and the
    trained model's answer (colours: period 2, 4, 8, 16 px), with each answer's accuracy on all test
    scenes in its title."""
    import matplotlib.patches as mpatches

    plt = _pyplot()
    fig, axes = plt.subplots(1, 8, figsize=(11.0, 2.3), layout="constrained")
    axes[0].imshow(scene[index, 0].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("input", fontsize=9)
    axes[1].imshow(_period_rgb(truth[index]).numpy())
    axes[1].set_title("true period", fontsize=9)
    labels = {"x": "pixel alone", "y0": "y0 (3×3)", "y1": "y1 (7×7)", "y2": "y2 (15×15)", "y3": "y3 (31×31)",
              "model": "trained model"}
    for ax, name in zip(axes[2:], probes.names):
        v = probes.names.index(name)
        ax.imshow(_period_rgb(probes.maps[v, index]).numpy())
        ax.set_title(f"{labels.get(name, name)}\n{float(probes.accuracy[v]):.0%} right", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    handles = [mpatches.Patch(color=c, label=f"{p} px") for c, p in zip(_PERIOD_COLOURS, PERIODS)]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8, title="stripe period",
               title_fontsize=8)
    plt.close(fig)
    return fig


def plot_scale_weights(before: torch.Tensor, after: torch.Tensor):
    """MFE's fusion weights ``(4, C)`` (one image, or a mean over images) before and after training, on
    the scale of the range they can reach, about 0.109–0.475 (chapter 02), with the value in each cell."""
    from .msf import squeeze_bounds

    lo, hi = squeeze_bounds(4)
    plt = _pyplot()
    c = before.shape[-1]
    fig, axes = plt.subplots(1, 2, figsize=(min(1.6 + 0.4 * c, 4.6) * 2, 2.3), layout="constrained")
    for ax, w, title in ((axes[0], before, "untrained"), (axes[1], after, "trained")):
        shown = ax.imshow(w.numpy(), cmap="viridis", vmin=lo, vmax=hi, aspect="auto")
        for (s, j), v in zip(((s, j) for s in range(4) for j in range(c)), w.reshape(-1).tolist()):
            # the value in each cell; dark text on the bright (high) end of viridis
            ax.text(j, s, f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if v > (lo + hi) / 2 else "white")
        ax.set_yticks(range(4), [f"y{i}" for i in range(4)])
        ax.set_xticks(range(c), [str(j) for j in range(c)], fontsize=7)
        ax.set_xlabel("channel")
        ax.set_title(f"{title}: weights in [{float(w.min()):.2f}, {float(w.max()):.2f}]", fontsize=9)
    fig.colorbar(shown, ax=axes, shrink=0.9, label=f"weight\n(reachable: {lo:.3f}–{hi:.3f})")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- play: other rates, same filters
