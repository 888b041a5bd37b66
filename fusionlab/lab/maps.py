"""Reading a trained block's gate or attention map (its registry entry's ``map_probe``)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

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

    @property
    def constant(self) -> bool:
        """The map holds (almost) one value for every position and image: nothing to read."""
        return self.maximum - self.minimum < 1e-3 * max(1.0, abs(self.maximum))

    @property
    def fixed(self) -> bool:
        """The map varies over positions but hardly between images: a learned positional mask."""
        return not self.constant and self.kind == "spatial" and self.across < 0.25 * self.within

    def sentences(self) -> list[str]:
        """What the numbers say, as sentences (computed, so they hold for this run only)."""
        if self.kind == "scales":
            s = len(self.scale_mean)
            parts = ", ".join(f"scale {i}: {m:.3f} ± {d:.3f}" for i, (m, d) in enumerate(zip(self.scale_mean, self.scale_std)))
            far = max(abs(m - 1 / s) for m in self.scale_mean)
            out = [f"weights over {self.n} images (mean ± std over images): {parts}; uniform would be {1 / s:.3f}."]
            out.append(f"the largest mean departs from uniform by {far:.3f}; "
                       + ("the weights hardly change from image to image."
                          if max(self.scale_std) < 0.01 else "the weights change from image to image."))
            return out
        if self.constant:
            return [f"constant: every position of every image holds {self.minimum:.3g}; the map carries no "
                    f"information and is not drawn."]
        out = [f"values from {self.minimum:.3g} to {self.maximum:.3g}; spread over positions {self.within:.3g}, "
               f"over images {self.across:.3g}."]
        if self.fixed:
            out.append("the map changes across the canvas but hardly from image to image: a fixed mask of positions, "
                       "not a response to where the digit is.")
        else:
            out.append("the map changes from image to image about as much as across one canvas: it responds to the input.")
        if self.low is not None:
            verdict = (": a hard switch, nearly every value 0 or 1." if self.low + self.high > 0.9 and min(self.low, self.high) > 0.1
                       else ": the gate is mostly shut." if self.low > 0.5
                       else ": the gate is mostly fully open." if self.high > 0.5 else ".")
            out.append(f"{100 * self.low:.0f} % of values lie below 0.02 and {100 * self.high:.0f} % above 0.98{verdict}")
        if self.on_digit is not None:
            out.append(f"inside the digits' boxes the map averages {self.on_digit:.3g}, outside {self.off_digit:.3g}.")
        return out

    def __str__(self) -> str:
        return f"{self.block} ({self.label}): " + " ".join(self.sentences())


def read_map(block: str, probe: MapProbe, maps: torch.Tensor, boxes: torch.Tensor | None = None) -> MapReading:
    """Measure a map from :func:`capture_maps`: see :class:`MapReading`. ``boxes`` (N, H, W) booleans
    (:meth:`Digits.box_masks`) mark where the digits are."""
    maps = maps.double()
    base = dict(block=block, label=probe.label, kind=probe.kind, n=len(maps), minimum=maps.min().item(),
                maximum=maps.max().item())
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
