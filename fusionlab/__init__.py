"""fusionlab: feature-fusion and attention blocks, and tools to see what they do to a tensor.

Blocks (each one module under ``fusionlab.blocks``, each registered in ``fusionlab.BLOCKS``)
need only torch. The teaching tools that draw or show widgets import matplotlib, ipywidgets
or torchviz when first used (``pip install "fusionlab[course]"``).

Names are imported on first use (except ``cost`` and ``trace``, see the end of this file),
so ``import fusionlab`` does not import matplotlib, ipywidgets or torchviz.
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
    "trace": "fusionlab.trace",
    "Trace": "fusionlab.trace",
    "TraceRow": "fusionlab.trace",
    "cost": "fusionlab.cost",
    "count_params": "fusionlab.cost",
    "count_flops": "fusionlab.cost",
    "cpu_latency": "fusionlab.cost",
    "cost_growth": "fusionlab.cost",
    "count_buffers": "fusionlab.cost",
    "Cost": "fusionlab.cost",
    "CostGrowth": "fusionlab.cost",
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



# ``cost`` and ``trace`` name both a submodule and the function it exports. Importing a
# submodule binds the package attribute to the module, so bind the functions once, here,
# after their modules are loaded; later imports of the submodules do not rebind them.
from .cost import cost  # noqa: E402
from .trace import trace  # noqa: E402
