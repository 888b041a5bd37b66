"""Every private PyTorch API fusionlab uses, in one place: a torch upgrade touches this file only.

PyTorch keeps these names out of its public API (leading underscores, ``torch.fx.experimental``);
they can move between releases. Import them from here, never from torch directly.

* fake tensors and symbolic shapes (the tracer's symbolic pass, OSRA's fake-tensor check);
* sympy functions of torch's symbolic sizes (``FloorDiv`` …) and a SymInt's expression and hint;
* the exceptions a data-dependent op raises under fake tensors;
* BatchNorm's base class and batch-size check (meta forwards that skip BatchNorm's decomposition);
* dynamo's reset and the profiler's event types (the benchmark).
"""
from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: F401  (the base of BatchNorm1d/2d/3d)

from torch._subclasses.fake_tensor import (  # noqa: F401
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensor,
    FakeTensorMode,
)
from torch.fx.experimental.symbolic_shapes import (  # noqa: F401
    DimDynamic,
    GuardOnDataDependentSymNode,
    ShapeEnv,
)
from torch.utils._sympy.functions import CeilDiv, FloorDiv, Max, Min, Mod, PythonMod  # noqa: F401

__all__ = [
    "CeilDiv", "DataDependentOutputException", "DimDynamic", "DynamicOutputShapeException", "FakeTensor",
    "FakeTensorMode", "FloorDiv", "GuardOnDataDependentSymNode", "Max", "Min", "Mod",
    "PythonMod", "ShapeEnv", "_BatchNorm", "FAKE_TENSOR_LOGGER", "DATA_DEPENDENT", "dynamo_reset", "local_source",
    "profiler_event_types", "sym_expr", "sym_hint", "verify_batch_size",
]

# the logger that prints a traceback when a symbolic kernel refuses (the tracer silences it)
FAKE_TENSOR_LOGGER = "torch._subclasses.fake_tensor"

# raised when an op's output shape or a Python value depends on tensor values
DATA_DEPENDENT = (DataDependentOutputException, DynamicOutputShapeException, GuardOnDataDependentSymNode)


def local_source(name: str):
    """A ShapeEnv source naming a symbol (imports dynamo, ~1 s, on first use only)."""
    from torch._dynamo.source import LocalSource

    return LocalSource(name)


def sym_expr(x: torch.SymInt):
    """The sympy expression of a SymInt, before the ShapeEnv's replacements."""
    return x.node._expr


def sym_hint(x):
    """The concrete value a SymInt or SymFloat stands for in this run."""
    return x.node.hint


def verify_batch_size(shape) -> None:
    """BatchNorm's check that batch statistics have more than one value per channel."""
    torch.nn.functional._verify_batch_size(list(shape))


def dynamo_reset() -> None:
    """Forget every compiled graph (``torch.compile``)."""
    import torch._dynamo

    torch._dynamo.reset()


def profiler_event_types():
    """The profiler's ``_EventType`` enum, or None on a torch without it."""
    try:
        from torch._C._profiler import _EventType
    except ImportError:  # pragma: no cover - very old torch
        return None
    return _EventType
