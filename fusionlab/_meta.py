"""Run a module on the ``meta`` device: shapes and dtypes only, no memory, no arithmetic.

The one way fusionlab runs a forward without computing it (the tracer, FLOP counts, the
autograd graph, the widget panel): the parameters and buffers are swapped for meta stand-ins
with :func:`torch.func.functional_call`, so the real module is never copied or changed, and
shape-keeping leaves (activations, dropout, norms) return an empty tensor of their input's shape
instead of running their kernels (BatchNorm's meta kernel alone is ~50 Python ops).

>>> from torch import nn
>>> out = meta_call(nn.Conv2d(3, 8, 3), [(1, 3, 32, 32)])
>>> out.shape, out.device.type
(torch.Size([1, 8, 30, 30]), 'meta')
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from ._torch_internals import _BatchNorm, verify_batch_size
from .modes import eval_mode

__all__ = ["is_shape", "meta_call", "meta_input", "meta_state", "shape_only_leaves"]


def is_shape(x: Any) -> bool:
    """A shape given as a tuple, list or ``torch.Size`` of ints."""
    return isinstance(x, (tuple, list, torch.Size)) and all(isinstance(d, int) and not isinstance(d, bool) for d in x)


def meta_input(x: Any, dtype: torch.dtype | None = None) -> Any:
    """A tensor or a shape tuple as a meta tensor (same shape and dtype); anything else as it is."""
    if isinstance(x, torch.Tensor):
        return torch.empty_like(x, device="meta")
    if is_shape(x):
        return torch.empty(tuple(x), dtype=dtype, device="meta")
    return x


def meta_state(module: nn.Module, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    """Meta stand-ins (same shapes and dtypes, no memory) for every parameter and buffer, by name.

    ``requires_grad=True`` makes the floating stand-ins of trainable parameters autograd leaves
    (an autograd graph then names them).
    """
    state = {}
    for name, t in module.named_parameters(remove_duplicate=False):
        state[name] = torch.empty_like(t, device="meta")
        if requires_grad and t.requires_grad:
            state[name].requires_grad_(True)
    for name, t in module.named_buffers(remove_duplicate=False):
        state[name] = torch.empty_like(t, device="meta")
    return state


_SAME_SHAPE = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU,
    nn.ELU, nn.Mish, nn.Softmax, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    _BatchNorm, nn.LayerNorm, nn.GroupNorm,
)
_BN_RANKS = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}


def _fits(module: nn.Module, x: torch.Tensor) -> bool:
    if isinstance(module, _BatchNorm):
        ranks = next((r for cls, r in _BN_RANKS.items() if isinstance(module, cls)), ())
        return x.dim() in ranks and x.shape[1] == module.num_features
    if isinstance(module, nn.LayerNorm):
        n = len(module.normalized_shape)
        return x.dim() >= n and tuple(x.shape[x.dim() - n:]) == tuple(module.normalized_shape)
    if isinstance(module, nn.GroupNorm):
        return x.dim() >= 2 and x.shape[1] == module.num_channels
    return True


def _same_shape_forward(module: nn.Module):
    """An empty tensor of the input's shape; an input that does not fit runs the real forward,
    which raises the layer's own error. A training BatchNorm checks its batch first (batch
    statistics need more than one value per channel)."""
    original = module.forward

    def forward(x=None, *args, **kwargs):
        if args or kwargs or not isinstance(x, torch.Tensor) or not _fits(module, x):
            return original(x, *args, **kwargs)
        if isinstance(module, _BatchNorm) and (module.training or module.running_mean is None):
            verify_batch_size(x.shape)
        return torch.empty_like(x)

    return forward


def _keeps_shape(m: nn.Module) -> bool:
    return any(isinstance(m, cls) and type(m).forward is cls.forward for cls in _SAME_SHAPE)


@contextlib.contextmanager
def shape_only_leaves(module: nn.Module) -> Iterator[None]:
    """Give shape-keeping leaves (activations, dropout, norms) a forward that returns their
    input's shape, for the body; their own forward again after."""
    patched = [m for m in module.modules() if _keeps_shape(m) and "forward" not in vars(m)]
    for m in patched:
        m.forward = _same_shape_forward(m)
    try:
        yield
    finally:
        for m in patched:
            vars(m).pop("forward", None)


def meta_call(module: nn.Module, inputs: Sequence[Any], *, train: bool = False, state=None) -> Any:
    """``module(*inputs)`` on meta stand-ins, without autograd; the module itself is untouched.

    Args:
        inputs: tensors or shape tuples (meta tensors of the module's dtype), other values as they are.
        train: run in the module's own modes (a panel's ``train``); False runs it in eval mode
            and restores every submodule's flag after.
        state: the stand-ins to use (default :func:`meta_state`).
    """
    dtype = next((t.dtype for t in module.parameters() if t.is_floating_point()), None)
    xs = [meta_input(x, dtype) for x in inputs]
    state = meta_state(module) if state is None else state
    with eval_mode(module, enabled=not train), shape_only_leaves(module), torch.no_grad():
        return torch.func.functional_call(module, state, tuple(xs))
