"""Reading a trained block's gate or attention map (its registry entry's ``map_probe``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import i18n
from .._checks import fmt_shape
from ..modes import eval_mode
from ..registry import BLOCKS, MapProbe
from .model import LabNet, Slot


@torch.no_grad()
def capture_maps(model: LabNet, images: torch.Tensor) -> tuple[MapProbe, torch.Tensor] | None:
    """Run ``model`` (eval mode) on ``images`` (B, 1, S, S) and read its block's map with a forward hook.

    Returns ``(probe, map)`` with map ``(B, H, W)`` (spatial) or ``(B, S)`` (one weight per scale),
    on the CPU; None when the block's registry entry has no ``map_probe`` (or the slot holds no registered block).
    """
    spec = BLOCKS.get(model.block_name)
    probe = spec.map_probe if spec is not None else None
    if probe is None or not isinstance(model.slot, Slot):
        return None
    target = model.block.get_submodule(probe.module) if probe.module else model.block
    captured: list[torch.Tensor] = []
    handle = target.register_forward_hook(
        lambda module, args, output: captured.append(probe.read(module, args, output).detach().cpu())
    )
    try:
        with eval_mode(model):
            model(images.to(next(model.parameters()).device))
    finally:
        handle.remove()
    return probe, torch.cat(captured)


# the sentences a reading prints, per language (fusionlab.i18n); numbers are filled in by MapReading.sentences
TEXT = {
    "en": {
        "scale": "scale {i}: {mean:.3f} ± {std:.3f}",
        "sep": ", ",
        "weights": "weights over {n} images (mean ± std over images): {parts}; uniform would be {uniform:.3f}.",
        "departs": "the largest mean departs from uniform by {far:.3f}; ",
        "steady": "the weights hardly change from image to image.",
        "varying": "the weights change from image to image.",
        "constant": ("constant: every position of every image holds {value:.3g}; the map carries no "
                     "information and is not drawn."),
        "spread": "values from {lo:.3g} to {hi:.3g}; spread over positions {within:.3g}, over images {across:.3g}.",
        "fixed": ("the map changes across the canvas but hardly from image to image: a fixed mask of positions, "
                  "not a response to where the digit is."),
        "responds": "the map changes from image to image about as much as across one canvas: it responds to the input.",
        "extremes": "{low:.0f} % of values lie below 0.02 and {high:.0f} % above 0.98{verdict}",
        "switch": ": a hard switch, nearly every value 0 or 1.",
        "shut": ": the gate is mostly shut.",
        "open": ": the gate is mostly fully open.",
        "end": ".",
        "digit": "inside the digits' boxes the map averages {on:.3g}, outside {off:.3g}.",
        "head": "{block} ({label}): ",
        "join": " ",
    },
    "zh": {
        "scale": "尺度 {i}：{mean:.3f} ± {std:.3f}",
        "sep": "，",
        "weights": "{n} 张图像上的权重（各图像间的均值 ± 标准差）：{parts}；均匀分配时每个尺度应为 {uniform:.3f}。",
        "departs": "均值与均匀分配的最大偏差为 {far:.3f}；",
        "steady": "权重几乎不随图像变化。",
        "varying": "权重随图像而变化。",
        "constant": "常数：每张图像的每个位置都取 {value:.3g}；这张图不携带任何信息，因此不画出。",
        "spread": "取值从 {lo:.3g} 到 {hi:.3g}；空间位置间的离散程度为 {within:.3g}，图像间的离散程度为 {across:.3g}。",
        "fixed": "这张图随画布上的位置变化，却几乎不随图像变化：它是一张固定的位置掩码，并不响应数字所在的位置。",
        "responds": "这张图在图像之间的变化与在同一张画布内的变化相当：它随输入而变化。",
        "extremes": "{low:.0f} % 的值低于 0.02，{high:.0f} % 高于 0.98{verdict}",
        "switch": "：这是一个硬开关，几乎每个值都是 0 或 1。",
        "shut": "：门控大多处于关闭状态。",
        "open": "：门控大多完全打开。",
        "end": "。",
        "digit": "数字框内这张图的均值为 {on:.3g}，框外为 {off:.3g}。",
        "head": "{block}（{label}）：",
        "join": "",
    },
}


@dataclass
class MapReading:
    """Numbers that say what a captured map shows, measured on N images, and sentences made from them.

    Spatial maps ``(N, H, W)``: ``within`` is the spread over positions (std over H·W, mean over
    images), ``across`` the spread over images (std over N, mean over positions): a map that moves
    with the digit has ``across`` comparable to ``within``; a fixed positional mask has ``across`` ≪
    ``within``; a constant map has both ≈ 0. ``low``/``high`` are the shares of values below 0.02 and
    above 0.98 (for maps in [0, 1]: a gate stuck shut or open). ``on_digit``/``off_digit`` are the
    map's means inside and outside the digits' boxes. Scale weights ``(N, S)``: ``scale_mean`` and
    ``scale_std`` (over images) per scale.
    """

    block: str
    label: str
    kind: str
    n: int
    minimum: float
    maximum: float
    within: float = 0.0
    across: float = 0.0
    low: float | None = None
    high: float | None = None
    on_digit: float | None = None
    off_digit: float | None = None
    scale_mean: list[float] | None = None
    scale_std: list[float] | None = None
    label_zh: str = ""  # the probe's label in the Chinese edition ("": the English label)

    @property
    def constant(self) -> bool:
        """The map holds (almost) one value for every position and image: nothing to read."""
        return self.maximum - self.minimum < 1e-3 * max(1.0, abs(self.maximum))

    @property
    def fixed(self) -> bool:
        """The map varies over positions but hardly between images: a learned positional mask."""
        return not self.constant and self.kind == "spatial" and self.across < 0.25 * self.within

    def sentences(self) -> list[str]:
        """What the numbers say, as sentences (computed, so they hold for this run only), in the course's
        language (:mod:`fusionlab.i18n`)."""
        say = lambda key, **fields: i18n.say(TEXT, key, **fields)  # noqa: E731
        if self.kind == "scales":
            s = len(self.scale_mean)
            parts = say("sep").join(say("scale", i=i, mean=m, std=d)
                                    for i, (m, d) in enumerate(zip(self.scale_mean, self.scale_std)))
            far = max(abs(m - 1 / s) for m in self.scale_mean)
            out = [say("weights", n=self.n, parts=parts, uniform=1 / s)]
            out.append(say("departs", far=far) + say("steady" if max(self.scale_std) < 0.01 else "varying"))
            return out
        if self.constant:
            return [say("constant", value=self.minimum)]
        out = [say("spread", lo=self.minimum, hi=self.maximum, within=self.within, across=self.across)]
        out.append(say("fixed" if self.fixed else "responds"))
        if self.low is not None:
            verdict = ("switch" if self.low + self.high > 0.9 and min(self.low, self.high) > 0.1
                       else "shut" if self.low > 0.5 else "open" if self.high > 0.5 else "end")
            out.append(say("extremes", low=100 * self.low, high=100 * self.high, verdict=say(verdict)))
        if self.on_digit is not None:
            out.append(say("digit", on=self.on_digit, off=self.off_digit))
        return out

    def text(self, lang: str | None = None) -> str:
        """What the map is (the probe's label) in ``lang`` (default: the current language; English where
        the probe has no translation)."""
        return self.label_zh if i18n.resolve(lang) == "zh" and self.label_zh else self.label

    def __str__(self) -> str:
        head = i18n.say(TEXT, "head", block=self.block, label=self.text())
        return head + i18n.say(TEXT, "join").join(self.sentences())


def read_map(block: str, probe: MapProbe, maps: torch.Tensor, boxes: torch.Tensor | None = None) -> MapReading:
    """Measure a map from :func:`capture_maps`: see :class:`MapReading`. ``boxes`` (N, H, W) booleans
    (:meth:`Digits.box_masks`) mark where the digits are."""
    maps = maps.double()
    base = dict(block=block, label=probe.label, label_zh=probe.label_zh, kind=probe.kind, n=len(maps),
                minimum=maps.min().item(), maximum=maps.max().item())
    if probe.kind == "scales":
        return MapReading(**base, scale_mean=maps.mean(0).tolist(),
                          scale_std=(maps.std(0) if len(maps) > 1 else torch.zeros(maps.shape[1])).tolist())
    flat = maps.flatten(1)  # (N, H·W)
    reading = MapReading(**base, within=flat.std(1).mean().item(),
                         across=flat.std(0).mean().item() if len(maps) > 1 else 0.0)
    if base["minimum"] >= 0 and base["maximum"] <= 1:
        reading.low, reading.high = (maps < 0.02).double().mean().item(), (maps > 0.98).double().mean().item()
    if boxes is not None:
        if boxes.shape != maps.shape:
            raise ValueError(f"read_map: boxes must have the maps' shape {fmt_shape(maps.shape)}, got {fmt_shape(boxes.shape)}.")
        reading.on_digit, reading.off_digit = maps[boxes].mean().item(), maps[~boxes].mean().item()
    return reading
