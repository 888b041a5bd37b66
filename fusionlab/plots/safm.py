"""Figures of chapter 04 (SAFM): a shadow to undo, the pooled pyramid, the modulation map, the play.

The chapter's task: a photo darkened smoothly towards one corner (:func:`shading_map`); SAFM must
give it back (:func:`shadow_fit` trains one block for it in about a second). The ideal modulation is
1 / shading, and the block can only find it from what a pixel's neighbourhood looks like.

Every picture reads the block's own intermediate results (:meth:`fusionlab.SAFM.pyramid`,
``levels``, ``attention``), so what is drawn is what the block computes. Figure functions return a
closed matplotlib ``Figure`` (see :mod:`fusionlab.plots`); :func:`play` returns a
:class:`fusionlab.play.Play`.

>>> s = shading_map(96, 96)  # the chapter's shadow: 20 % of the light in the upper-left corner
>>> round(float(s[0, 0]), 3), round(float(s[48, 48]), 3), round(float(s[-1, -1]), 3)
(0.2, 0.6, 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from .. import i18n
from ..blocks.safm import SAFM
from . import _pyplot, to_numpy_image

__all__ = ["SHADOWS", "shading_map", "ShadowFit", "shadow_fit", "plot_restoration", "plot_pyramid",
           "plot_modulation", "play", "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English
PLAY_TEXT = {
    "en": {
        "name": "SAFM: n_levels → the pyramid → the gain on the photo",
        "level0": "level 0 = x, {size}×{size} (not pooled)",
        "level": "level {i}: {h}×{w} (max ÷{factor})",
        "gain": "gain (mean over C), 0–{gain_max:g}",
        "output": "output = gain ⊙ x",
        "trained_on": " (trained on {name})",
        "caption": ("n_levels={n_levels}: C = {channels}, {n_levels} RGB group(s) seen at sides {sizes}. "
                    "Error against the photo: input {before:.4f}, output {after:.4f}{trained_on}; {brightening}."),
        "no_shadow": "no shadow: the output is {light:.2f}× as bright as the input (ideal 1)",
        "brightened": ("brightened {dark:.2f}× in the shadow (ideal {ideal_dark:.2f}×), "
                       "{light:.2f}× in the light (ideal {ideal_light:.2f}×)"),
        "shadows": {},  # the words the shadow dropdown shows for its values (the values stay English)
    },
    "zh": {
        "name": "SAFM：n_levels → 金字塔 → 照片上的增益",
        "level0": "第 0 层 = x，{size}×{size}（未池化）",
        "level": "第 {i} 层：{h}×{w}（最大池化 ÷{factor}）",
        "gain": "增益（对 C 取均值），0–{gain_max:g}",
        "output": "输出 = 增益 ⊙ x",
        "trained_on": "（在 {name} 上训练）",
        "caption": ("n_levels={n_levels}：C = {channels}，{n_levels} 个 RGB 组，边长依次为 {sizes}。"
                    "与原照片的误差：输入 {before:.4f}，输出 {after:.4f}{trained_on}；{brightening}。"),
        "no_shadow": "没有阴影：输出的亮度是输入的 {light:.2f} 倍（理想为 1 倍）",
        "brightened": ("阴影里提亮 {dark:.2f} 倍（理想 {ideal_dark:.2f} 倍），"
                       "亮处 {light:.2f} 倍（理想 {ideal_light:.2f} 倍）"),
        "shadows": {"upper left": "左上", "lower right": "右下", "none": "无阴影"},
    },
}

SHADOWS = ("upper left", "lower right", "none")


def shading_map(h: int, w: int, *, shadow: str = "upper left", darkest: float = 0.2, softness: float = 6.0) -> torch.Tensor:
    """A smooth shadow ``(H, W)``: ``darkest`` in one corner, 1 in the other, a soft diagonal edge.

    shading = darkest + (1 − darkest) · σ((r + c − (H + W)/2) / softness) for row r and column c
    ("upper left"); flipped for "lower right"; all ones for "none".
    """
    if shadow not in SHADOWS:
        raise ValueError(f"shading_map: shadow must be one of {', '.join(map(repr, SHADOWS))}; got {shadow!r}.")
    if not 0.0 < darkest <= 1.0:
        raise ValueError(f"shading_map: darkest must be in (0, 1] (a gain of 1/darkest undoes it); got {darkest!r}.")
    if shadow == "none":
        return torch.ones(h, w)
    r = torch.arange(h, dtype=torch.float32).view(-1, 1)
    c = torch.arange(w, dtype=torch.float32)
    s = darkest + (1.0 - darkest) * torch.sigmoid((r + c - (h + w) / 2) / softness)  # (H, W)
    return s.flip(0, 1) if shadow == "lower right" else s


@dataclass
class ShadowFit:
    """One SAFM trained to undo a shadow on a photo.

    ``x`` is the shadowed photo repeated ``n_levels`` times ``(1, 3n, H, W)``, so that every channel
    group is the RGB photo itself; ``target`` the photo repeated the same way; ``losses`` the mean
    squared error at every training step (before each update).
    """

    block: nn.Module  # a SAFM (or the variant given to shadow_fit)
    x: torch.Tensor
    target: torch.Tensor
    shading: torch.Tensor
    losses: list

    @property
    def n_levels(self) -> int:
        return self.block.n_levels

    @property
    def error_before(self) -> float:
        """Mean squared error of the shadowed input itself."""
        return (self.x - self.target).square().mean().item()

    @property
    def error_after(self) -> float:
        """Mean squared error of the trained block's output."""
        with torch.no_grad():
            return (self.block(self.x) - self.target).square().mean().item()


def shadow_fit(picture: torch.Tensor, n_levels: int = 4, *, block: nn.Module | None = None, shadow: str = "upper left",
               steps: int = 80, lr: float = 0.05, seed: int = 0) -> ShadowFit:
    """Train ``SAFM(3 · n_levels, n_levels)`` with Adam to turn the shadowed ``picture`` back into itself.

    Args:
        picture: ``(1, 3, H, W)`` in [0, 1] (e.g. :func:`fusionlab.photo`), H, W ≥ 2^(n_levels − 1).
        n_levels: SAFM's levels; the photo is repeated once per level so each group is the RGB photo.
        block: train this module instead (a variant of SAFM with ``dim = 3 · n_levels`` channels and an
            ``n_levels`` attribute, which replaces the argument); it is trained in place, and ``seed``
            is not used (seed before building it to start from the same weights as ``SAFM``).
        shadow, steps, lr, seed: the shadow of :func:`shading_map`, Adam's steps and learning rate,
            the seed the block's weights are drawn with.
    """
    if not (isinstance(picture, torch.Tensor) and picture.dim() == 4 and picture.shape[:2] == (1, 3)):
        shape = tuple(picture.shape) if isinstance(picture, torch.Tensor) else type(picture).__name__
        raise ValueError(f"shadow_fit: picture must be an RGB tensor (1, 3, H, W), got {shape}.")
    if block is not None:
        if not isinstance(getattr(block, "n_levels", None), int):
            raise ValueError(f"shadow_fit: block must have an int attribute n_levels, like SAFM; got {type(block).__name__}.")
        n_levels = block.n_levels
    shading = shading_map(*picture.shape[-2:], shadow=shadow).to(picture.device)
    x = (picture * shading).repeat(1, n_levels, 1, 1)  # n RGB groups: (1, 3n, H, W)
    target = picture.repeat(1, n_levels, 1, 1)
    if block is None:
        torch.manual_seed(seed)
        block = SAFM(3 * n_levels, n_levels=n_levels)
    block = block.to(picture.device)
    optimiser = torch.optim.Adam(block.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (block(x) - target).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return ShadowFit(block, x, target, shading, losses)


def plot_restoration(fits: Mapping[str, ShadowFit], *, title: str | None = None):
    """The shadowed input, each fit's output (titled with its error) and the photo, side by side.

    All fits must share one input (same photo and shadow); each output's first three channels are drawn.
    """
    fits = dict(fits)
    if not fits:
        raise ValueError("plot_restoration: fits must name at least one ShadowFit.")
    first = next(iter(fits.values()))
    panels = [(f"input: shadowed photo\nerror {first.error_before:.4f}", first.x[0, :3])]
    for label, fit in fits.items():
        with torch.no_grad():
            out = fit.block(fit.x)[0, :3]
        panels.append((f"{label}\nerror {fit.error_after:.4f}", out))
    panels.append(("target: the photo", first.target[0, :3]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.4 * len(panels), 2.9), squeeze=False, layout="constrained")
    for ax, (label, t) in zip(axes[0], panels):
        ax.imshow(to_numpy_image(t.detach().cpu().clamp(0.0, 1.0)))
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title or "Undo a shadow: mean squared error against the photo")
    plt.close(fig)
    return fig


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
    fig, axes = plt.subplots(1, len(panels), figsize=(2.5 * len(panels) + 0.6, 3.1), squeeze=False,
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


def _brightening(x: torch.Tensor, out: torch.Tensor, target: torch.Tensor, shading: torch.Tensor) -> str:
    """How much brighter the output is than the input, in and out of the shadow, against the ideal.

    A region's brightening is sum(output) / sum(input) over its pixels: the gain that the light
    there gets on the whole (a pixel-wise mean would be dominated by dark pixels, whose gain costs little).
    """
    def ratio(a, b, where):
        return (a[..., where].sum() / b[..., where].sum().clamp_min(1e-12)).item()

    dark, light = (shading < 0.5).to(x.device), (shading > 0.95).to(x.device)
    if not dark.any():
        return i18n.say(PLAY_TEXT, "no_shadow", light=ratio(out, x, light))
    return i18n.say(PLAY_TEXT, "brightened", dark=ratio(out, x, dark), ideal_dark=ratio(target, x, dark),
                    light=ratio(out, x, light), ideal_light=ratio(target, x, light))


def play(name: str = "astronaut", *, size: int = 96, steps: int = 80, fits: Mapping[int, ShadowFit] | None = None,
         levels: Sequence[int] = (1, 2, 3, 4), photos: Sequence[str] = ("astronaut", "coffee", "chelsea")):
    """SAFM's pyramid and modulation, live: ``n_levels`` → each group's pooled map → the gain on the photo.

    One block per level count is trained on the shadow task (:func:`shadow_fit`, on ``name`` at
    ``size``×``size``) when the panel is built; ``fits`` reuses blocks trained already (keyed by
    n_levels). Controls: ``n_levels``; ``photo`` (the blocks see a photo they were not trained on);
    ``shadow`` (where the shadow is, or none). Pictures: level 0 (the shadowed input, not pooled),
    each coarser group as max pooling leaves it (at its own size), the modulation map (mean over
    channels, colour scale 0 to 1/darkest = 5) and the output. The caption gives the errors and how
    much the output brightens the light in and out of the shadow, computed for this move.
    """
    from ..play import Picture, Play
    from . import photo

    trained: dict[int, ShadowFit] = dict(fits or {})
    for n in levels:
        if n not in trained:
            trained[n] = shadow_fit(photo(name, size=size), n, steps=steps)
    pictures_by_name = {p: photo(p, size=size) for p in photos}  # (1, 3, S, S) each
    shadings = {s: shading_map(size, size, shadow=s) for s in SHADOWS}
    gain_max = 5.0  # the ideal gain 1 / shading is at most 1 / 0.2

    def compute(n_levels: int, photo: str, shadow: str):
        fit, clean, shading = trained[n_levels], pictures_by_name[photo], shadings[shadow]
        block = fit.block
        device = next(block.parameters()).device
        x = (clean * shading).repeat(1, n_levels, 1, 1).to(device)  # (1, 3n, S, S)
        with torch.no_grad():
            pooled = block.pyramid(x)
            gain = block.attention(x)  # (1, 3n, S, S)
            out = gain * x
        gain_map = gain[0].mean(0).cpu()  # (S, S)
        target = clean.repeat(1, n_levels, 1, 1).to(device)
        before = (x - target).square().mean().item()
        after = (out - target).square().mean().item()
        say = i18n.say
        pictures = [Picture(say(PLAY_TEXT, "level0", size=size), x[0, :3].clamp(0, 1).cpu())]
        for i in range(1, n_levels):
            h, w = pooled[i].shape[-2:]
            pictures.append(Picture(say(PLAY_TEXT, "level", i=i, h=h, w=w, factor=2 ** i), pooled[i][0].clamp(0, 1).cpu()))
        pictures.append(Picture(say(PLAY_TEXT, "gain", gain_max=gain_max), gain_map, vmin=0.0, vmax=gain_max))
        pictures.append(Picture(say(PLAY_TEXT, "output"), out[0, :3].clamp(0, 1).cpu()))
        sizes = ", ".join(f"{p.shape[-2]}" for p in pooled)
        caption = say(PLAY_TEXT, "caption", n_levels=n_levels, channels=3 * n_levels, sizes=sizes, before=before,
                      after=after, trained_on="" if photo == name else say(PLAY_TEXT, "trained_on", name=name),
                      brightening=_brightening(x, out, target, shading))
        return pictures, caption

    controls = {"n_levels": tuple(levels), "photo": tuple(photos), "shadow": SHADOWS}
    return Play(i18n.say(PLAY_TEXT, "name"), controls, compute,
                defaults={"n_levels": max(levels), "photo": name, "shadow": "upper left"}, size=160,
                labels={"shadow": i18n.say(PLAY_TEXT, "shadows")})
