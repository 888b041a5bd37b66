"""The autograd graph of one forward pass, drawn by torchviz.

torchviz builds the graph from ``grad_fn`` links alone; drawing it needs Graphviz's ``dot``
program. Without ``dot`` :func:`autograd_graph` returns a :class:`GraphvizMissing` note that
says how to install it, so a chapter carries on instead of failing.

In a notebook, the drawn SVG differs from run to run (ids, float formatting): never mark a
graph cell ``# NBVAL_CHECK_OUTPUT``.
"""
from __future__ import annotations

import html
import shutil
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from ._meta import is_shape, meta_input, meta_state

__all__ = ["GraphvizMissing", "INSTALL_DOT", "autograd_graph", "output_sum"]

INSTALL_DOT = (
    "Graphviz's dot program is not installed, so the autograd graph cannot be drawn: install it with "
    "`apt-get install graphviz` (Debian, Ubuntu, Colab: `!apt-get install -y graphviz`), "
    "`brew install graphviz` (macOS) or `conda install graphviz`, then rerun this cell."
)


@dataclass
class GraphvizMissing:
    """Stands in for the drawing when ``dot`` is missing: one sentence on how to install it.

    ``digraph`` is torchviz's graph all the same (``digraph.source`` is its DOT text).
    """

    digraph: Any
    message: str = INSTALL_DOT

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.message)}</p>"


def output_sum(output: Any) -> torch.Tensor:
    """One scalar that depends on every tensor in ``output`` (a tensor, or a tuple/list/dict of them)."""
    if isinstance(output, torch.Tensor):
        return output.sum()
    if isinstance(output, dict):
        output = list(output.values())
    tensors = [output_sum(o) for o in output if isinstance(o, (torch.Tensor, tuple, list, dict))]
    if not tensors:
        raise TypeError(f"autograd_graph: the module returned {type(output).__name__}, which holds no tensor.")
    return torch.stack(tensors).sum()


def _argument_names(module: nn.Module, count: int) -> list[str]:
    """The first ``count`` positional parameter names of ``module.forward`` (``x0, x1, …`` if unreadable)."""
    import inspect

    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) >= count:
        return [p.name for p in params[:count]]
    return [f"x{i}" for i in range(count)]


def autograd_graph(
    module: nn.Module,
    *inputs: Any,
    names: Sequence[str] | None = None,
    show_attrs: bool = False,
    show_saved: bool = False,
):
    """The autograd graph of ``module(*inputs).sum()``, parameters and inputs labelled by name.

    Args:
        module: the block; its weights are not touched (meta stand-ins run, no memory used).
        inputs: tensors or shape tuples.
        names: a label per input (default: the names of ``forward``'s positional arguments, e.g.
            ``x1, x2`` for gated fusion; ``x0, x1, …`` where they cannot be read); inputs appear as
            leaves of the graph.
        show_attrs, show_saved: passed to ``torchviz.make_dot`` (saved tensors and op attributes).

    Returns:
        a ``graphviz.Digraph`` (shows as SVG in a notebook) when Graphviz's ``dot`` is on the
        PATH, else a :class:`GraphvizMissing` note that says how to install it.
    """
    try:
        from torchviz import make_dot
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "autograd_graph needs torchviz: pip install torchviz (or pip install 'fusionlab[course]')."
        ) from err
    names = list(names) if names is not None else _argument_names(module, len(inputs))
    if len(names) != len(inputs):
        raise ValueError(f"autograd_graph: got {len(inputs)} inputs but {len(names)} names ({names}).")

    def leaf(x: Any) -> Any:
        # meta inputs that require grad become named leaves of the graph
        x = meta_input(x) if (is_shape(x) or isinstance(x, torch.Tensor)) else x
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            x = x.detach().requires_grad_(True)
        return x

    state = meta_state(module, requires_grad=True)  # the parameters' stand-ins, named leaves of the graph
    xs = [leaf(x) for x in inputs]
    with torch.enable_grad():
        total = output_sum(torch.func.functional_call(module, state, tuple(xs)))
    params = {n: p for n, p in state.items() if p.requires_grad}
    params.update({n: x for n, x in zip(names, xs) if isinstance(x, torch.Tensor) and x.requires_grad})
    with warnings.catch_warnings():
        # torchviz compares versions with distutils' LooseVersion, which warns on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        digraph = make_dot(total, params=params, show_attrs=show_attrs, show_saved=show_saved)
    if shutil.which("dot") is None:
        return GraphvizMissing(digraph)
    return digraph
