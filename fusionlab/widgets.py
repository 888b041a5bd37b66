"""A slider panel for any registered block: move a size or a hyperparameter, watch the shapes.

:func:`block_panel` builds one control per input dimension and hyperparameter of a registry
entry (``fusionlab.BLOCKS``): an ``IntSlider`` for a ``range`` of choices, a ``Dropdown`` for a
tuple of them, plus a ``mode`` control (``train``, as a freshly built block is, or ``eval``).
On each change it builds the block on the ``meta`` device (no memory, no arithmetic), runs
it, and redraws the constructor call, the traced shape flow and the cost (parameters, FLOPs).
A combination the block refuses shows the block's own one-sentence message and the nearest
values that do work, never a traceback.

The logic (:func:`evaluate`, :func:`try_block`, :func:`nearest_valid`) is plain Python and
needs no browser; the panel is a thin ipywidgets view over it, using only widgets present
in both ipywidgets 7 (Colab) and 8: ``VBox``, ``HBox``, ``IntSlider``, ``Dropdown``, ``HTML``,
``Layout`` and ``observe``.

>>> state = evaluate("gated_fusion", {"B": 1, "H": 4, "W": 4, "C": 8, "variant": "blog"})
>>> state.ok, state.call, state.cost.params
(True, "GatedFusion(dim=8, variant='blog')", 144)
"""
from __future__ import annotations

import html
import inspect
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from . import costs, i18n
from ._meta import meta_call
from .costs import Cost, CostGrowth, count_buffers, count_params
from .registry import BLOCKS, BlockSpec

__all__ = ["MODES", "PanelState", "block_panel", "controls_of", "cost_growth", "defaults", "evaluate",
           "nearest_valid", "try_block"]

# the panel's own words, per language (fusionlab.i18n); the blocks' error sentences stay English
TEXT = {
    "en": {
        "pytorch": "PyTorch cannot run this combination ({kind}): {text}",
        "no_fix": "No nearby combination works; try the defaults.",
        "fixes": "Nearest values that work: {parts}.", "or": "; or ",
        "not_valid": "Not valid: ", "mode": "{mode} mode", "meta": "{mode} mode, meta device",
        "train": "train", "eval": "eval",
        "no_trace": "No shape trace: {why}",
        "numbers_only": "Shapes in numbers only; the symbolic trace failed: {why}",
        "note": "Each change rebuilds the block on the meta device: shapes and counts, no memory, no arithmetic.",
        "fixed": " Fixed: {values}.",
    },
    "zh": {
        "pytorch": "PyTorch 无法运行这组取值（{kind}）：{text}",
        "no_fix": "附近没有可行的取值组合；试试默认值。",
        "fixes": "最接近的可行取值：{parts}。", "or": "；或 ",
        "not_valid": "不可行：", "mode": "{mode}模式", "meta": "{mode}模式，meta 设备",
        "train": "训练", "eval": "评估",
        "no_trace": "没有形状追踪：{why}",
        "numbers_only": "只有数值形状；符号追踪失败：{why}",
        "note": "每次改动都在 meta 设备上重建模块：只算形状和计数，不占内存，不做算术。",
        "fixed": " 固定不变：{values}。",
    },
}

# "mode" is a control of every panel: BatchNorm and dropout behave differently in each
MODES = ("train", "eval")

# how many values the search may try on each side of a rejected one, and in all
_SEARCH_STEPS = 64
_SEARCH_BUDGET = 400


def _spec(spec_or_name: BlockSpec | str) -> BlockSpec:
    if isinstance(spec_or_name, BlockSpec):
        return spec_or_name
    if spec_or_name not in BLOCKS:
        raise ValueError(f"unknown block {spec_or_name!r}; registered blocks: {', '.join(BLOCKS)}.")
    return BLOCKS[spec_or_name]


def _size_names(spec: BlockSpec) -> list[str]:
    return list(spec.dims) + [d for d in spec.sizes if d not in spec.dims]


def defaults(spec: BlockSpec | str) -> dict[str, Any]:
    """Every size and hyperparameter at the registry's default, and ``mode="train"``
    (the mode of a block just built)."""
    spec = _spec(spec)
    return {**{d: spec.sizes[d] for d in _size_names(spec)}, **spec.hparams, "mode": "train"}


def controls_of(spec: BlockSpec | str) -> dict[str, Sequence]:
    """The names a panel can move and their choices: the sizes and hyperparameters that have
    ``spec.choices`` (booleans get True/False), then ``mode``."""
    spec = _spec(spec)
    out: dict[str, Sequence] = {}
    for name, default in defaults(spec).items():
        if name in spec.choices:
            out[name] = spec.choices[name]
        elif isinstance(default, bool):
            out[name] = (False, True)
    out["mode"] = MODES
    return out


def _split(spec: BlockSpec, values: Mapping[str, Any]) -> tuple[dict[str, int], dict[str, Any], bool]:
    sizes = {d: values[d] for d in _size_names(spec)}
    hparams = {h: values[h] for h in spec.hparams}
    mode = values.get("mode", "train")
    if mode not in MODES:
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}.")
    return sizes, hparams, mode == "train"


def _build_meta(spec: BlockSpec, values: Mapping[str, Any]) -> nn.Module:
    sizes, hparams, train = _split(spec, values)
    with torch.device("meta"):
        block = spec.build(sizes=sizes, **hparams)
    return block.train(train)


def _sentence(err: BaseException) -> str:
    """The block's own message; a failure inside PyTorch gets one line of context instead."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, (ValueError, TypeError)):
        return text
    return i18n.say(TEXT, "pytorch", kind=type(err).__name__, text=text[:300])


def try_block(spec: BlockSpec | str, values: Mapping[str, Any]) -> str | None:
    """None if the block builds and runs (on ``meta``) for these values, else the one-sentence reason."""
    spec = _spec(spec)
    values = {**defaults(spec), **values}
    try:
        # the same run as a panel update, so that a suggestion valid here is valid there
        _meta_flops(_build_meta(spec, values), spec.shapes(_split(spec, values)[0]))
    except Exception as err:  # any refusal becomes a sentence for the learner, never a traceback
        return _sentence(err)
    return None


def _outward(options: Sequence, current: Any) -> list[list]:
    """Options nearest ``current`` first: [below…] and [above…] for numbers, one list otherwise."""
    options = list(options)
    numeric = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in options)
    if numeric and isinstance(current, (int, float)) and not isinstance(current, bool):
        below = sorted((o for o in options if o < current), reverse=True)
        above = sorted(o for o in options if o > current)
        return [below, above]
    if current in options:
        i = options.index(current)
        return [[options[j] for _, j in sorted((abs(j - i), j) for j in range(len(options)) if j != i)]]
    return [options]


def nearest_valid(
    spec: BlockSpec | str,
    values: Mapping[str, Any],
    changed: str | None = None,
    *,
    max_suggestions: int = 4,
) -> list[dict[str, Any]]:
    """The nearest combinations that build and run, as ``{name: new value}`` changes to ``values``.

    First the control just moved (``changed``): its nearest working value below and above.
    If no value of it works with the others as they are, each other control in turn
    (``changed`` kept where it is), nearest value first. Every suggestion has been run.
    """
    spec = _spec(spec)
    values = {**defaults(spec), **values}
    choices = controls_of(spec)
    found: list[dict[str, Any]] = []
    budget = _SEARCH_BUDGET  # tries left, shared by every control
    order = ([changed] if changed in choices else []) + [n for n in choices if n != changed]
    for name in order:
        for side in _outward(choices[name], values[name]):
            for option in side[:_SEARCH_STEPS]:
                if budget <= 0:
                    break
                budget -= 1
                if try_block(spec, {**values, name: option}) is None:
                    found.append({name: option})
                    break
        if found and name == changed:
            break  # moving the control just touched back a little is the nearest fix
        if len(found) >= max_suggestions:
            break
    if not found:
        base = defaults(spec)
        if try_block(spec, base) is None:
            found.append({k: v for k, v in base.items() if values.get(k) != v})
    return found[:max_suggestions]


@dataclass
class PanelState:
    """What a panel shows after one update: the block's call, its trace and cost, or the reason and the fixes."""

    values: dict[str, Any]
    changed: str | None = None
    call: str | None = None  # the constructor call the values lead to, e.g. "SAFM(dim=36, n_levels=4)"
    trace: Any = None  # a fusionlab.Trace, when the block runs
    cost: Cost | None = None
    error: str | None = None  # one sentence, when the block refuses the values
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    trace_note: str | None = None  # why the symbolic trace fell back or failed
    seconds: float = 0.0  # time this update took

    @property
    def ok(self) -> bool:
        return self.error is None

    def suggestion_text(self) -> str:
        if not self.suggestions:
            return i18n.say(TEXT, "no_fix")
        parts = [", ".join(f"{k} = {v!r}" for k, v in s.items()) for s in self.suggestions]
        return i18n.say(TEXT, "fixes", parts=i18n.say(TEXT, "or").join(parts))

    def _repr_html_(self) -> str:
        e = html.escape
        if not self.ok:
            return (
                "<div style='border-left:4px solid #d9534f;padding:4px 8px'>"
                f"<b>{e(i18n.say(TEXT, 'not_valid'))}</b>{e(self.error)}<br>{e(self.suggestion_text())}</div>"
            )
        mode = self.values.get("mode", "train")
        parts = [f"<div><code>{e(self.call or '')}</code> <small>({e(i18n.say(TEXT, 'meta', mode=i18n.say(TEXT, mode)))})</small></div>"]
        if self.trace is not None:
            parts.append(self.trace._repr_html_())
        if self.trace_note:
            parts.append(f"<div style='font-size:smaller'>{e(self.trace_note)}</div>")
        if self.cost is not None:
            parts.append(self.cost._repr_html_())
        return "".join(parts)

    def __str__(self) -> str:
        if not self.ok:
            return f"{i18n.say(TEXT, 'not_valid')}{self.error}\n{self.suggestion_text()}"
        parts = [f"{self.call} ({i18n.say(TEXT, 'mode', mode=i18n.say(TEXT, self.values.get('mode', 'train')))})"]
        parts += [str(self.trace)] if self.trace is not None else []
        parts += [self.trace_note] if self.trace_note else []
        parts += [str(self.cost)] if self.cost is not None else []
        return "\n".join(parts)


def _call(spec: BlockSpec, config: Mapping[str, Any]) -> str:
    """``SAFM(dim=36, n_levels=4)``: the constructor call, arguments in the signature's order."""
    try:
        order = list(inspect.signature(spec.cls).parameters)
    except (TypeError, ValueError):
        order = []
    keys = sorted(config, key=lambda k: order.index(k) if k in order else len(order))
    return f"{spec.cls.__name__}({', '.join(f'{k}={config[k]!r}' for k in keys)})"


def _meta_flops(block: nn.Module, shapes) -> tuple[int, dict[str, int]]:
    """Run a meta block once, in its own mode, counting FLOPs as :mod:`fusionlab.costs` does."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        meta_call(block, shapes, train=True)  # train=True: the block's own modes, as the panel set them
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), by_op


def cost_growth(
    spec: BlockSpec | str,
    sides: Sequence[int] = (16, 32, 64, 128, 256),
    *,
    sizes: Mapping[str, int] | None = None,
    latency: bool = False,
    min_run_time: float = 0.1,
    **hparams: Any,
) -> CostGrowth:
    """Parameters, FLOPs (and with ``latency=True`` CPU latency) of a registered block for H = W in ``sides``.

    Args:
        spec: a :class:`~fusionlab.registry.BlockSpec` or its name in ``fusionlab.BLOCKS``.
        sides: the values of H = W.
        sizes: the other input sizes (B, C, …); the registry's defaults otherwise.
        hparams: hyperparameters passed to ``spec.build``.

    The registry's way into :func:`fusionlab.costs.cost_growth`, which takes any module factory.
    """
    spec = _spec(spec)
    if not {"H", "W"} <= set(spec.dims):
        raise ValueError(
            f"cost_growth: {spec.name} has no H and W dimensions (its dimensions are {', '.join(spec.dims)})."
        )
    fixed = {k: v for k, v in spec.resolve(sizes).items() if k not in ("H", "W")}

    def at(side: int) -> dict[str, int]:
        return {**fixed, "H": side, "W": side}

    return costs.cost_growth(lambda side: spec.build(sizes=at(side), **hparams), lambda side: spec.shapes(at(side)),
                             sides, name=spec.name, sizes=fixed, hparams=dict(spec.hparams, **hparams),
                             latency=latency, min_run_time=min_run_time)


def evaluate(
    spec: BlockSpec | str,
    values: Mapping[str, Any],
    changed: str | None = None,
    *,
    symbolic: bool = True,
) -> PanelState:
    """Build and run the block on ``meta`` for ``values`` (sizes, hyperparameters, ``mode``);
    trace its shapes and count its cost.

    Never raises for a refused combination: the state then carries the block's sentence and
    :func:`nearest_valid` suggestions.
    """
    from .tracing import TraceError, trace

    start = time.perf_counter()
    spec = _spec(spec)
    values = {**defaults(spec), **values}
    state = PanelState(values=values, changed=changed)
    sizes, hparams, _ = _split(spec, values)
    shapes = spec.shapes(sizes)
    try:
        state.call = _call(spec, spec.config(sizes, **hparams))
        block = _build_meta(spec, values)
        # one meta forward both proves the values valid and counts the FLOPs
        flops, by_op = _meta_flops(block, shapes)
    except Exception as err:  # shown as a sentence, never as a traceback
        state.error = _sentence(err)
        state.suggestions = nearest_valid(spec, values, changed)
        state.seconds = time.perf_counter() - start
        return state
    state.cost = Cost(
        name=type(block).__name__, params=count_params(block), buffers=count_buffers(block), flops=flops,
        input_shapes=shapes, flops_by_op=by_op,
    )
    names = list(spec.inputs.values())  # dimension names per input, e.g. "B H W C"
    try:
        state.trace = trace(block, *shapes, names=names, symbolic=symbolic)
    except TraceError as err:  # an op needs tensor values: the rows before it, and why
        state.trace, state.trace_note = err.trace, err.sentence
    except Exception as err:  # the block ran; only the tracing failed: say so, show the rest
        state.trace_note = i18n.say(TEXT, "no_trace", why=_sentence(err))
        if symbolic:
            try:
                state.trace = trace(block, *shapes, names=names, symbolic=False)
                state.trace_note = i18n.say(TEXT, "numbers_only", why=_sentence(err))
            except Exception:
                pass
    state.seconds = time.perf_counter() - start
    return state


def _control(name: str, options: Sequence, value: Any):
    import ipywidgets as w

    style = {"description_width": "initial"}
    layout = w.Layout(width="auto", min_width="220px")
    if isinstance(options, range) and options.step > 0 and len(options) > 1:
        if value not in options:
            raise ValueError(
                f"block_panel: {name} = {value!r} is not among its choices "
                f"(integers {options.start}…{options[-1]} in steps of {options.step})."
            )
        return w.IntSlider(value=value, min=options.start, max=options[-1], step=options.step, description=name,
                           continuous_update=False, style=style, layout=layout)
    options = list(options)
    if value not in options:
        raise ValueError(f"block_panel: {name} = {value!r} is not among its choices {options!r}.")
    # explicit (label, value) pairs, so that a tuple-valued option such as (2, 4, 8) stays one option
    return w.Dropdown(options=[(str(o), o) for o in options], value=value, description=name, style=style,
                      layout=layout)


@lru_cache(maxsize=None)
def _panel_class():
    import ipywidgets as w

    class BlockPanel(w.VBox):
        """The panel: ``controls`` maps names to widgets, ``state`` is the latest :class:`PanelState`."""

        def __init__(self, spec: BlockSpec, values: dict[str, Any], shown: Sequence[str], symbolic: bool):
            self.spec, self.symbolic = spec, symbolic
            self._fixed = {k: v for k, v in values.items() if k not in shown}
            choices = controls_of(spec)
            self.controls = {n: _control(n, choices[n], values[n]) for n in shown}
            note = i18n.say(TEXT, "note")
            if self._fixed:
                note += i18n.say(TEXT, "fixed", values=", ".join(f"{k} = {v!r}" for k, v in self._fixed.items()))
            header = w.HTML(
                f"<b>{html.escape(spec.text('title'))}</b> — {html.escape(spec.text('paper'))}"
                f"<div style='font-size:smaller'>{html.escape(note)}</div>"
            )
            groups = (
                [c for n, c in self.controls.items() if n in spec.sizes],
                [c for n, c in self.controls.items() if n not in spec.sizes],
            )
            rows = [w.HBox(g, layout=w.Layout(flex_flow="row wrap")) for g in groups if g]
            self.output = w.HTML()
            super().__init__([header, *rows, self.output])
            self.state: PanelState | None = None
            for control in self.controls.values():
                control.observe(self._on_change, names="value")
            self.update()

        @property
        def values(self) -> dict[str, Any]:
            return {**self._fixed, **{n: c.value for n, c in self.controls.items()}}

        def _on_change(self, change) -> None:
            self.update(next((n for n, c in self.controls.items() if c is change["owner"]), None))

        def update(self, changed: str | None = None) -> PanelState:
            """Recompute and redraw; called on every control change."""
            self.state = evaluate(self.spec, self.values, changed, symbolic=self.symbolic)
            self.output.value = self.state._repr_html_()
            return self.state

    return BlockPanel


def block_panel(
    spec_or_name: BlockSpec | str,
    *,
    only: Sequence[str] | None = None,
    symbolic: bool = True,
    **overrides: Any,
):
    """An ipywidgets panel for a registered block: a control per size, hyperparameter and ``mode``.

    Args:
        spec_or_name: a :class:`~fusionlab.registry.BlockSpec` or its name in ``fusionlab.BLOCKS``.
        only: show controls for these names only; the others stay fixed at their values.
        symbolic: trace shapes as expressions of B, C, H, W … as well as numbers.
        overrides: starting values, e.g. ``H=32, C=16, mode="eval"``.

    Returns:
        a ``VBox`` with ``.controls`` (name → widget), ``.values``, ``.state`` (the latest
        :class:`PanelState`: call, trace and cost, or the error sentence and suggestions) and
        ``.update()``. A change costs one meta build, one meta forward (FLOPs) and one trace.
    """
    spec = _spec(spec_or_name)
    values = defaults(spec)
    unknown = set(overrides) - set(values)
    if unknown:
        raise ValueError(f"block_panel: unknown name(s) {sorted(unknown)} for {spec.name}; valid: {', '.join(values)}.")
    values.update(overrides)
    choices = controls_of(spec)
    shown = list(choices) if only is None else list(only)
    bad = [n for n in shown if n not in choices]
    if bad:
        raise ValueError(
            f"block_panel: {spec.name} has no choices for {', '.join(bad)}; controllable: {', '.join(choices)}."
        )
    return _panel_class()(spec, values, shown, symbolic)
