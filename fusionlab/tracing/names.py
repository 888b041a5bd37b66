"""Names: of the inputs (from ``forward``'s signature), of their dimensions, of leaf modules in arrows.

The caller names the dimensions (``names="B H W C"``); without names an input of rank 4 is
``B C H W``, rank 3 ``B N C`` and so on (:data:`GENERIC`).
"""
from __future__ import annotations

import inspect
from typing import Mapping, Sequence

from torch import nn

from .._checks import fmt_shape

__all__ = ["GENERIC", "dim_names", "fmt_names", "input_names", "labels", "unique"]

Shape = tuple[int, ...]

GENERIC = {1: "N", 2: "B C", 3: "B N C", 4: "B C H W", 5: "B C D H W"}
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def input_names(module: nn.Module, n_inputs: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input{i}" for i in range(n_inputs)]


def dim_names(module, shapes: list[Shape | None], names) -> tuple[list[list[str] | None], list[str]]:
    """Per input: its dimension names (None for a non-tensor input); and the input names."""
    tensor_idx = [i for i, s in enumerate(shapes) if s is not None]
    names_of_inputs = input_names(module, len(shapes))
    per: list[str | None] = [None] * len(shapes)
    if names is None:
        pass
    elif isinstance(names, str):
        per = [names if s is not None else None for s in shapes]
    elif isinstance(names, Mapping):
        unknown = set(names) - set(names_of_inputs)
        if unknown:
            raise ValueError(
                f"trace: names has unknown input name(s) {sorted(unknown)}; this module's inputs are "
                f"{', '.join(names_of_inputs)}."
            )
        per = [names.get(n) for n in names_of_inputs]
    else:
        names = list(names)
        if len(names) not in (len(shapes), len(tensor_idx)):
            raise ValueError(
                f"trace: names has {len(names)} entries but the module gets {len(tensor_idx)} tensor input(s); "
                f"pass one string per input, e.g. {' , '.join(repr(GENERIC.get(len(shapes[i]), '')) for i in tensor_idx)}."
            )
        if len(names) == len(tensor_idx) and len(tensor_idx) != len(shapes):
            it = iter(names)
            per = [next(it) if s is not None else None for s in shapes]
        else:
            per = names
    out: list[list[str] | None] = []
    for i, s in enumerate(shapes):
        if s is None:
            out.append(None)
            continue
        text = per[i]
        if text is None:
            text = GENERIC.get(len(s)) or " ".join(f"d{j}" for j in range(len(s)))
            if len(text.split()) != len(s):
                text = " ".join(f"d{j}" for j in range(len(s)))
        if not isinstance(text, str):
            raise TypeError(f"trace: names for input {names_of_inputs[i]} must be a string like 'B C H W', got {text!r}.")
        dims = text.split()
        if len(dims) != len(s):
            raise ValueError(
                f"trace: names {text!r} for input {names_of_inputs[i]} has {len(dims)} dimension name(s), but the "
                f"input has shape {fmt_shape(s)} with {len(s)}; give one name per dimension."
            )
        out.append(dims)
    return out, names_of_inputs


def unique(dim_names: list[list[str] | None], shapes: list[Shape | None]) -> list[list[str] | None]:
    """A name used with two different sizes gets a subscript: H and H₂."""
    seen: dict[str, int] = {}
    out = []
    for dims, shape in zip(dim_names, shapes):
        if dims is None:
            out.append(None)
            continue
        row = []
        for d, n in zip(dims, shape):
            name, k = d, 1
            while name in seen and seen[name] != n:
                k += 1
                name = f"{d}{str(k).translate(_SUB)}"
            seen[name] = n
            row.append(name)
        out.append(row)
    return out


def labels(module: nn.Module) -> dict[str, str]:
    """Leaf path -> the post's short name: a leaf alone inside a custom module is called by that module.

    The post writes ``--SE1-->`` for ``SE1.conv.0`` (``SE1`` is a ``oneConv`` around one conv);
    ``sr.0`` stays ``sr.0`` (``sr`` is a Sequential of five layers).
    """
    leaves: dict[str, int] = {}
    paths = [name for name, m in module.named_modules() if name and next(iter(m.children()), None) is None]
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts)):
            leaves[".".join(parts[:k])] = leaves.get(".".join(parts[:k]), 0) + 1
    modules = dict(module.named_modules())
    out = {}
    for path in paths:
        parts = path.split(".")
        label = path
        for k in range(1, len(parts)):
            prefix = ".".join(parts[:k])
            owner = modules[prefix]
            if leaves.get(prefix) == 1 and not type(owner).__module__.startswith("torch."):
                label = prefix
                break
        out[path] = label
    return out


def fmt_names(dims: Sequence[str]) -> str:
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


