"""Recording: one :class:`Step` per leaf-module call and per tensor function of the data.

A ``TorchFunctionMode`` sees every tensor function the forward calls; module hooks see every
leaf sub-module (``Conv2d``, ``Linear``, …). Ops inside a leaf module and ops that touch only
weights are not steps. In the symbolic pass, ops that refuse symbolic sizes are computed by a
rule or at the current sizes (:meth:`Recorder._symbolic_call`). An op that reads tensor values
(``.item()``, a boolean mask) stops the recording with :class:`ValueDependent`.
"""
from __future__ import annotations

import contextlib
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .._meta import meta_state, shape_only_leaves
from .._torch_internals import sym_hint
from ..modes import eval_mode
from .source import code_kind, user_frames

__all__ = ["NON_TENSOR", "Recorder", "Step", "ValueDependent", "flat", "module_dtype_device", "run"]

Shape = tuple[int, ...]

_OP_NAMES = {
    "__add__": "add", "__radd__": "add", "__iadd__": "add_", "__sub__": "sub", "__rsub__": "sub",
    "__isub__": "sub_", "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul_", "__matmul__": "matmul",
    "__rmatmul__": "matmul", "__truediv__": "div", "__rtruediv__": "div", "__itruediv__": "div_",
    "__floordiv__": "floor_divide", "__getitem__": "getitem", "__neg__": "neg", "__pow__": "pow",
    "__rpow__": "pow", "__and__": "and", "__or__": "or", "__invert__": "not",
}
# calls that never make a row (sizes, properties, layout-only copies)
_SILENT = {
    "__get__", "__set__", "shape", "dtype", "device", "ndim", "is_cuda", "is_meta", "requires_grad", "grad_fn",
    "layout", "names", "is_sparse", "is_quantized", "is_leaf", "grad", "data", "itemsize", "nbytes", "size", "dim",
    "numel", "element_size", "stride", "is_contiguous", "__len__", "__bool__", "__format__", "__repr__",
    "__index__", "__int__", "__float__", "data_ptr", "storage_offset", "is_floating_point", "is_complex",
    "__hash__", "__contains__", "__iter__", "get_device", "__reduce_ex__", "__deepcopy__", "nelement",
    "ndimension", "untyped_storage",
}
# ops that read a tensor's values into Python, and ops whose output size depends on the values
_READS_VALUES = {"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__complex__"}
_VALUE_SHAPED = {"nonzero", "masked_select", "unique", "unique_consecutive", "argwhere", "bincount"}
# layout, dtype and device only: the shape stays, no row
_QUIET = {"contiguous", "detach", "detach_", "requires_grad_", "retain_grad", "to", "type_as", "float", "double",
          "half", "bfloat16", "cpu", "cuda"}
_ADAPTIVE = re.compile(r"_?adaptive_(max|avg)_pool([123])d")
_POOLS = re.compile(r"_?(max|avg|lp)_pool[123]d(_with_indices)?|unfold|fold|pixel_(un)?shuffle")
_INTERP = {"interpolate", "upsample", "upsample_nearest", "upsample_bilinear"}
_RESHAPING_INPLACE = {"resize_", "resize_as_", "set_", "squeeze_", "unsqueeze_", "transpose_", "t_", "as_strided_",
                      "swapdims_", "swapaxes_", "share_memory_"}


class ValueDependent(Exception):
    """An op of the data needs tensor values (``.item()``, ``x[x > 0]``), which the tracer never has."""

    def __init__(self, op: str, frames: tuple, reads: bool):
        super().__init__(op)
        self.op, self.frames, self.reads = op, frames, reads


def _op_name(func) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a property: x.shape, x.T
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return _OP_NAMES.get(name, name)


def flat(x, out: list) -> list:
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        if hasattr(x, "values") and hasattr(x, "indices") and isinstance(getattr(x, "values"), torch.Tensor):
            out.append(x.values)  # torch.max(x, dim) and friends: the values are the step's result
        else:
            for y in x:
                flat(y, out)
    elif isinstance(x, dict):
        for y in x.values():
            flat(y, out)
    return out


def _has_symint(x) -> bool:
    if isinstance(x, torch.SymInt):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_symint(y) for y in x)
    return False


@dataclass
class Step:
    kind: str  # "module" or "op"
    op: str
    module: str
    frames: tuple
    inputs: list  # shapes (ints or SymInts)
    outputs: list
    structural: list = field(default_factory=list)  # per output: axes holding counts of tensors
    fallback: bool = False

    @property
    def signature(self) -> tuple:
        return (self.kind, self.op, self.module, tuple(len(s) for s in self.outputs))


class Recorder(TorchFunctionMode):
    """Collects one :class:`Step` per leaf-module call and per top-level tensor function."""

    def __init__(self, root: nn.Module, shape_env=None):
        super().__init__()
        self.paths = {id(m): name for name, m in root.named_modules()}
        # a leaf is a library layer without children (Conv2d, ReLU): one row for its call; a module of
        # the user's own without children (a forward of plain tensor ops) shows its ops instead
        self.leaves = {id(m) for m in root.modules()
                       if next(iter(m.children()), None) is None and type(m).__module__.startswith("torch.")}
        self.data: dict[int, torch.Tensor] = {}  # id -> tensor, for tensors computed from the inputs
        self.steps: list[Step] = []
        self.leaf: list = []  # [module, step-in-progress] while a leaf module runs
        self.busy = False
        self.env = shape_env  # set for the symbolic pass

    # -- helpers
    def mark(self, tensors: Iterable[torch.Tensor]) -> None:
        for t in tensors:
            self.data[id(t)] = t

    def is_data(self, t: torch.Tensor) -> bool:
        return self.data.get(id(t)) is t

    def _path(self, module: nn.Module) -> str:
        return self.paths.get(id(module), type(module).__name__)

    # -- module hooks
    def pre_hook(self, module, args):
        if self.busy or self.leaf:
            return
        if id(module) in self.leaves or (id(module) not in self.paths and type(module).__module__.startswith("torch.")):
            tensors = flat(args, [])
            if any(self.is_data(t) for t in tensors):
                self.busy = True
                try:
                    shapes = [tuple(t.shape) for t in tensors]
                finally:
                    self.busy = False
                self.leaf.append([module, Step("module", type(module).__name__, self._path(module),
                                                user_frames(sys._getframe(1)), shapes, [])])

    def post_hook(self, module, args, output):
        if self.busy or not self.leaf or self.leaf[-1][0] is not module:
            return
        _, step = self.leaf.pop()
        self.busy = True
        try:
            if self.env is not None and isinstance(module, nn.RNNBase) and args and isinstance(args[0], torch.Tensor):
                output = _rnn_rule(module, args[0], output)  # the kernels ran at the current sizes
            outs = flat(output, [])
            step.outputs = [tuple(t.shape) for t in outs]
            step.structural = [() for _ in outs]
        finally:
            self.busy = False
        self.mark(outs)
        if outs:
            self.steps.append(step)
        return output

    # -- tensor functions
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.busy:
            return func(*args, **kwargs)
        name = _op_name(func)
        if name in _READS_VALUES or name in _VALUE_SHAPED or name == "getitem" or (name == "where" and len(args) == 1):
            self._refuse_values(name, args, kwargs)
        if name in _SILENT:
            return func(*args, **kwargs)
        fallback = False
        if self.env is not None:
            out, fallback = self._symbolic_call(func, name, args, kwargs)
        else:
            out = func(*args, **kwargs)
        outs = flat(out, [])
        if not outs:
            return out
        ins = flat((args, kwargs), [])
        if not any(self.is_data(t) for t in ins):
            return out  # a weight reshaped, a constant made: not a step of the data
        self.mark(outs)
        if self.leaf:
            self.leaf[-1][1].fallback |= fallback
            return out
        if name in _QUIET:
            return out
        frames = user_frames(sys._getframe(1))
        structural: list = [() for _ in outs]
        if self.env is not None:
            structural = self._structural(name, args, kwargs, outs)
        step = Step("op", name, self._owner(), frames, [tuple(t.shape) for t in ins if self.is_data(t)],
                    [tuple(t.shape) for t in outs], structural, fallback)
        self.steps.append(step)
        return out

    def _refuse_values(self, name, args, kwargs) -> None:
        """Stop at an op whose result depends on tensor values: the tracer never has any."""
        data = [t for t in flat((args, kwargs), []) if self.is_data(t)]
        if not data:
            return
        if name == "getitem":
            index = flat(args[1:], [])
            if not any(t.dtype in (torch.bool, torch.uint8) and self.is_data(t) for t in index):
                return  # a slice or an integer index: the shape follows from the sizes
            name = "boolean mask x[mask]"
        raise ValueDependent(name, user_frames(sys._getframe(2)), name in _READS_VALUES)

    def _owner(self) -> str:
        """The sub-module whose code runs this op ('' for the root or plain functions)."""
        frame = sys._getframe(2)
        while frame is not None:
            k = code_kind(frame.f_code)
            if k == 2:
                return ""
            if k == 1:
                obj = frame.f_locals.get("self")
                if isinstance(obj, nn.Module):
                    return self.paths.get(id(obj), type(obj).__name__)
            frame = frame.f_back
        return ""

    # -- symbolic pass: ops that refuse symbolic sizes
    def _symbolic_call(self, func, name, args, kwargs):
        bare = name.lstrip("_")
        m = _ADAPTIVE.fullmatch(name)
        if m is not None:
            size = args[1] if len(args) > 1 else kwargs.get("output_size")
            if _has_symint(size):
                return _adaptive_rule(args[0], size, int(m.group(2)), m.group(1) == "max",
                                      (args[2] if len(args) > 2 else kwargs.get("return_indices", False))), True
        if bare in _INTERP:
            out = _interpolate_rule(args, kwargs)
            if out is _IN_NUMBERS:  # a fractional scale: torch would turn the sizes into constants
                return _concrete_call(func, args, kwargs), True
            if out is not None:
                return out, True
        if _POOLS.fullmatch(name) and (_has_symint(list(args[1:])) or _has_symint(list(kwargs.values()))):
            # a kernel computed from the sizes (SAFM: H // (H // 2)): the kernel becomes a number
            # at the current sizes, the input stays symbolic
            try:
                return func(args[0], *_hint(list(args[1:])), **_hint(dict(kwargs))), True
            except Exception:
                return _concrete_call(func, args, kwargs), True
        if name.endswith("_") and not name.startswith("_") and name not in _RESHAPING_INPLACE and args \
                and isinstance(args[0], torch.Tensor):
            # an in-place op keeps its target's shape (torch's symbolic kernels for some of them,
            # addcmul_ with broadcasting, refuse symbolic sizes; the meta pass checked the call)
            return args[0], False
        try:
            return func(*args, **kwargs), False
        except Exception:
            try:
                return _concrete_call(func, args, kwargs), True
            except Exception:
                pass
            raise

    def _structural(self, name, args, kwargs, outs) -> list:
        """Axes whose size counts tensors (cat of 4 pooled maps, stack of max and mean)."""
        if name not in ("cat", "concat", "concatenate", "stack") or not args:
            return [() for _ in outs]
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if not isinstance(dim, int) or len(outs) != 1:
            return [() for _ in outs]
        rank = outs[0].dim()
        axis = dim % rank
        if name == "stack":
            return [(axis,)]
        sizes = [t.shape[axis] for t in flat(args[0], [])]
        return [(axis,)] if all(isinstance(s, int) and s == 1 for s in sizes) else [()]


def _rnn_rule(module: nn.RNNBase, x: torch.Tensor, output):
    """An RNN's outputs from its input's sizes, symbols kept: (B, T, D·H) and (D·L, B, H) states."""
    d = 2 if module.bidirectional else 1
    h_out = module.proj_size or module.hidden_size
    batched = x.dim() == 3
    seq, batch = (x.shape[1], x.shape[0]) if module.batch_first else (x.shape[0], x.shape[1] if batched else None)

    def empty(*sizes):
        return torch.empty([s for s in sizes if s is not None], dtype=x.dtype, device=x.device)

    out = empty(batch, seq, d * h_out) if (batched and module.batch_first) else empty(seq, batch, d * h_out)
    hidden = empty(d * module.num_layers, batch, h_out)
    if isinstance(module, nn.LSTM):
        return out, (hidden, empty(d * module.num_layers, batch, module.hidden_size))
    return out, hidden


def _hint(x):
    if isinstance(x, torch.SymInt):
        return int(sym_hint(x))
    if isinstance(x, torch.SymFloat):
        return float(sym_hint(x))
    if isinstance(x, torch.Tensor):
        return torch.empty(tuple(_hint(d) for d in x.shape), dtype=x.dtype, device=x.device)
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_hint(y) for y in x)
    if isinstance(x, dict):
        return {k: _hint(v) for k, v in x.items()}
    return x


def _concrete_call(func, args, kwargs):
    """Run ``func`` on fake tensors of the current concrete sizes (the symbolic pass's fallback)."""
    return func(*_hint(list(args)), **_hint(dict(kwargs)))


def _adaptive_rule(x, size, k: int, is_max: bool, return_indices):
    """An adaptive pool's output: the leading dims, then the requested size (None keeps a dim)."""
    if not isinstance(size, (list, tuple)):
        size = (size,) * k
    spatial = tuple(x.shape[-k:])
    shape = tuple(x.shape[:-k]) + tuple(s if o is None else o for o, s in zip(size, spatial))
    out = torch.empty(shape, dtype=x.dtype, device=x.device)
    if is_max and return_indices:
        return out, torch.empty(shape, dtype=torch.int64, device=x.device)
    return out


_IN_NUMBERS = object()


def _interpolate_rule(args, kwargs):
    """interpolate's output from its size or integer scale, symbols kept; None: run the op itself."""
    x = args[0] if args else kwargs.get("input")
    size = args[1] if len(args) > 1 else kwargs.get("size")
    scale = args[2] if len(args) > 2 else kwargs.get("scale_factor")
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        return None
    k = x.dim() - 2
    if size is not None:
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,) * k
        if not _has_symint(size) and not _has_symint(list(x.shape)):
            return None
        spatial = size
    elif scale is not None:
        scales = tuple(scale) if isinstance(scale, (list, tuple)) else (scale,) * k
        if not _has_symint(list(x.shape[2:])):
            return None
        if not all(float(s).is_integer() for s in scales):
            return _IN_NUMBERS
        spatial = tuple(d * int(s) for d, s in zip(x.shape[2:], scales))
    else:
        return None
    return torch.empty(tuple(x.shape[:2]) + tuple(spatial), dtype=x.dtype, device=x.device)


def module_dtype_device(module: nn.Module):
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    for t in module.parameters():
        return torch.get_default_dtype(), t.device
    return torch.get_default_dtype(), torch.device("cpu")


_hook_lock = threading.Lock()


def named_outputs(out, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor of a forward's result with its place: "" for a lone tensor, "0", "1" in a tuple,
    the key in a dict ("logits", "aux.0")."""
    if isinstance(out, torch.Tensor):
        return [(prefix, out)]
    items: Iterable = ()
    if isinstance(out, dict):
        items = out.items()
    elif isinstance(out, (list, tuple)):
        items = ((str(i), x) for i, x in enumerate(out))
    found = []
    for key, x in items:
        found += named_outputs(x, f"{prefix}.{key}" if prefix else str(key))
    return found


def run(module, make_inputs, extra, recorder: Recorder, mode=None) -> list[tuple[str, tuple]]:
    """One forward with ``recorder`` watching; returns (place, shape) of every output tensor.

    ``mode`` None: on the meta device (parameters swapped for meta stand-ins with
    ``torch.func.functional_call``); else under that fake-tensor mode.
    """
    from torch.func import functional_call
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

    with _hook_lock:
        handles = [register_module_forward_pre_hook(recorder.pre_hook), register_module_forward_hook(recorder.post_hook)]
        try:
            with eval_mode(module), shape_only_leaves(module), torch.no_grad(), (mode or contextlib.nullcontext()):
                inputs = make_inputs()
                recorder.mark(t for t in inputs if isinstance(t, torch.Tensor))
                args = tuple(x if x is not NON_TENSOR else e for x, e in zip(inputs, extra))
                with recorder:
                    out = functional_call(module, meta_state(module), args) if mode is None else module(*args)
                return [(name, tuple(t.shape)) for name, t in named_outputs(out)]
        finally:
            for h in handles:
                h.remove()


class _NonTensor:
    def __repr__(self) -> str:
        return "<no tensor>"


NON_TENSOR = _NonTensor()
