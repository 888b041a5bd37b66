"""The course's way into the generic tools: a registered block is traced in its own dimension names.

:func:`fusionlab.tracing.trace` knows nothing of the course; without ``names=`` it names a 4-D
input ``B C H W`` by rank, which is wrong for a channels-last block such as ``GatedFusion``
(``B H W C``). ``fusionlab.trace`` is this module's :func:`trace`: for a block of the registry, or
the post's class of the same name, it passes the registry's names.

>>> from fusionlab import GatedFusion
>>> t = trace(GatedFusion(8), (2, 4, 5, 8), (2, 4, 5, 8))
>>> t.rows[-1].symbolic
'(B, H, W, C)'
"""
from __future__ import annotations

from torch import nn

from . import tracing
from .registry import BLOCKS, BlockSpec

__all__ = ["spec_for", "trace"]


def spec_for(module: nn.Module) -> BlockSpec | None:
    """The registry entry of ``module``: its class is the entry's class, or is named like the post's class."""
    cls = type(module)
    for spec in BLOCKS.values():
        if cls is spec.cls:
            return spec
    for spec in BLOCKS.values():
        if spec.post_class is not None and cls.__name__ == spec.post_class:
            return spec
    return None


def trace(module: nn.Module, *inputs, names=None, symbolic: bool = True) -> tracing.Trace:
    """:func:`fusionlab.tracing.trace`, with the registry's dimension names for a registered block
    when ``names`` is not given (see that function for the arguments)."""
    if names is None and isinstance(module, nn.Module):
        spec = spec_for(module)
        if spec is not None and len(inputs) == len(spec.inputs):
            names = list(spec.inputs.values())
    return tracing.trace(module, *inputs, names=names, symbolic=symbolic)
