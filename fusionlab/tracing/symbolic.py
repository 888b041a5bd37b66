"""The symbolic pass: every size as an expression of the input dimensions.

The block runs on fake tensors (``FakeTensorMode`` with torch's ``ShapeEnv``): each input
dimension is a symbol and every intermediate size an expression; :mod:`.notation` prints them in
the post's notation. Literal sizes (a weight's width, a constant of the code) are named only where
the name provably holds: each count hyperparameter the modules store (``num_heads`` -> h,
``n_levels`` -> n, ``reduction`` -> r: :data:`.notation.COUNT_HPARAMS`) is changed once and
forward rerun on meta (:func:`_interventions`); a literal reads h or d = C/h only if it follows
that change, so the 2 of a k/v split stays 2 when h = 2. A count forward never reads (it sized
the layers: ``Linear(C, C // r)``), or one whose change forward refuses, names literals by value.

Every expression is checked against the concrete (meta) pass; a row whose expression disagrees
shows no symbols. A pass is cached per (module class, its non-integer settings, dimension names,
input layout) and reused for new sizes and widths while every expression, evaluated there,
reproduces the concrete shapes and the names still mean the same values.
"""
from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import sympy
import torch
from torch import nn

from .._torch_internals import (FAKE_TENSOR_LOGGER, DimDynamic, FakeTensorMode, PythonMod, ShapeEnv, local_source,
                                sym_expr, sym_hint)
from .notation import COUNT_HPARAMS, WIDTH_HPARAMS, Notation, compile_shapes
from .record import NON_TENSOR, Recorder, ValueDependent, run

__all__ = ["CACHE", "Symbolic", "first_line", "hparam_values", "symbolic_for", "derived_values"]

@dataclass
class Symbolic:
    """A cached symbolic pass: everything needed to print it and to check it at other sizes."""

    signature: tuple
    evaluate: Any  # values (sizes and hyperparameter symbols) -> per row, the shapes
    strings: list  # per row: the symbolic string
    fallback: list  # per row
    outputs: list  # symbolic strings of the module outputs
    definitions: dict
    primes: Any  # values -> {primed name: value}
    fixed: tuple  # names of the input sizes the weights pinned (C)
    pinned: Any  # values -> {"C + H*W": 113}: expressions of the sizes the weights pinned
    exact: Any  # values -> True while every division printed as C/r divides evenly
    naming: Any  # values -> which names coincide in value (h = d = 8): the names depend on it
    named_at: tuple  # naming(...) at the sizes this pass ran at
    note: str | None


def _hparams(module: nn.Module) -> tuple[dict, dict]:
    """(counts, widths): hyperparameter symbols found on the module, e.g. {"h": ("num_heads", 8)}."""
    counts: dict = {}
    widths: dict = {}
    for m in module.modules():
        d = vars(m)
        for attr, sym in COUNT_HPARAMS.items():
            v = d.get(attr)
            if sym not in counts and isinstance(v, int) and not isinstance(v, bool):
                counts[sym] = (attr, v)
        if m is module:
            for attr, sym in WIDTH_HPARAMS.items():
                v = d.get(attr)
                if isinstance(v, int) and not isinstance(v, bool):
                    widths[sym] = (attr, v)
    return counts, widths


def _ints(shape) -> tuple[int, ...]:
    return tuple(int(sym_hint(d)) if isinstance(d, torch.SymInt) else int(d) for d in shape)


def _interventions(module, shapes, dtype_device, extra, counts, steps, outputs) -> dict[str, dict]:
    """Which sizes each count hyperparameter provably sets: forward rerun (on meta) with it changed.

    For each count (num_heads -> h) the module's attribute is set to another value and the meta
    pass rerun; a size that changes derives from it, a size that stays does not (the 2 of a k/v
    split stays 2 when num_heads goes 8 -> 4). Returns {"h": {"value": 4, "sizes": per row, per
    output, the shapes}} for the counts whose rerun took the same path and changed some size; the
    others (forward never reads them: they sized the layers; or a rerun failed) are left out and
    name sizes by value.
    """
    out: dict[str, dict] = {}
    signature = [st.signature for st in steps]
    before = [[_ints(shape) for shape in st.outputs] for st in steps] + [[_ints(shape) for shape in outputs]]
    for sym, (attr, value) in counts.items():
        targets = [m for m in module.modules() if type(vars(m).get(attr)) is int and vars(m)[attr] == value]
        for other in (2 * value, value // 2 if value % 2 == 0 else value + 1, 3 * value):
            if other < 1 or other == value:
                continue
            for m in targets:
                vars(m)[attr] = other
            recorder = Recorder(module)
            try:
                make = lambda: [torch.empty(s_, dtype=dt, device="meta") if s_ is not None else NON_TENSOR  # noqa: E731
                                for s_, (dt, _) in zip(shapes, dtype_device)]
                outs = run(module, make, extra, recorder)
            except Exception:  # this value does not fit the block (C % h != 0 …): try another
                continue
            finally:
                for m in targets:
                    vars(m)[attr] = value
            if [st.signature for st in recorder.steps] != signature:
                continue
            after = [[tuple(int(d) for d in shape) for shape in st.outputs] for st in recorder.steps] + [
                [tuple(int(d) for d in shape) for _, shape in outs]]
            if after != before:
                out[sym] = {"value": other, "sizes": after}
            break
    return out


def hparam_values(module: nn.Module) -> dict[str, int]:
    counts, widths = _hparams(module)
    return {s: v for s, (_, v) in {**counts, **widths}.items()}


def _symbolic_pass(module, shapes, dims, dtype_device, extra, hints) -> Symbolic:
    env = ShapeEnv(duck_shape=False, specialize_zero_one=False)
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    symbols: dict[str, Any] = {}
    sym_names: dict = {}
    recorder = Recorder(module, env)

    def symint(name: str):
        if name not in symbols:
            src = local_source(re.sub(r"\W", "_", name))
            s = env.create_symbol(hints[name], src, dynamic_dim=DimDynamic.DYNAMIC)
            sym_names[s] = name
            symbols[name] = env.create_symintnode(s, hint=hints[name], source=src)
        return symbols[name]

    def make_inputs():
        out = []
        for shape, names, (dtype, device) in zip(shapes, dims, dtype_device):
            if shape is None:
                out.append(NON_TENSOR)
            else:
                out.append(torch.empty([symint(n) for n in names], dtype=dtype, device=device))
        return out

    note = None
    outputs: list = []
    # torch logs a traceback when a symbolic kernel refuses; the recorder handles that case
    logger = logging.getLogger(FAKE_TENSOR_LOGGER)
    disabled, logger.disabled = logger.disabled, True
    try:
        outputs = [shape for _, shape in run(module, make_inputs, extra, recorder, mode)]
    except Exception as err:  # keep the rows recorded so far; the caller shows numbers for the rest
        if not isinstance(err, ValueDependent):
            note = f"the symbolic pass stopped at step {len(recorder.steps) + 1}: {type(err).__name__}: {first_line(err)}"
    finally:
        logger.disabled = disabled
    counts, widths = _hparams(module)
    at_hints = [tuple(hints[n] for n in names) if names else None for names in dims]
    moved = _interventions(module, at_hints, dtype_device, extra, counts, recorder.steps, outputs)

    fixed = {}
    back = {}  # W -> 49//H read back as W
    for s, name in sym_names.items():
        rep = env.replacements.get(s)
        if rep is not None and rep.is_Integer:
            fixed[name] = int(rep)
        elif rep is not None and rep.free_symbols <= set(sym_names):
            back[rep] = s
    pinned = {}  # H*W = 49: a weight fixes an expression of the sizes
    inputs = set(sym_names)
    for g in env.guards:
        e = g.expr
        if not isinstance(e, sympy.Eq):
            continue
        for lhs, rhs in ((e.lhs, e.rhs), (e.rhs, e.lhs)):
            if rhs.is_Integer and not lhs.is_Symbol and lhs.free_symbols and lhs.free_symbols <= inputs:
                pinned.setdefault(int(rhs), lhs)
                const, rest = lhs.as_coeff_Add()
                if const and not rest.is_Symbol:  # H*W + 64 = 113 also says H*W = 49
                    pinned.setdefault(int(rhs - const), rest)
            elif lhs in inputs and not rhs.is_number and rhs.free_symbols <= inputs and lhs not in rhs.free_symbols:
                back.setdefault(rhs, lhs)  # W = 49//H: print W
    if back:
        pinned = {v: e.xreplace(back) for v, e in pinned.items()}
    # an expression of pinned sizes only is a number, not news: (C + 3)//4 = 9 once C = 36
    fixed_syms = {s for s, name in sym_names.items() if name in fixed}
    pinned = {v: e for v, e in pinned.items() if not e.free_symbols <= fixed_syms}

    def expr(d):
        e = sym_expr(d) if isinstance(d, torch.SymInt) else sympy.Integer(int(d))
        return e.xreplace(back) if back and not e.is_Integer else e

    order = [n for names in dims if names for n in names]
    notation = Notation(sym_names, order, fixed, counts, widths, pinned, moved=moved, values=hints)
    steps = recorder.steps
    strings, readings = [], []
    for st in steps:
        texts, row = [], []
        for i, shape in enumerate(st.outputs):
            text, reading = notation.shape(tuple(expr(d) for d in shape), st.structural[i] if i < len(st.structural) else (),
                                           (len(readings), i))
            texts.append(text)
            row.append(reading)
        strings.append(_join_shapes(texts))
        readings.append(tuple(row))
    out_printed = [notation.shape(tuple(expr(d) for d in shape), (), (len(steps), i)) for i, shape in enumerate(outputs)]
    out_strings = [text for text, _ in out_printed]
    readings.append(tuple(reading for _, reading in out_printed))  # the last row: the module's outputs
    free = set()
    for row in readings:
        for shape in row:
            for d in shape:
                free |= d.free_symbols
    primes = notation.prime_expressions()
    for e in primes.values():
        free |= e.free_symbols
    names_of = {x: str(x) for x in free}
    evaluate = compile_shapes(readings, names_of)
    prime_names = list(primes)
    prime_eval = compile_shapes([tuple((e,) for e in primes.values())], names_of) if primes else None

    def prime_values(values):
        if prime_eval is None:
            return {}
        return {n: v[0] for n, v in zip(prime_names, prime_eval(values)[0])}

    pinned_texts = list(notation.pinned_used())
    pinned_readings = [notation.pinned[t][1] for t in pinned_texts]
    for e in pinned_readings:
        free |= e.free_symbols
    names_of = {x: str(x) for x in free}
    pinned_eval = compile_shapes([tuple((e,) for e in pinned_readings)], names_of) if pinned_texts else None

    def pinned_values(values):
        if pinned_eval is None:
            return {}
        return {t: v[0] for t, v in zip(pinned_texts, pinned_eval(values)[0])}

    remainders = [PythonMod(a, k) for a, k in notation.exact]
    for e in remainders:
        free |= e.free_symbols
    names_of = {x: str(x) for x in free}
    exact_eval = compile_shapes([tuple((e,) for e in remainders)], names_of) if remainders else None

    def exact(values) -> bool:
        return exact_eval is None or all(v[0] == 0 for v in exact_eval(values)[0])

    # literals are named by value; where values coincide differently, a fresh pass names them
    naming_readings = notation.naming_readings()
    for _, e in naming_readings:
        free |= e.free_symbols
    names_of = {x: str(x) for x in free}
    naming_eval = compile_shapes([tuple((e,) for _, e in naming_readings)], names_of) if naming_readings else None
    fixed_names, count_names = list(fixed), list(counts)

    def naming(values) -> tuple:
        groups: dict[int, list[str]] = {}
        if naming_eval is not None:
            for (name, _), v in zip(naming_readings, naming_eval(values)[0]):
                groups.setdefault(v[0], []).append(name)
        divides = tuple(values[n] % values[k] == 0 for n in fixed_names for k in count_names
                        if n in values and values.get(k))
        return tuple(sorted(tuple(g) for g in groups.values() if len(g) > 1)), divides

    return Symbolic(
        signature=tuple(st.signature for st in steps),
        evaluate=evaluate,
        strings=strings,
        fallback=[st.fallback for st in steps],
        outputs=out_strings,
        definitions=notation.definitions(),
        primes=prime_values,
        fixed=tuple(fixed),
        pinned=pinned_values,
        exact=exact,
        naming=naming,
        named_at=naming({**{sym_names[x]: hints[sym_names[x]] for x in sym_names}, **notation.hparam_values()}),
        note=note,
    )


def _join_shapes(texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    if all(t == texts[0] for t in texts):
        return f"{texts[0]} ×{len(texts)}"
    return " ; ".join(texts)


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else ""


CACHE: "OrderedDict[tuple, list[Symbolic]]" = OrderedDict()
CACHE_SIZE = 128
_SIMPLE = (int, float, str, bool, type(None))


def _simple(v) -> bool:
    return isinstance(v, _SIMPLE) or (isinstance(v, tuple) and all(isinstance(x, _SIMPLE) for x in v))


def _fingerprint(module: nn.Module) -> tuple:
    """What a symbolic pass may depend on beyond sizes: classes, paths, non-integer settings.

    Integer attributes (widths, heads) and tensor shapes are left out on purpose: a cached
    pass is reused only after its expressions, evaluated at the new sizes and hyperparameters,
    reproduce every concrete shape.
    """
    parts = []
    for name, m in module.named_modules():
        attrs = tuple(sorted((k, v) for k, v in vars(m).items()
                             if not k.startswith("_") and k != "training" and _simple(v)
                             and (isinstance(v, bool) or not isinstance(v, int))
                             and not (isinstance(v, tuple) and all(isinstance(x, int) for x in v))))
        dtypes = tuple(t.dtype for t in m._parameters.values() if t is not None)
        parts.append((name, type(m), attrs, dtypes))
    return tuple(parts)



def derived_values(definitions: Mapping[str, str], values: Mapping[str, int], sym: Symbolic) -> dict[str, int]:
    """The value of every derived symbol at these sizes: h = 8, d = 8, H' = 4."""
    out: dict[str, int] = {n: int(v) for n, v in sym.primes(values).items()}
    for name in definitions:
        if name in values and name not in out:
            out[name] = int(values[name])
    if definitions.get("d") == "C/h" and values.get("h") and "C" in values:
        out["d"] = values["C"] // values["h"]
    return out


def symbolic_for(module, shapes, dims, dtype_device, extra, sizes, steps, concrete, outputs):
    """The cached symbolic pass that agrees with these concrete shapes, or a new one.

    Returns (pass or None, per row whether its reading holds + one last flag for the outputs, note).
    """
    signature = tuple(st.signature for st in steps)
    key = (
        type(module),
        _fingerprint(module),
        tuple(tuple(d) if d else None for d in dims),
        tuple((dt, str(dev)) for dt, dev in dtype_device),
        tuple(repr(e) if e is not NON_TENSOR else None for e in extra),
    )

    def check(s: Symbolic):
        """Per row: does the cached reading give this row's concrete shapes? None: another path."""
        same = 0
        for a, b in zip(s.signature, signature):
            if a != b:
                break
            same += 1
        if same == 0 and signature:
            return None
        try:
            rows = s.evaluate(sizes)
            if not s.exact(sizes) or s.naming(sizes) != s.named_at:
                return None  # C/r no longer divides evenly, or names coincide differently: name afresh
        except Exception:  # e.g. a division by a size that is now 0
            return None
        valid = [i < same and tuple(tuple(int(x) for x in shape) for shape in rows[i]) == concrete[i]
                 for i in range(len(concrete))]
        out = rows[len(s.signature)]
        valid.append(bool(s.outputs) and same == len(signature) == len(s.signature)
                     and [tuple(int(x) for x in shape) for shape in out] == outputs)
        return valid

    entries = CACHE.get(key, [])
    for s in entries:
        valid = check(s)
        if valid is not None and all(valid):
            CACHE.move_to_end(key)
            return s, valid, s.note
    # a new pass; sizes of 1 get the hint 2 so that B = 1 stays the symbol B
    best = None
    note = None
    dim_sizes = {n: sizes[n] for names in dims if names for n in names}
    for hints in ({n: (2 if v == 1 else v) for n, v in dim_sizes.items()}, dim_sizes):
        try:
            s = _symbolic_pass(module, shapes, dims, dtype_device, extra, hints)
        except Exception as err:  # never let the symbols break the numbers
            note = f"no symbolic shapes: {type(err).__name__}: {first_line(err)}"
            continue
        valid = check(s)
        if valid is None:
            note = s.note or "the symbolic pass took another path through forward than the concrete one"
            continue
        if best is None or sum(valid) > sum(best[1]):
            best = (s, valid)
        if all(valid):
            break
    if best is None:
        return None, [False] * (len(steps) + 1), note
    s, valid = best
    entries = [s] + [e for e in entries if e is not s][:3]
    CACHE[key] = entries
    CACHE.move_to_end(key)
    while len(CACHE) > CACHE_SIZE:
        CACHE.popitem(last=False)
    note = s.note
    if not all(valid[:-1]):
        bad = sum(1 for v in valid[:-1] if not v)
        note = (note + "; " if note else "") + f"{bad} step(s) show numbers only: their symbols hold only at other sizes"
    return s, valid, note

