"""fusionlab: feature-fusion and attention blocks, and tools to see what they do to a tensor.

Blocks (each one module under ``fusionlab.blocks``, each registered in ``fusionlab.BLOCKS``)
need only torch. The teaching tools that draw or show widgets import matplotlib, ipywidgets
or torchviz when first used (``pip install "fusionlab[course]"``).

Names are imported on first use, so ``import fusionlab`` does not import matplotlib, ipywidgets
or torchviz. No module shares a function's name: ``fusionlab.cost`` lives in ``fusionlab.costs``;
``fusionlab.trace`` is ``fusionlab.course.trace``, the generic ``fusionlab.tracing.trace`` given the
registry's dimension names for a registered block.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "GatedFusion": "fusionlab.blocks.gated",
    "MSFBlock": "fusionlab.blocks.msf",
    "MFEBlock": "fusionlab.blocks.mfe",
    "SAFM": "fusionlab.blocks.safm",
    "OSRAttention": "fusionlab.blocks.osra",
    "MSAA": "fusionlab.blocks.msaa",
    "CBAMBlock": "fusionlab.blocks.cbam",
    "ChannelAttention": "fusionlab.blocks.cbam",
    "SpatialAttention": "fusionlab.blocks.cbam",
    "CBAM": "fusionlab.blocks.cbam",
    "BLOCKS": "fusionlab.registry",
    "BlockSpec": "fusionlab.registry",
    "trace": "fusionlab.course",  # the registry's names for a registered block; fusionlab.tracing.trace is generic
    "Trace": "fusionlab.tracing",
    "TraceRow": "fusionlab.tracing",
    "TraceError": "fusionlab.tracing",
    "cost": "fusionlab.costs",
    "count_params": "fusionlab.costs",
    "count_flops": "fusionlab.costs",
    "cpu_latency": "fusionlab.costs",
    "cost_growth": "fusionlab.widgets",  # by registry name or spec; fusionlab.costs.cost_growth takes a factory
    "count_buffers": "fusionlab.costs",
    "Cost": "fusionlab.costs",
    "CostGrowth": "fusionlab.costs",
    "block_panel": "fusionlab.widgets",
    "PanelState": "fusionlab.widgets",
    "autograd_graph": "fusionlab.graph",
    "photo": "fusionlab.plots",
    "show_maps": "fusionlab.plots",
    "overlay": "fusionlab.plots",
    "plot_growth": "fusionlab.plots",
    "to_numpy_image": "fusionlab.plots",
    "setup": "fusionlab.notebook",
    "on_colab": "fusionlab.notebook",
    "original_class": "fusionlab.original",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fusionlab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
