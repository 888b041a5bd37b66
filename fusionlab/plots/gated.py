"""Figures and the play panel of chapter 01 (gated fusion): the gate learns exposure fusion.

Two renderings of one photo each lose part of the tonal range (:func:`exposures`): ``x1`` clips
the highlights at ``clip``, ``x2`` lifts the shadows to ``lift``. A :class:`fusionlab.GatedFusion`
with C = 3 (one RGB triple per pixel, channels last) is trained to give the photo back
(:func:`train_gate`). Where only ``x1`` is right (values below ``lift``) the gate must learn
z → 1, where only ``x2`` is right (above ``clip``) z → 0; :func:`gate_curve` measures it.

>>> import torch
>>> rgb = torch.linspace(0, 1, 12).view(1, 2, 2, 3)
>>> x1, x2 = exposures(rgb, clip=0.6, lift=0.4)
>>> round(float(x1.max()), 3), round(float(x2.min()), 3)
(0.6, 0.4)
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .. import i18n
from ..blocks.gated import GatedFusion
from ..modes import eval_mode
from . import _pyplot

__all__ = ["exposures", "GateFit", "train_gate", "gate_curve", "plot_gate_curve", "play", "PLAY_TEXT"]

# the play panel's words, per language (fusionlab.i18n); the matplotlib figures stay English
PLAY_TEXT = {
    "en": {
        "name": "Gated fusion: exposures, training steps and the gate's bias -> gate map and fused photo",
        "x1": "x1: highlights clipped at {clip}",
        "x2": "x2: shadows lifted to {lift}",
        "gate": "gate z (mean over RGB)",
        "fused": "z·x1 + (1−z)·x2",
        "error": "|fused − photo| (0 to 0.3)",
        "caption": ("after {steps} steps, bias {bias:+g}: mean z {dark:.2f} in the darkest quarter "
                    "of pixels, {bright:.2f} in the brightest; error of the fused photo {error:.4f} "
                    "(plain average {average:.4f})."),
        "lost": " {lost:.0%} of the values lie between clip and lift: in neither input, no gate can bring them back.",
    },
    "zh": {
        "name": "门控融合：曝光、训练步数和门控偏置 → 门控图与融合照片",
        "x1": "x1：高光在 {clip} 处截断",
        "x2": "x2：阴影提升到 {lift}",
        "gate": "门控 z（RGB 三通道均值）",
        "fused": "融合结果 z·x1 + (1−z)·x2",
        "error": "|融合 − 原图|（0 到 0.3）",
        "caption": ("训练 {steps} 步后，偏置 {bias:+g}：最暗的四分之一像素上 z 的均值为 {dark:.2f}，"
                    "最亮的四分之一上为 {bright:.2f}；融合照片的误差为 {error:.4f}（直接平均为 {average:.4f}）。"),
        "lost": "有 {lost:.0%} 的取值落在 clip 与 lift 之间：两个输入里都没有它们，任何门控都无法把它们找回来。",
    },
}


def _level(fn: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{fn}: {name} must be a number between 0 and 1, got {value!r}.")
    return float(value)


def _rgb_last(fn: str, rgb) -> None:
    if not isinstance(rgb, torch.Tensor) or rgb.dim() < 2 or rgb.shape[-1] != 3:
        shape = tuple(rgb.shape) if isinstance(rgb, torch.Tensor) else type(rgb).__name__
        raise ValueError(f"{fn}: rgb must be a channels-last tensor (..., 3), got {shape}; "
                         f"for a (B, 3, H, W) photo pass photo.permute(0, 2, 3, 1).")


def exposures(rgb: torch.Tensor, clip: float = 0.6, lift: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """Two exposures of a channels-last photo ``(..., 3)`` in [0, 1], each of its shape.

    ``x1 = min(rgb, clip)`` keeps the shadows and clips the highlights; ``x2 = max(rgb, lift)``
    keeps the highlights and lifts the shadows. With ``lift ≤ clip`` every value is exact in at
    least one of them; with ``lift > clip`` the values between clip and lift are in neither.
    """
    _rgb_last("exposures", rgb)
    clip, lift = _level("exposures", "clip", clip), _level("exposures", "lift", lift)
    return rgb.clamp(max=clip), rgb.clamp(min=lift)


@dataclass
class GateFit:
    """A gate trained by :func:`train_gate`: the ``block``, the training loss before each step
    (``losses``) and a copy of its ``state_dict`` after each step count named in ``record``."""

    block: GatedFusion
    losses: list[float] = field(default_factory=list)
    states: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


class _Trainer:
    """Adam on the mean squared error of ``block(x1, x2)`` against ``target``; can be resumed,
    so that training to 50 steps and then to 100 is the same as training to 100 at once."""

    def __init__(self, x1, x2, target, *, lr: float, pixels: int | None, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.fit = GateFit(GatedFusion(3).to(x1.device))
        if pixels is not None:  # the gate is point-wise: every pixel is one training example
            idx = torch.randperm(x1[..., 0].numel(), generator=gen)[:pixels].to(x1.device)
            x1, x2, target = (t.reshape(-1, 3)[idx] for t in (x1, x2, target))  # (pixels, 3)
        self.data = (x1, x2, target)
        self.optimiser = torch.optim.Adam(self.fit.block.parameters(), lr=lr)
        self.step = 0
        self.fit.states[0] = copy.deepcopy(self.fit.block.state_dict())

    def advance(self, steps: int, record: Sequence[int] = ()) -> GateFit:
        x1, x2, target = self.data
        block = self.fit.block
        while self.step < steps:
            loss = (block(x1, x2) - target).square().mean()
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
            self.step += 1
            self.fit.losses.append(loss.item())
            if self.step in record or self.step == steps:
                self.fit.states[self.step] = copy.deepcopy(block.state_dict())
        return self.fit


def train_gate(x1: torch.Tensor, x2: torch.Tensor, target: torch.Tensor, *, steps: int = 100, lr: float = 0.1,
               pixels: int | None = None, seed: int = 0, record: Sequence[int] = ()) -> GateFit:
    """Train a ``GatedFusion(3)`` so that ``block(x1, x2)`` reproduces ``target`` (all ``(..., 3)``).

    Args:
        steps: Adam steps on the mean squared error (full batch).
        lr: Adam's learning rate.
        pixels: train on this many random pixels instead of all (the gate never looks at
            neighbours, so a sample of pixels is a sample of the same task).
        seed: seeds the block's initial weights and the pixel sample; the global RNG is left as it was.
        record: step counts after which to keep a copy of the weights in ``GateFit.states``
            (0, the initial weights, and ``steps`` are always kept).
    """
    _rgb_last("train_gate", target)
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, torch.Tensor) or t.shape != target.shape:
            raise ValueError(f"train_gate: {name} must be a tensor of the target's shape {tuple(target.shape)}, "
                             f"got {tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"train_gate: steps must be an int ≥ 0, got {steps!r}.")
    if pixels is not None and (isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 1):
        raise ValueError(f"train_gate: pixels must be None (all) or an int ≥ 1, got {pixels!r}.")
    return _Trainer(x1, x2, target, lr=lr, pixels=pixels, seed=seed).advance(steps, record)


def gate_curve(z: torch.Tensor, value: torch.Tensor, bins: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How a gate depends on the true value: ``z`` and ``value`` of one shape (e.g. the gate and the
    photo, ``(..., 3)``), every channel value one sample. Returns ``(centres, mean, count)`` over
    ``bins`` equal bins of [0, 1]; a bin without samples has mean NaN."""
    if not isinstance(z, torch.Tensor) or not isinstance(value, torch.Tensor) or z.shape != value.shape:
        raise ValueError("gate_curve: z and value must be tensors of one shape, got "
                         f"{getattr(z, 'shape', type(z).__name__)} and {getattr(value, 'shape', type(value).__name__)}.")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"gate_curve: bins must be an int ≥ 1, got {bins!r}.")
    z, value = z.detach().flatten().float().cpu(), value.detach().flatten().float().cpu()
    index = (value.clamp(0, 1) * bins).long().clamp(max=bins - 1)  # bin of each sample
    count = torch.bincount(index, minlength=bins)
    total = torch.bincount(index, weights=z, minlength=bins)
    mean = torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))
    centres = (torch.arange(bins) + 0.5) / bins
    return centres, mean, count


def plot_gate_curve(curves: dict[str, tuple[torch.Tensor, torch.Tensor]], *, clip: float, lift: float,
                    title: str = "What the gate learned"):
    """Mean gate against the true value, one line per entry of ``curves`` (label -> (z, value)),
    with the ranges where only x1 (below ``lift``) or only x2 (above ``clip``) is exact shaded."""
    clip, lift = _level("plot_gate_curve", "clip", clip), _level("plot_gate_curve", "lift", lift)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2), layout="constrained")
    ax.axvspan(0, min(lift, clip), color="C0", alpha=0.12, label="only x1 exact: z should → 1")
    ax.axvspan(max(clip, lift), 1, color="C3", alpha=0.12, label="only x2 exact: z should → 0")
    for i, (label, (z, value)) in enumerate(curves.items()):
        centres, mean, _ = gate_curve(z, value)
        ax.plot(centres, mean, "o-", color=("0.5", "C1", "C2", "C4", "C5")[i % 5], label=label, ms=4)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlabel("true value of a colour channel in the photo")
    ax.set_ylabel("mean gate z")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    plt.close(fig)
    return fig


def play(image: str = "astronaut", *, size: int = 128, pixels: int = 1024, seed: int = 0):
    """Play panel: the two exposures (``clip``, ``lift``), the training ``steps`` and a ``bias`` shift
    added to the gate's logits -> the inputs, the gate map z (mean over RGB) and the fused photo.

    Training runs on ``pixels`` random pixels, with Adam (lr 0.1). Each (clip, lift) pair keeps one
    resumable run and the weights after every step count of the control, so a new step count
    continues from the last one and an old one is a look-up. The bias shift is added to a copy of
    ``fc2.bias`` (the gate's b): the block's own forward computes the picture.
    """
    from ..play import Picture, Play
    from . import photo

    rgb = photo(image, size=size).permute(0, 2, 3, 1)  # (1, H, W, 3), channels last
    step_values = (0, 10, 25, 50, 100)
    runs: dict[tuple[float, float], _Trainer] = {}
    luma = rgb.mean(-1)
    dark, bright = luma < luma.quantile(0.25), luma > luma.quantile(0.75)  # (1, H, W) masks

    def compute(clip, lift, steps, bias):
        x1, x2 = exposures(rgb, clip, lift)
        run = runs.get((clip, lift))
        if run is None:
            run = runs[(clip, lift)] = _Trainer(x1, x2, rgb, lr=0.1, pixels=pixels, seed=seed)
        fit = run.advance(steps, record=step_values)
        block = GatedFusion(3)
        block.load_state_dict(fit.states[steps])
        with torch.no_grad(), eval_mode(block):
            block.fc2.bias += bias
            z, fused = block.gate(x1, x2), block(x1, x2)  # (1, H, W, 3) each
        z_map = z.mean(-1)  # (1, H, W)
        error = (fused - rgb).square().mean().item()
        average = ((x1 + x2) / 2 - rgb).square().mean().item()
        lost = ((rgb > clip) & (rgb < lift)).float().mean().item()
        caption = i18n.say(PLAY_TEXT, "caption", steps=steps, bias=bias, dark=z_map[dark].mean(),
                           bright=z_map[bright].mean(), error=error, average=average)
        if lost:
            caption += i18n.say(PLAY_TEXT, "lost", lost=lost)
        pictures = [
            Picture(i18n.say(PLAY_TEXT, "x1", clip=clip), x1[0]),
            Picture(i18n.say(PLAY_TEXT, "x2", lift=lift), x2[0]),
            Picture(i18n.say(PLAY_TEXT, "gate"), z_map[0], vmin=0, vmax=1),
            Picture(i18n.say(PLAY_TEXT, "fused"), fused[0].clamp(0, 1)),
            Picture(i18n.say(PLAY_TEXT, "error"), (fused - rgb).abs().mean(-1)[0], cmap="magma", vmin=0, vmax=0.3),
        ]
        return pictures, caption

    return Play(
        i18n.say(PLAY_TEXT, "name"),
        {"clip": (0.3, 0.45, 0.6, 0.75, 0.9), "lift": (0.1, 0.25, 0.4, 0.55, 0.7), "steps": step_values,
         "bias": (-4.0, -2.0, 0.0, 2.0, 4.0)},
        compute,
        defaults={"clip": 0.6, "lift": 0.4, "steps": 50, "bias": 0.0},
        size=176,
    )
