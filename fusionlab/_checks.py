"""Argument and input checks that fail with one plain sentence.

Every block validates its constructor arguments at construction and its inputs at the
start of ``forward``, so a learner never meets PyTorch's internal message from deep
inside a convolution. The checks only read shapes and dtypes: they work on the ``meta``
device, under ``torch.compile`` (they become guards) and cost nothing measurable.
"""
from __future__ import annotations

import numbers
from typing import Iterable, Sequence

import torch


def fmt_shape(shape: Iterable[int]) -> str:
    """``(1, 64, 7, 7)``: a shape the way the course prints it."""
    dims = tuple(int(d) for d in shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def is_int(value) -> bool:
    """Any integral number (``int``, ``np.int64``, …) but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """Any real number (``float``, ``np.float32``, ``int``, …) but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(owner: str, name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integral number ≥ ``minimum``, else raise a clear error."""
    if not is_int(value):
        raise TypeError(f"{owner}: {name} must be an int ≥ {minimum}, got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be an int ≥ {minimum}, got {value}.")
    return int(value)


def positive_number(owner: str, name: str, value) -> float:
    if not is_real(value) or not value > 0:
        raise ValueError(f"{owner}: {name} must be a positive number, got {value!r}.")
    return float(value)


def probability(owner: str, name: str, value) -> float:
    if not is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1), got {value!r}.")
    return float(value)


def one_of(owner: str, name: str, value, allowed: Sequence) -> None:
    if value not in allowed:
        valid = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{owner}: {name} must be one of {valid}; got {value!r}.")


def floating_tensor(owner: str, name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: {name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(
            f"{owner}: {name} must be a floating-point tensor, got dtype {x.dtype}; "
            f"convert it with {name}.float()."
        )


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()
    except RuntimeError:  # a device without autocast (meta)
        return False


def weights_dtype(owner: str, name: str, x: torch.Tensor, weight: torch.Tensor) -> None:
    """Outside autocast, a floating input must have the dtype of the block's weights (``weight``: one of them)."""
    if x.dtype == weight.dtype or _autocast_enabled(x.device.type):
        return
    raise TypeError(
        f"{owner}: {name} has dtype {x.dtype} but the block's weights are {weight.dtype}; convert the block "
        f"with block.to({x.dtype}), or the input with {name}.to({weight.dtype}), or run under torch.autocast."
    )


def image_tensor(owner: str, name: str, x, channels: int | None = None, *, min_size: int = 1) -> None:
    """Check an NCHW input: floating, 4-D, ``channels`` channels, H and W ≥ ``min_size``."""
    floating_tensor(owner, name, x)
    if x.dim() != 4:
        raise ValueError(
            f"{owner}: {name} must be a 4-D tensor (B, C, H, W), got shape {fmt_shape(x.shape)} "
            f"with {x.dim()} dimensions."
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{owner}: {name} must have {channels} channels in dimension 1 (B, C, H, W), got shape "
            f"{fmt_shape(x.shape)}; build the block with the input's channel count, or project the input."
        )
    if x.shape[-2] < min_size or x.shape[-1] < min_size:
        raise ValueError(
            f"{owner}: {name} has spatial size {x.shape[-2]}×{x.shape[-1]}, but this configuration needs "
            f"H and W ≥ {min_size}."
        )


def same_shape(owner: str, named: dict[str, torch.Tensor]) -> None:
    """All tensors in ``named`` must share one shape."""
    items = list(named.items())
    first_name, first = items[0]
    for name, x in items[1:]:
        if x.shape != first.shape:
            raise ValueError(
                f"{owner}: {first_name} and {name} must have the same shape, got "
                f"{fmt_shape(first.shape)} and {fmt_shape(x.shape)}."
            )


def odd_int(owner: str, name: str, value) -> int:
    """Return ``value`` if it is a positive odd int (a kernel that keeps H×W with padding k // 2)."""
    value = positive_int(owner, name, value)
    if value % 2 == 0:
        raise ValueError(
            f"{owner}: {name} must be odd so that padding {name} // 2 keeps H×W, got {value}; "
            f"use {value - 1} or {value + 1}."
        )
    return value


def divisible(owner: str, name: str, value: int, by_name: str, by: int) -> None:
    """``value`` must split evenly into ``by`` parts."""
    if value % by:
        lower, upper = value - value % by, value - value % by + by
        nearest = f"{lower} or {upper}" if lower else f"{upper}"
        raise ValueError(
            f"{owner}: {name}={value} must be divisible by {by_name}={by}; use {name} = {nearest}, "
            f"or set {by_name} to a divisor of {value}."
        )


def batchnorm_batch(owner: str, where: str, values_per_channel: int, shape, training: bool, *,
                    map_helps: bool = True) -> None:
    """BatchNorm in training mode needs more than one value per channel to compute a variance.

    ``map_helps``: whether a larger H×W would help (not for norms on pooled 1×1 maps)."""
    if training and values_per_channel == 1:
        remedy = "a batch of 2 or more, a larger map," if map_helps else "a batch of 2 or more"
        raise ValueError(
            f"{owner}: in training mode the BatchNorm in {where} sees one value per channel for input "
            f"shape {fmt_shape(shape)}, so it cannot estimate a variance; use {remedy} or call .eval()."
        )
