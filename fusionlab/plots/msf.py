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
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import i18n
from ..blocks.msf import scale_weights, select_scales
from . import _pyplot

__all__ = ["squeeze_bounds", "squeezed_weights", "photo_scales", "plot_squeeze", "plot_scale_weights", "NoisyScene",
           "noisy_scene", "fit_squeezes", "weight_bars", "play", "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English
PLAY_TEXT = {
    "en": {
        "name": "MSF: logit gap → the four weights → the fused photo",
        "weights": "weights: red MSF, blue plain",
        "fused_msf": "fused, MSF softmax(σ(l))",
        "fused_plain": "fused, plain softmax(l)",
        "clean": "clean photo (target)",
        "caption": ("gap {gap:g}: scale {winner} gets {squeezed:.3f} from MSF (its cap is {cap:.3f}) "
                    "and {plain:.3f} from a plain softmax. Error against the clean photo: "
                    "MSF {err_squeezed:.4f}, plain {err_plain:.4f}."),
    },
    "zh": {
        "name": "MSF：logit 差距 → 四个权重 → 融合照片",
        "weights": "权重：红为 MSF，蓝为普通 softmax",
        "fused_msf": "融合结果，MSF 的 softmax(σ(l))",
        "fused_plain": "融合结果，普通 softmax(l)",
        "clean": "干净照片（目标）",
        "caption": ("logit 差距为 {gap:g}：尺度 {winner} 从 MSF 得到的权重为 {squeezed:.3f}（上限 {cap:.3f}），"
                    "从普通 softmax 得到 {plain:.3f}。与干净照片的误差：MSF 为 {err_squeezed:.4f}，"
                    "普通 softmax 为 {err_plain:.4f}。"),
    },
}


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
    itself). When f divides H and W, block averaging and the bilinear resize keep each channel's
    mean, so global average pooling sees the same vector at every scale, up to rounding.
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
    width = min(max(3.2, 0.42 * n_channels + 1.2), 11.0 / n_panels)  # at most ~1,100 px in all
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
        long = max(len(str(label)) for label in channel_labels) > 3  # long labels would overlap: tilt them
        ax.set_xticks(range(n_channels), channel_labels, fontsize=7, rotation=45 if long else 0,
                      ha="right" if long else "center")
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


# ---------------------------------------------------------------- the photo experiment of chapter 02

@dataclass(frozen=True)
class NoisyScene:
    """A photo lifted to C channels, each with its own noise, and that noisy map at several scales.

    ``clean`` and ``noisy`` are ``(1, C, S, S)``; ``scales`` holds one ``(1, C, S, S)`` tensor per
    factor (:func:`photo_scales` of ``noisy``); ``noise_std`` ``(C,)`` is each channel's noise σ.
    """

    clean: torch.Tensor
    noisy: torch.Tensor
    scales: list
    noise_std: torch.Tensor

    def scale_errors(self) -> torch.Tensor:
        """``(S, C)``: mean squared error of each scale alone against the clean map, per channel."""
        return torch.stack([(x - self.clean).square().mean(dim=(0, 2, 3)) for x in self.scales])


def noisy_scene(name: str = "astronaut", *, size: int = 48, channels: int = 8, max_noise: float = 0.5,
                factors: Sequence[int] = (1, 2, 4, 8), seed: int = 0) -> NoisyScene:
    """Four same-shaped inputs for MSF from one photo, where the best scale differs per channel.

    The RGB photo is lifted to ``channels`` grey renderings by a fixed random 1×1 map with positive
    weights summing to 1 (each channel its own colour mix); channel c gets Gaussian noise of σ_c,
    from 0 (channel 0, clean) to ``max_noise`` (the last). Scale i averages the noisy map over
    ``factors[i]``² blocks: sharp but noisy at factor 1, smooth but blurred at the largest factor.
    Deterministic for a given ``seed``; the global random state is untouched.
    """
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"noisy_scene: channels must be an int ≥ 1, got {channels!r}.")
    if not max_noise >= 0:
        raise ValueError(f"noisy_scene: max_noise must be ≥ 0, got {max_noise!r}.")
    from . import photo

    gen = torch.Generator().manual_seed(seed)
    mix = torch.rand(channels, 3, generator=gen)
    mix = mix / mix.sum(1, keepdim=True)                                  # (C, 3): each row a grey mix of R, G, B
    clean = torch.einsum("kc,bchw->bkhw", mix, photo(name, size=size))   # (1, C, S, S)
    noise_std = torch.linspace(0.0, float(max_noise), channels)
    noisy = clean + noise_std.view(1, -1, 1, 1) * torch.randn(clean.shape, generator=gen)
    return NoisyScene(clean, noisy, photo_scales(noisy, factors), noise_std)


def fit_squeezes(block: nn.Module, scales: Sequence[torch.Tensor], target: torch.Tensor, *,
                 weight_fn: Callable[..., torch.Tensor] | None = None, steps: int = 100, lr: float = 0.1) -> float:
    """Train only the squeezes SE1–SE4 of ``block`` so that Σ_i w_i ⊙ scales[i] reconstructs ``target``.

    ``weight_fn(*scales)`` gives the weights ``(B, 4, C)`` (default: ``block.weights``, MSF's
    softmax(σ(l))); the projection is left out, so the weights alone must do the work. Adam,
    ``steps`` full-batch steps at learning rate ``lr``. Returns the mean squared error after training.
    """
    params = [p for name, p in block.named_parameters() if name.startswith("SE")]
    if not params:
        raise ValueError(f"fit_squeezes: block must have squeeze layers SE1–SE4 (an MSFBlock), got {type(block).__name__}.")
    weight_fn = weight_fn or block.weights
    optimiser = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        loss = (select_scales(scales, weight_fn(*scales)) - target).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return (select_scales(scales, weight_fn(*scales)) - target).square().mean().item()


# ---------------------------------------------------------------- the Play panel of chapter 02

def weight_bars(squeezed: torch.Tensor, plain: torch.Tensor, *, height: int = 96, bounds: tuple[float, float] | None = None):
    """A small bar chart as an ``(height, W, 3)`` image in [0, 1], drawn without matplotlib (fast).

    One group per scale: the squeezed weight (red, left) and the plain-softmax weight (blue, right),
    on a scale from 0 (bottom) to 1 (top); grey lines at ``bounds`` (the squeeze's floor and cap)
    and a light line at 1/S.
    """
    n = len(squeezed)
    group, bar = 24, 9
    width = n * group
    img = torch.ones(height, width, 3)
    top = height - 1

    def row(value: float) -> int:  # weight 0 at the bottom row, 1 at the top row
        return top - int(round(min(max(value, 0.0), 1.0) * top))

    img[row(1.0 / n), :] = torch.tensor([0.8, 0.8, 0.8])
    for value in bounds or ():
        img[row(value), ::2] = torch.tensor([0.35, 0.35, 0.35])  # dotted
    for i in range(n):
        left = i * group + 2
        for offset, value, colour in ((0, float(squeezed[i]), (0.84, 0.15, 0.16)), (bar + 1, float(plain[i]), (0.12, 0.47, 0.71))):
            img[row(value):, left + offset: left + offset + bar] = torch.tensor(colour)
    return img


def play(name: str = "astronaut", *, size: int = 96, factors: Sequence[int] = (1, 2, 4, 8), seed: int = 0):
    """MSF's squeeze, live: one scale's logit ``gap`` above the other three → the four weights → the fused photo.

    Controls: ``gap`` (the winning scale's logit minus the others'), ``winner`` (which scale wins),
    ``noise`` (σ of the noise added to the photo before it is seen at four scales). Pictures: the four
    weights (red: MSF's softmax(σ(l)); blue: a plain softmax(l); grey: the squeeze's floor and cap),
    the photo fused with each, and the clean photo, the target. The caption gives the winner's two
    weights and each fused photo's error against the clean one, computed for this move.
    Every channel uses the same logits here, so a weight is one number per scale.
    """
    from ..play import Picture, Play
    from . import photo

    clean = photo(name, size=size)  # (1, 3, S, S)
    low, high = squeeze_bounds(len(factors))
    scales_by_noise: dict[float, torch.Tensor] = {}

    def scales(noise: float) -> torch.Tensor:  # (S, 3, H, W), cached per noise level
        if noise not in scales_by_noise:
            gen = torch.Generator().manual_seed(seed)
            noisy = clean + noise * torch.randn(clean.shape, generator=gen)
            scales_by_noise[noise] = torch.cat(photo_scales(noisy, factors))
        return scales_by_noise[noise]

    def compute(gap: float, winner: int, noise: float):
        logits = torch.full((1, len(factors), 1), -gap / 2)
        logits[0, winner] = gap / 2  # (1, S, 1): the winner a gap above the others
        w_squeezed = squeezed_weights(logits)[0, :, 0]  # (S,), MSF's own weighting
        w_plain = torch.softmax(logits, dim=1)[0, :, 0]
        ys = scales(noise)
        fused_squeezed = torch.einsum("s,schw->chw", w_squeezed, ys)
        fused_plain = torch.einsum("s,schw->chw", w_plain, ys)
        err_squeezed = (fused_squeezed - clean[0]).square().mean().item()
        err_plain = (fused_plain - clean[0]).square().mean().item()
        say = i18n.say
        pictures = [
            Picture(say(PLAY_TEXT, "weights"), weight_bars(w_squeezed, w_plain, height=size, bounds=(low, high))),
            Picture(say(PLAY_TEXT, "fused_msf"), fused_squeezed),
            Picture(say(PLAY_TEXT, "fused_plain"), fused_plain),
            Picture(say(PLAY_TEXT, "clean"), clean[0]),
        ]
        caption = say(PLAY_TEXT, "caption", gap=gap, winner=winner, squeezed=w_squeezed[winner], cap=high,
                      plain=w_plain[winner], err_squeezed=err_squeezed, err_plain=err_plain)
        return pictures, caption

    controls = {"gap": (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0), "winner": tuple(range(len(factors))),
                "noise": (0.0, 0.1, 0.2, 0.3)}
    return Play(i18n.say(PLAY_TEXT, "name"), controls, compute,
                defaults={"gap": 2.0, "winner": 0, "noise": 0.2})
