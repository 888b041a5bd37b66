"""What a trace holds and how it shows: :class:`TraceRow`, :class:`Trace`, the table and the arrows.

The table (``str``, ``_repr_html_``) has the columns symbolic, concrete, step and where; "where"
names the file, the function and the statement, never a line number (kept on the row as
:attr:`TraceRow.line`), so a rendered trace stays the same when unrelated code moves.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .. import i18n
from .._checks import fmt_shape

# the table's words, per language (fusionlab.i18n)
TEXT = {
    "en": {"head": ("symbolic", "concrete", "step", "where"), "outputs": "outputs: ",
           "fallback": "† this op refuses symbolic sizes: its shape was computed another way or in numbers",
           "fixed": "{name} = {value} is fixed by the weights", "note": "note: "},
    "zh": {"head": ("符号形状", "具体形状", "步骤", "代码位置"), "outputs": "输出：",
           "fallback": "† 这个算子不接受符号尺寸：它的形状用别的方法或按数值算出",
           "fixed": "{name} = {value} 由权重决定", "note": "注："},
}

__all__ = ["Trace", "TraceRow"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TraceRow:
    """One step of a forward pass.

    Attributes:
        step: ``"sr.0 Conv2d"`` for a leaf sub-module (path and class), the op name
            (``"reshape"``, ``"softmax"``, ``"matmul"``) for a tensor function; prefixed with the
            sub-module it runs in when that is not the traced module (``"ChannelAttention: add"``).
        where: ``"osra.py in project: q = self.q(x)…"``: file, function and statement, when known.
        inputs: shapes of the step's tensor inputs.
        output: the output shape; a tuple of shapes when the step returns several tensors.
        symbolic: the output shape in symbols, e.g. ``"(B, h, H*W, d)"``; None when unavailable.
        fallback: True when the step refused symbolic sizes and was evaluated another way or
            concretely (its symbols may hold plain numbers).
        op: the bare op name or module class (``"reshape"``, ``"Conv2d"``).
        module: the module path of a leaf module, or the sub-module a tensor function ran in
            (``""`` for the traced module itself).
        target: the variable(s) the statement assigns (``"q"``, ``"k, v"``), ``"return"``, or None.
        file, line: the source file and line number of the step, when known (data only: the
            rendered table does not show line numbers).
    """

    step: str
    where: str | None
    inputs: tuple[Shape, ...]
    output: Shape | tuple[Shape, ...]
    symbolic: str | None
    fallback: bool = False
    op: str = ""
    module: str = ""
    target: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def outputs(self) -> tuple[Shape, ...]:
        """Every output shape (one-element tuple for a single output)."""
        return self.output if self.output and isinstance(self.output[0], tuple) else (self.output,)

    @property
    def targets(self) -> tuple[str, ...]:
        """The assigned names one by one: ``"k, v"`` -> ``("k", "v")``."""
        if not self.target:
            return ()
        return tuple(t.strip() for t in re.split(r"[,\s]+", self.target.strip("()[] ")) if t.strip())



class Trace:
    """The shape flow of one forward pass (see :func:`trace`)."""

    def __init__(self, module_name, input_names, dims, inputs, outputs, rows, symbolic_inputs, symbolic_outputs,
                 definitions, sizes, fixed, note, labels=None, output_names=None):
        self.module_name: str = module_name
        self.input_names: list[str] = input_names
        self.dims: dict[str, str] = dims  # input name -> "B C H W"
        self.inputs: tuple[Shape, ...] = inputs
        self.outputs: tuple[Shape, ...] = outputs
        self.rows: list[TraceRow] = rows
        self.symbolic_inputs: tuple[str, ...] = symbolic_inputs
        self.symbolic_outputs: tuple[str, ...] | None = symbolic_outputs
        self.definitions: dict[str, str] = definitions  # derived symbol -> definition, e.g. {"H'": "⌊(H − 1)/2⌋ + 1"}
        self.sizes: dict[str, int] = sizes  # every symbol's value at these sizes
        self.fixed: dict[str, int] = fixed  # input sizes the weights pin (C = 64)
        self.note: str | None = note  # why some symbols are missing, if they are
        self.labels: dict[str, str] = labels or {}  # leaf path -> short name for arrows(): SE1.conv.0 -> SE1
        # where each output sits in the result: "" (one tensor), "0", "1" (a tuple), "logits" (a dict)
        self.output_names: tuple[str, ...] = tuple(output_names or ("",) * len(outputs))

    @property
    def named_outputs(self) -> dict[str, Shape]:
        """Output shape by its place in the result: ``{"logits": (2, 10), "features": (2, 64)}``."""
        return dict(zip(self.output_names, self.outputs))

    @property
    def output(self) -> Shape:
        """The output shape of a single-output module."""
        if len(self.outputs) != 1:
            raise ValueError(f"trace: {self.module_name} returns {len(self.outputs)} tensors; use .outputs.")
        return self.outputs[0]

    def find(self, name: str) -> list[TraceRow]:
        """Rows that assign ``name`` (``"q"``), or whose op, module path or step is ``name``."""
        return [r for r in self.rows
                if name in r.targets or name in (r.op, r.module, r.step) or r.step.endswith(": " + name)]

    def input_shape(self, index: int, symbolic: bool = True) -> str | None:
        """Row ``index``'s first input as printed where it was made: the latest earlier row (or the
        block input) with that shape; None if the row has no tensor input."""
        row = self.rows[index]
        if not row.inputs:
            return None
        want = row.inputs[0]
        for r in reversed(self.rows[:index]):
            for k, shape in enumerate(r.outputs):
                if shape == want:
                    if symbolic and r.symbolic:
                        parts = r.symbolic.split(" ; ")
                        return parts[k] if len(parts) == len(r.outputs) else parts[0].split(" ×")[0]
                    return fmt_shape(shape)
        for sym, shape in zip(self.symbolic_inputs, self.inputs):
            if shape == want:
                return sym if (symbolic and sym) else fmt_shape(shape)
        return fmt_shape(want)

    # -- renderers
    def _header(self) -> str:
        parts = []
        for name, sym, shape in zip(self.input_names, self.symbolic_inputs, self.inputs):
            parts.append(f"{name} {sym} = {fmt_shape(shape)}" if sym else f"{name} {fmt_shape(shape)}")
        return f"{self.module_name}: " + ", ".join(parts)

    def _footer(self) -> list[str]:
        lines = []
        if any(self.output_names):
            syms = self.symbolic_outputs or ("",) * len(self.outputs)
            lines.append(i18n.say(TEXT, "outputs") + ", ".join(
                f"{n or i} {s + ' = ' if s else ''}{fmt_shape(o)}"
                for i, (n, s, o) in enumerate(zip(self.output_names, syms, self.outputs))))
        if any(r.fallback for r in self.rows):
            lines.append(i18n.say(TEXT, "fallback"))
        for name, value in self.fixed.items():
            lines.append(i18n.say(TEXT, "fixed", name=name, value=value))
        for name, definition in self.definitions.items():
            value = self.sizes.get(name)
            lines.append(f"{name} = {definition}" + (f" = {value}" if value is not None else ""))
        if self.note:
            lines.append(i18n.say(TEXT, "note") + self.note)
        return lines

    def _cells(self) -> list[tuple[str, str, str, str]]:
        out = []
        for r in self.rows:
            sym = (r.symbolic or "") + (" †" if r.fallback else "")
            conc = " ; ".join(fmt_shape(s) for s in r.outputs)
            out.append((sym, conc, r.step, r.where or ""))
        return out

    def __str__(self) -> str:
        head = i18n.say(TEXT, "head")
        cells = self._cells()
        widths = [max([len(head[i])] + [len(c[i]) for c in cells]) for i in range(3)]

        def line(c):
            return "  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3]

        body = [self._header(), line(head)] + [line(c).rstrip() for c in cells]
        return "\n".join(body + self._footer())

    def __repr__(self) -> str:
        return f"<Trace of {self.module_name}: {len(self.rows)} steps, {self._header()}>"

    def _repr_html_(self) -> str:
        e = html.escape
        th = "".join(f"<th style='text-align:left'>{h}</th>" for h in i18n.say(TEXT, "head"))
        body = []
        for r, (sym, conc, step, where) in zip(self.rows, self._cells()):
            style = " style='background:#fff4e0'" if r.fallback else ""
            title = " title='fallback: this op refuses symbolic sizes'" if r.fallback else ""
            body.append(
                f"<tr{style}><td{title}><code>{e(sym)}</code></td><td><code>{e(conc)}</code></td>"
                f"<td>{e(step)}</td><td><code>{e(where)}</code></td></tr>"
            )
        foot = "".join(f"<div>{e(x)}</div>" for x in self._footer())
        return (
            f"<div class='fusionlab-trace'><div><b>{e(self._header())}</b></div>"
            f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<div style='font-size:smaller'>{foot}</div></div>"
        )

    def arrows(self, symbolic: bool = True, *, rows: slice | None = None, wrap: int | None = None) -> str:
        """The post's arrow chain: ``(B,C,H,W) --gap--> (B,C,1,1) --SE1--> (B,C,1,1)``.

        Args:
            symbolic: symbols where available (numbers otherwise).
            rows: a slice of :attr:`rows` (default all); the chain starts at the shape before it.
            wrap: start a new line after this many arrows (None: one line).
        """
        def tight(s: str) -> str:
            return s.replace(", ", ",")

        def shape_of(r: TraceRow) -> str:
            return r.symbolic if (symbolic and r.symbolic) else " ; ".join(fmt_shape(x) for x in r.outputs)

        chosen = range(len(self.rows))[rows] if rows is not None else range(len(self.rows))
        first = chosen[0] if len(chosen) else 0
        start = self.input_shape(first, symbolic) if self.rows else None
        if start is None:
            start = (self.symbolic_inputs[0] if symbolic and self.symbolic_inputs and self.symbolic_inputs[0]
                      else fmt_shape(self.inputs[0]) if self.inputs else "()")
        parts = [tight(start)]
        for n, i in enumerate(chosen):
            r = self.rows[i]
            label = self.labels.get(r.module, r.module) if r.step == f"{r.module} {r.op}" else r.op  # a layer, or an op
            sep = "\n" if wrap and n and n % wrap == 0 else " "
            parts.append(f"{sep}--{label}--> {tight(shape_of(r))}")
        return "".join(parts)

