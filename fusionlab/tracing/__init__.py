"""Shape flow of a block: every step's output shape, in numbers and in the post's symbols.

>>> from fusionlab import trace, GatedFusion
>>> t = trace(GatedFusion(64), (1, 224, 224, 64), (1, 224, 224, 64), names="B H W C")
>>> t.rows[0].step, t.rows[0].output, t.rows[0].symbolic
('fc1 Linear', (1, 224, 224, 64), '(B, H, W, C)')

How it works. The block runs without computing anything, on the meta device and on fake
tensors. A ``TorchFunctionMode`` sees every tensor function the forward calls and module hooks
see every leaf layer (``Conv2d``, ``Linear``, …); each becomes one :class:`TraceRow`. The ops
inside a library layer and the ops that only touch weights are not rows; a module of your own
without sub-modules shows its ops.

* The concrete pass runs on the ``meta`` device (inputs and stand-ins for the parameters hold
  shapes and dtypes only), so a (8, 1024, 1024, 256) input costs no memory and a real tensor's
  values are never read. Its numbers are the truth.
* The symbolic pass runs on fake tensors (``FakeTensorMode`` with torch's ``ShapeEnv``): each
  input dimension and each integer hyperparameter (``num_heads`` → h) is a symbol and every
  intermediate size an expression, printed in the post's notation by :mod:`.notation`. An op that refuses symbolic sizes
  (``adaptive_max_pool2d`` or ``interpolate`` to a computed size, pooling with a computed
  kernel) is computed another way or in numbers; its row has ``fallback=True`` (marked † by the
  renderers). Every expression is checked against the concrete pass; a row whose expression
  disagrees shows no symbols.

An op that needs tensor values (``x.item()``, ``x[x > 0]``) ends the trace with a
:class:`TraceError` that names the op and its statement and holds the rows before it.

Modules: :mod:`.record` (recording), :mod:`.symbolic` (the symbolic pass and its cache),
:mod:`.notation` (printing), :mod:`.render` (rows and renderers), :mod:`.source` (where),
:mod:`.names` (dimension names).

The symbolic pass is cached per (module class, its non-integer settings, dimension names, input
layout) and reused for new sizes and widths as long as every expression, evaluated there,
reproduces the concrete shapes and the names still mean the same values; otherwise it runs again.

The trace runs the block in eval mode (shapes do not depend on the mode; this also lets batch-1
shapes through BatchNorm) and restores each module's mode afterwards; it never changes a parameter
or buffer.
"""
from __future__ import annotations

import torch
from torch import nn

from .._torch_internals import FakeTensorMode
from .names import dim_names, fmt_names, labels, unique
from .record import NON_TENSOR, Recorder, ValueDependent, module_dtype_device, run
from .render import Trace, TraceRow
from .source import where
from .symbolic import derived_values, hparam_values, symbolic_for

__all__ = ["trace", "Trace", "TraceRow", "TraceError"]

Shape = tuple[int, ...]


class TraceError(ValueError):
    """The trace stopped at an op it cannot follow; ``.trace`` holds the rows recorded before it."""

    def __init__(self, sentence: str, partial: Trace):
        rows = str(partial) if partial.rows else "(no steps before it)"
        super().__init__(f"{sentence}\nThe steps before it:\n{rows}")
        self.sentence = sentence
        self.trace = partial


def trace(module: nn.Module, *inputs, names=None, symbolic: bool = True) -> Trace:
    """Trace the shapes of ``module(*inputs)`` step by step, without computing anything.

    Args:
        module: any ``nn.Module`` (a fusionlab block, the post's class, your own).
        *inputs: tensors or shape tuples, one per positional argument of ``forward``; a shape
            tuple becomes a fake tensor of the module's parameter dtype (nothing is allocated, so
            any size is fine); other values (``None``) are passed as they are.
        names: dimension names: ``"B C H W"`` (every input), a list with one string per input, or
            a dict input name -> string. Default by rank: B C H W, B N C, B C, … .
        symbolic: also express every shape in those names (torch's symbolic shapes).

    Returns:
        A :class:`Trace`: ``.rows`` (one :class:`TraceRow` per step), ``.inputs``, ``.outputs``
        (``.named_outputs`` for a dict or tuple result), ``.definitions``; printing it gives the
        table, ``.arrows()`` the post's arrow chain.

    Raises:
        :class:`TraceError` at an op that needs tensor values (``.item()``, a boolean mask),
        with the rows before it; the module's own error when it refuses these input shapes
        (e.g. the wrong channel count), with a note naming the step it came at.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"trace: module must be a torch.nn.Module, got {type(module).__name__}.")
    shapes, dtype_device, extra = _parse_inputs(module, inputs)
    dims, in_names = dim_names(module, shapes, names)
    dims = unique(dims, shapes)
    sizes: dict[str, int] = {}
    for shape, names_ in zip(shapes, dims):
        if shape is not None:
            sizes.update(zip(names_, shape))

    recorder, outputs, stop = _concrete_pass(module, shapes, dtype_device, extra, in_names, dims, symbolic)
    steps = recorder.steps
    concrete = [tuple(tuple(int(d) for d in s) for s in st.outputs) for st in steps]
    out_shapes = [tuple(int(x) for x in shape) for _, shape in outputs]

    sym, valid, note = None, [False] * (len(steps) + 1), None
    values = dict(sizes)
    if symbolic:
        values.update(hparam_values(module))
        sym, valid, note = symbolic_for(module, shapes, dims, dtype_device, extra, values, steps, concrete,
                                        out_shapes)
    rows = [_row(st, concrete[i], sym.strings[i] if (sym is not None and valid[i]) else None,
                 bool(sym is not None and i < len(sym.fallback) and sym.fallback[i]))
            for i, st in enumerate(steps)]

    tensor_inputs = [(n, s, d) for n, s, d in zip(in_names, shapes, dims) if s is not None]
    all_sizes = dict(sizes)
    definitions: dict[str, str] = {}
    fixed: dict[str, int] = {}
    if sym is not None:
        definitions = dict(sym.definitions)
        fixed = {k: sizes[k] for k in sym.fixed if k in sizes}
        try:
            fixed.update(sym.pinned(values))
        except Exception:  # a reading that cannot be evaluated here is left out
            pass
        all_sizes.update(derived_values(definitions, values, sym))
    result = Trace(
        module_name=type(module).__name__,
        input_names=[n for n, _, _ in tensor_inputs],
        dims={n: " ".join(d) for n, _, d in tensor_inputs},
        inputs=tuple(s for _, s, _ in tensor_inputs),
        outputs=tuple(out_shapes),
        rows=rows,
        symbolic_inputs=tuple(fmt_names(d) if symbolic else "" for _, _, d in tensor_inputs),
        symbolic_outputs=tuple(sym.outputs) if sym is not None and valid[-1] and stop is None else None,
        definitions=definitions,
        sizes=all_sizes,
        fixed=fixed,
        note=note,
        labels=labels(module),
        output_names=[n for n, _ in outputs],
    )
    if stop is not None:
        raise TraceError(_sentence(stop), result) from None
    return result


def _parse_inputs(module: nn.Module, inputs) -> tuple[list, list, list]:
    """Per input: its shape (None for a non-tensor), (dtype, device), and the value itself if not a tensor."""
    dtype, device = module_dtype_device(module)
    shapes: list[Shape | None] = []
    dtype_device, extra = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, torch.Tensor):
            shapes.append(tuple(int(d) for d in x.shape))
            dtype_device.append((x.dtype, x.device))
            extra.append(NON_TENSOR)
        elif isinstance(x, (tuple, list, torch.Size)) and all(
            isinstance(d, int) and not isinstance(d, bool) for d in x
        ):
            if any(d < 0 for d in x):
                raise ValueError(f"trace: input {i} has shape {tuple(x)}; sizes must be ≥ 0.")
            shapes.append(tuple(x))
            dtype_device.append((dtype, device))
            extra.append(NON_TENSOR)
        elif isinstance(x, (tuple, list)):
            raise TypeError(
                f"trace: input {i} must be a tensor or a shape tuple of ints, got {x!r}; e.g. (1, 64, 7, 7)."
            )
        else:
            shapes.append(None)
            dtype_device.append((dtype, device))
            extra.append(x)
    return shapes, dtype_device, extra


def _concrete_pass(module, shapes, dtype_device, extra, in_names, dims, symbolic):
    """The numbers: a run on the meta device, or on fake tensors where meta is not enough.

    Returns (recorder, [(place, shape) per output], the :class:`ValueDependent` stop or None).
    """
    def make(fake: bool):
        return lambda: [torch.empty(s, dtype=dt, device=dev if fake else "meta") if s is not None else NON_TENSOR
                        for s, (dt, dev) in zip(shapes, dtype_device)]

    recorder = Recorder(module)
    try:
        try:
            return recorder, run(module, make(False), extra, recorder), None
        except (NotImplementedError, RuntimeError) as err:
            if not _meta_unsupported(err):
                raise
            # an op without a meta kernel, or a device the forward hard-codes: fake tensors instead
            recorder = Recorder(module)
            return recorder, run(module, make(True), extra, recorder, FakeTensorMode(allow_non_fake_inputs=True)), None
    except ValueDependent as stop:
        return recorder, [], stop
    except Exception as err:
        # the module's own refusal (wrong channel count …) stays its own error; a note says where
        if recorder.steps:
            last = recorder.steps[-1]
            err.add_note(f"fusionlab.trace: raised after {len(recorder.steps)} step(s); the last was "
                         f"{last.op} ({where(last.frames)[0] or 'no source'}).")
        raise


def _row(st, outs, symbolic: str | None, fallback: bool) -> TraceRow:
    shown, target = where(st.frames)
    step = f"{st.module} {st.op}" if st.kind == "module" else (f"{st.module}: {st.op}" if st.module else st.op)
    file, line = (st.frames[0][0], st.frames[0][1]) if st.frames else (None, None)
    return TraceRow(
        step=step, where=shown, inputs=tuple(tuple(int(d) for d in s) for s in st.inputs),
        output=outs[0] if len(outs) == 1 else outs, symbolic=symbolic, fallback=fallback,
        op=st.op, module=st.module, target=target, file=file, line=line,
    )


def _sentence(stop: ValueDependent) -> str:
    """One sentence: the op, its statement, why the tracer stops and what to do."""
    place = where(stop.frames)[0] or "an unknown line"
    if stop.reads:
        why = (f"{stop.op}() reads a tensor's values into Python, so what follows depends on values, "
               "which the tracer never computes")
    else:
        why = f"{stop.op} returns as many elements as the values select, so its shape depends on the data"
    return (f"trace: {why} ({place}); the steps before it are below and in error.trace: trace the part "
            f"after it on its own, with the shape it produces as an input.")


def _meta_unsupported(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, NotImplementedError) or "meta" in text.lower() or "device" in text.lower()


