"""What a block costs: parameters, FLOPs and CPU latency, and how they grow with H×W.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on ``meta`` tensors,
so counting a block at 1024×1024 takes no memory and no time. Two facts to keep in mind
when reading the numbers (they are repeated under every table):

* only matrix products, convolutions and attention kernels are counted; element-wise ops
  (sigmoid, add, multiply, softmax, normalisation, pooling) count 0;
* FLOPs = 2 × multiply–accumulates (MACs), the way torch counts them; papers that quote
  "FLOPs" often mean MACs, i.e. half of this number.

>>> from fusionlab import GatedFusion, cost
>>> c = cost(GatedFusion(8), (1, 4, 4, 8), (1, 4, 4, 8))
>>> c.params, c.flops
(144, 4096)

Generic: nothing here knows the registry. :func:`cost_growth` takes a module factory; the
course's ``fusionlab.cost_growth`` (in :mod:`fusionlab.widgets`) takes a registered block.
"""
from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from . import i18n
from ._checks import fmt_shape
from ._meta import is_shape, meta_call
from .modes import eval_mode

__all__ = [
    "Cost",
    "CostGrowth",
    "FLOPS_NOTE",
    "cost",
    "cost_growth",
    "count_buffers",
    "count_flops",
    "count_params",
    "cpu_latency",
]

FLOPS_NOTE = (
    "FLOPs as torch counts them: 2 × multiply–accumulates of matrix products, convolutions and "
    "attention only; element-wise ops (sigmoid, add, multiply, softmax, norms, pooling) count 0."
)

# the tables' words, per language (fusionlab.i18n)
TEXT = {
    "en": {
        "flops_note": FLOPS_NOTE, "parameters": "parameters", "buffers": "buffers",
        "latency": "CPU latency (median)", "latency_short": "CPU latency", "on": "{name} on {shapes}",
        "counted": " Counted here: {ops}.", "none": "none", "growth": "{block}: cost as H = W grows ({fixed})",
    },
    "zh": {
        "flops_note": "FLOPs 按 torch 的计数方式：只计矩阵乘法、卷积和注意力，每次乘加记 2；"
                      "逐元素运算（sigmoid、加、乘、softmax、归一化、池化）记 0。",
        "parameters": "参数量", "buffers": "缓冲区", "latency": "CPU 延迟（中位数）", "latency_short": "CPU 延迟",
        "on": "{name}，输入 {shapes}", "counted": "这里计入：{ops}。", "none": "无",
        "growth": "{block}：H = W 增大时的开销（{fixed}）",
    },
}


# ----------------------------------------------------------------------------------------
# counting
# ----------------------------------------------------------------------------------------


def count_params(module: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared parameters counted once).

    ``trainable_only=True`` counts only those with ``requires_grad``. Buffers (e.g.
    BatchNorm's running statistics) are not parameters: see :func:`count_buffers`.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_buffers(module: nn.Module) -> int:
    """Number of buffer elements (running statistics, fixed tables), not trained but stored."""
    return sum(b.numel() for b in module.buffers())


def _shape_of(x: Any) -> tuple[int, ...] | None:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if is_shape(x):
        return tuple(x)
    return None


def _real_input(x: Any, gen: torch.Generator) -> Any:
    if is_shape(x):
        return torch.randn(tuple(x), generator=gen)
    return x


def _flop_counts(module: nn.Module, inputs: Sequence[Any]) -> tuple[int, dict[str, int]]:
    from torch.utils.flop_counter import FlopCounterMode

    def counted(run) -> tuple[int, dict[str, int]]:
        with FlopCounterMode(display=False) as counter:
            run()
        by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
        return int(counter.get_total_flops()), by_op

    try:
        return counted(lambda: meta_call(module, inputs))
    except (NotImplementedError, RuntimeError):
        # a few ops read tensor values (``.item()``, data-dependent shapes) and cannot run on
        # meta: count on real tensors instead (the real module is run, in eval mode, unchanged)
        if all(t.is_meta for t in itertools.chain(module.parameters(), module.buffers())):
            raise
        gen = torch.Generator().manual_seed(0)
        xs = [_real_input(x, gen) for x in inputs]

        def real():
            with eval_mode(module), torch.no_grad():
                module(*xs)

        return counted(real)


def count_flops(module: nn.Module, *inputs: Any) -> int:
    """FLOPs of one forward pass in eval mode, counted on ``meta`` tensors.

    Args:
        module: any ``nn.Module``; its real weights are neither read nor copied (meta stand-ins run).
        inputs: tensors or shape tuples, e.g. ``count_flops(block, (1, 64, 56, 56))``.

    Only matrix products, convolutions and attention are counted; element-wise ops count 0.
    FLOPs = 2 × multiply–accumulates (MACs), as :class:`~torch.utils.flop_counter.FlopCounterMode`
    counts them.
    """
    return _flop_counts(module, inputs)[0]


def cpu_latency(
    module: nn.Module,
    *inputs: Any,
    min_run_time: float = 0.2,
    num_threads: int | None = None,
    seed: int = 0,
) -> float:
    """Median seconds of one forward pass on the CPU (eval mode, no autograd).

    Measured with :meth:`torch.utils.benchmark.Timer.blocked_autorange`, which repeats the call
    in blocks for at least ``min_run_time`` seconds (after one warm-up call) and reports the
    median block time per call. Shape tuples become random inputs (seeded with ``seed``).
    A timing depends on the machine and its load: compare numbers measured together.
    """
    from torch.utils import benchmark

    tensors = list(itertools.chain(module.parameters(), module.buffers()))
    if any(t.device.type != "cpu" for t in tensors):
        devices = sorted({str(t.device) for t in tensors})
        raise ValueError(
            f"cpu_latency: the module's weights are on {', '.join(devices)}; pass a module on the CPU "
            f"(e.g. module.cpu(), or build it without device='meta')."
        )
    gen = torch.Generator().manual_seed(seed)
    xs = [_real_input(x, gen) for x in inputs]
    # eval_mode puts each submodule's own flag back: a BatchNorm frozen in eval mode stays frozen
    with eval_mode(module), torch.no_grad():
        module(*xs)  # warm-up, and any input error surfaces here with the block's own message
        timer = benchmark.Timer(
            stmt="module(*xs)",
            globals={"module": module, "xs": xs},
            num_threads=num_threads or torch.get_num_threads(),
        )
        return float(timer.blocked_autorange(min_run_time=min_run_time).median)


# ----------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------


def _si(n: float) -> str:
    """``1.68 G``: a count with an SI prefix, three significant digits."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}"
    return f"{n:g}"


def _seconds(t: float) -> str:
    for factor, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if t >= factor:
            return f"{t / factor:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


@dataclass(frozen=True)
class Cost:
    """Parameters, FLOPs and (optionally) CPU latency of one block on given input shapes.

    Shows as a small table in a notebook (``_repr_html_``) and as text (``str``).
    """

    name: str  # the module's class name
    params: int  # parameter elements
    buffers: int  # buffer elements (stored, not trained)
    flops: int  # 2 × MACs of matmul/conv/attention; element-wise ops count 0
    input_shapes: tuple[tuple[int, ...] | None, ...]
    latency: float | None = None  # median seconds on the CPU, if measured
    flops_by_op: Mapping[str, int] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return self.flops // 2

    def _rows(self) -> list[tuple[str, str]]:
        rows = [(i18n.say(TEXT, "parameters"), f"{self.params:,}")]
        if self.buffers:
            rows.append((i18n.say(TEXT, "buffers"), f"{self.buffers:,}"))
        rows.append(("FLOPs*", f"{_si(self.flops)} ({self.flops:,})" if self.flops >= 1000 else f"{self.flops}"))
        if self.latency is not None:
            rows.append((i18n.say(TEXT, "latency"), _seconds(self.latency)))
        return rows

    def _title(self) -> str:
        shapes = ", ".join(fmt_shape(s) if s is not None else "·" for s in self.input_shapes)
        return i18n.say(TEXT, "on", name=self.name, shapes=shapes)

    def _note(self) -> str:
        counted = ", ".join(sorted(self.flops_by_op)) or i18n.say(TEXT, "none")
        return f"* {i18n.say(TEXT, 'flops_note')}{i18n.say(TEXT, 'counted', ops=counted)}"

    def __str__(self) -> str:
        rows = self._rows()
        width = max(len(k) for k, _ in rows)
        lines = [self._title()] + [f"  {k:<{width}}  {v}" for k, v in rows] + [self._note()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        e = html.escape
        body = "".join(
            f"<tr><td style='text-align:left'>{e(k)}</td><td style='text-align:right'>{e(v)}</td></tr>"
            for k, v in self._rows()
        )
        return (
            f"<table><caption style='text-align:left'><b>{e(self._title())}</b></caption>{body}</table>"
            f"<div style='font-size:smaller'>{e(self._note())}</div>"
        )


def cost(module: nn.Module, *inputs: Any, latency: bool = False, min_run_time: float = 0.2) -> Cost:
    """Parameters and FLOPs of ``module`` on ``inputs`` (tensors or shape tuples), and, with
    ``latency=True``, its median CPU latency (see :func:`cpu_latency`)."""
    flops, by_op = _flop_counts(module, inputs)
    seconds = cpu_latency(module, *inputs, min_run_time=min_run_time) if latency else None
    return Cost(
        name=type(module).__name__,
        params=count_params(module),
        buffers=count_buffers(module),
        flops=flops,
        input_shapes=tuple(_shape_of(x) for x in inputs),
        latency=seconds,
        flops_by_op=by_op,
    )


@dataclass(frozen=True)
class CostGrowth:
    """Cost of one block as H = W grows: ``rows`` for a table, :func:`fusionlab.plots.plot_growth` for a plot.

    Each row is a dict with ``side`` (H = W), ``hw`` (H·W), ``params``, ``flops`` and
    ``latency`` (seconds, or None when not measured).
    """

    block: str
    rows: tuple[dict[str, Any], ...]
    sizes: Mapping[str, int]  # the other sizes, fixed
    hparams: Mapping[str, Any]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def _table(self) -> tuple[list[str], list[list[str]]]:
        timed = any(r["latency"] is not None for r in self.rows)
        header = ["H = W", "H·W", i18n.say(TEXT, "parameters"), "FLOPs*"] + ([i18n.say(TEXT, "latency_short")] if timed else [])
        body = []
        for r in self.rows:
            cells = [str(r["side"]), f"{r['hw']:,}", f"{r['params']:,}", _si(r["flops"])]
            if timed:
                cells.append(_seconds(r["latency"]) if r["latency"] is not None else "")
            body.append(cells)
        return header, body

    def _caption(self) -> str:
        fixed = ", ".join(f"{k}={v}" for k, v in {**self.sizes, **self.hparams}.items())
        return i18n.say(TEXT, "growth", block=self.block, fixed=fixed)

    def __str__(self) -> str:
        header, body = self._table()
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        lines = [self._caption(), "  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in body]
        return "\n".join(lines + [f"* {i18n.say(TEXT, 'flops_note')}"])

    def _repr_html_(self) -> str:
        e = html.escape
        header, body = self._table()
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        rows = "".join(
            "<tr>" + "".join(f"<td style='text-align:right'>{e(c)}</td>" for c in row) + "</tr>" for row in body
        )
        return (
            f"<table><caption style='text-align:left'><b>{e(self._caption())}</b></caption>"
            f"<tr>{head}</tr>{rows}</table><div style='font-size:smaller'>* {e(i18n.say(TEXT, 'flops_note'))}</div>"
        )


def cost_growth(
    build: Callable[[int], nn.Module],
    shapes: Callable[[int], Sequence[Sequence[int]]],
    sides: Sequence[int] = (16, 32, 64, 128, 256),
    *,
    name: str = "block",
    sizes: Mapping[str, int] | None = None,
    hparams: Mapping[str, Any] | None = None,
    latency: bool = False,
    min_run_time: float = 0.1,
) -> CostGrowth:
    """Parameters, FLOPs (and with ``latency=True`` CPU latency) of ``build(side)`` for H = W in ``sides``.

    Args:
        build: side -> the module at that size (called under ``torch.device("meta")`` to count,
            and once more on the CPU per side to time).
        shapes: side -> the input shapes, e.g. ``lambda s: [(1, 64, s, s)]``.
        name, sizes, hparams: what the table's caption says is fixed (the block, B, C, …).

    FLOPs are counted on ``meta`` tensors (free at any size); latency runs real tensors.
    For a registered block by name, use ``fusionlab.cost_growth("osra", ...)``.
    """
    rows = []
    for side in sides:
        with torch.device("meta"):
            block = build(int(side))
        inputs = list(shapes(int(side)))
        seconds = None
        if latency:
            torch.manual_seed(0)
            seconds = cpu_latency(build(int(side)), *inputs, min_run_time=min_run_time)
        rows.append({"side": int(side), "hw": int(side) ** 2, "params": count_params(block),
                     "flops": count_flops(block, *inputs), "latency": seconds})
    return CostGrowth(block=name, rows=tuple(rows), sizes=dict(sizes or {}), hparams=dict(hparams or {}))
