"""Behaviour panels: controls that change what a block computes, and the pictures redrawn at once.

A chapter's "Play" section shows one :class:`Play`: named controls (each a list of values) and a
``compute`` function that turns one choice of values into a row of pictures (:class:`Picture`)
and a sentence. :func:`play_widget` lays it out with ipywidgets; the pictures are PNG bytes in
``ipywidgets.Image`` (no matplotlib figure per move), so a move answers in milliseconds and the
saved widget state still shows the last pictures on a page without a kernel.

:func:`time_play` measures what a learner feels: every move of every control, from the default
values, each configuration computed for the first time (nothing cached) and then again.

>>> import torch
>>> def compute(gain):
...     ramp = torch.linspace(0, 1, 16).repeat(16, 1)
...     return [Picture("ramp × gain", ramp * gain, vmin=0, vmax=2)], f"gain {gain}: max {gain:.1f}"
>>> p = Play("demo", {"gain": (0.5, 1.0, 2.0)}, compute, defaults={"gain": 1.0})
>>> pictures, caption = p.render(gain=2.0)
>>> caption, pictures[0].rgb().shape
('gain 2.0: max 2.0', (16, 16, 3))
"""
from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

__all__ = ["Picture", "Play", "play_widget", "time_play"]


@dataclass(frozen=True)
class Picture:
    """One picture of a panel: an ``(H, W)`` map drawn with a colour map, or an ``(H, W, 3)`` /
    ``(3, H, W)`` RGB image in [0, 1]. ``vmin``/``vmax`` fix the colour scale (default: the map's range)."""

    title: str
    data: Any  # torch.Tensor or numpy array
    cmap: str = "viridis"
    vmin: float | None = None
    vmax: float | None = None

    def rgb(self):
        """The picture as a ``(H, W, 3)`` uint8 NumPy array."""
        import numpy as np

        a = self.data.detach().float().cpu().numpy() if isinstance(self.data, torch.Tensor) else np.asarray(self.data, float)
        if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
            a = a.transpose(1, 2, 0)  # channels first -> last
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim == 2:
            lo = float(a.min()) if self.vmin is None else self.vmin
            hi = float(a.max()) if self.vmax is None else self.vmax
            scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
            import matplotlib

            a = matplotlib.colormaps[self.cmap](np.clip(scaled, 0, 1))[..., :3]
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"Picture {self.title!r}: data must be (H, W), (H, W, 3) or (3, H, W); got shape {a.shape}.")
        return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)

    def png(self, scale: int = 1) -> bytes:
        """PNG bytes, each pixel repeated ``scale`` times per side (small maps stay sharp)."""
        from PIL import Image

        a = self.rgb()
        if scale > 1:
            a = a.repeat(scale, 0).repeat(scale, 1)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


@dataclass
class Play:
    """Controls and what they change.

    Args:
        name: what the panel shows, e.g. "MSF: logit gap -> scale weights".
        controls: control name -> the values it may take (a slider over them, or a dropdown for text).
        compute: ``compute(**values)`` -> ``(pictures, caption)``: a sequence of :class:`Picture` and one
            sentence computed from the result (what changed, in numbers).
        defaults: the first value of each control unless given here.
        size: the side, in screen pixels, each picture is drawn at.
        labels: control name -> {value: the text the widget shows for it} (e.g. the words of the
            course's language); a value without a label is shown as itself. ``compute`` always gets the values.
    """

    name: str
    controls: Mapping[str, Sequence]
    compute: Callable[..., tuple[Sequence[Picture], str]]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    size: int = 192
    labels: Mapping[str, Mapping[Any, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in self.labels:
            if key not in self.controls:
                raise ValueError(f"Play {self.name!r}: labels for unknown control {key!r}; controls: {', '.join(self.controls)}.")
        for key, values in self.controls.items():
            if len(values) == 0:
                raise ValueError(f"Play {self.name!r}: control {key!r} has no values.")
        for key, value in self.defaults.items():
            if key not in self.controls:
                raise ValueError(f"Play {self.name!r}: default for unknown control {key!r}; controls: {', '.join(self.controls)}.")
            if value not in self.controls[key]:
                raise ValueError(f"Play {self.name!r}: default {key}={value!r} is not one of {list(self.controls[key])}.")

    def values(self, **changes) -> dict[str, Any]:
        """The default values, updated with ``changes``."""
        values = {k: self.defaults.get(k, v[0]) for k, v in self.controls.items()}
        for key, value in changes.items():
            if key not in self.controls:
                raise ValueError(f"Play {self.name!r}: unknown control {key!r}; controls: {', '.join(self.controls)}.")
            values[key] = value
        return values

    def render(self, **changes) -> tuple[list[Picture], str]:
        pictures, caption = self.compute(**self.values(**changes))
        return list(pictures), caption


def _scale(picture: Picture, size: int) -> int:
    side = max(picture.rgb().shape[:2])
    return max(1, size // side)


def play_widget(play: Play):
    """The panel: one control per entry of ``play.controls``, the pictures side by side, the caption under them."""
    import ipywidgets as w

    state = play.values()
    controls = {}
    for key, options in play.controls.items():
        options = list(options)
        numeric = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options)
        names = play.labels.get(key, {})
        if names:  # (text, value) pairs: the widget shows the text, its value stays the control's value
            options = [(str(names.get(o, o)), o) for o in options]
        if numeric:
            control = w.SelectionSlider(options=options, value=state[key], description=key, continuous_update=False)
        else:
            control = w.Dropdown(options=options, value=state[key], description=key)
        controls[key] = control
    images: list = []
    titles: list = []
    row = w.HBox()
    caption = w.HTML()

    def redraw(_change=None) -> None:
        pictures, text = play.render(**{k: c.value for k, c in controls.items()})
        while len(images) < len(pictures):
            images.append(w.Image(format="png"))
            titles.append(w.HTML())
        for image, title, picture in zip(images, titles, pictures):
            image.value = picture.png(_scale(picture, play.size))
            image.layout = w.Layout(width=f"{play.size}px")
            title.value = f"<div style='text-align:center;font-size:12px'>{picture.title}</div>"
        row.children = [w.VBox([t, i]) for t, i in zip(titles[: len(pictures)], images[: len(pictures)])]
        caption.value = f"<div style='font-size:13px'>{text}</div>"

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HTML(f"<b>{play.name}</b>"), w.HBox(list(controls.values())), row, caption])


def time_play(make_play: Callable[[], Play], *, repeats: int = 3) -> dict[str, Any]:
    """Milliseconds per move: from the defaults, every value of every control in turn.

    ``make_play`` builds a fresh :class:`Play` (so its caches are empty): the first pass times each
    configuration on its first visit, later passes the same moves again. Encoding the PNGs counts,
    as in the widget. Returns ``{"median_ms", "worst_ms", "first_visit_worst_ms", "moves"}``.
    """
    play = make_play()
    moves = [{key: value} for key, options in play.controls.items() for value in options]
    first: list[float] = []
    later: list[float] = []
    for attempt in range(1 + repeats):
        for move in moves:
            start = time.perf_counter()
            pictures, _ = play.render(**move)
            for picture in pictures:
                picture.png(_scale(picture, play.size))
            (first if attempt == 0 else later).append((time.perf_counter() - start) * 1e3)
    every = first + later
    return {"median_ms": statistics.median(every), "worst_ms": max(every),
            "first_visit_worst_ms": max(first), "moves": len(moves)}
