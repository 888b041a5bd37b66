"""Shared helpers for the block tests (fixtures, so the test files need no hard-coded block lists).

Configurations are drawn from each registry entry's ``choices``, capped to small sizes so that
every example runs in milliseconds.
"""
from __future__ import annotations

import typing

import pytest
import torch
from hypothesis import strategies as st
from torch import nn

# the largest value a test draws per dimension; channel dimensions (C, C1, …) share one cap
SMALL = {"B": 3, "H": 12, "W": 12}
SMALL_CHANNELS = 24


def _small_values(spec, dim: str) -> list:
    values = list(spec.choices.get(dim, (spec.sizes[dim],)))
    cap = SMALL_CHANNELS if dim.startswith("C") else SMALL.get(dim)
    small = [v for v in values if cap is None or v <= cap]
    return small or values[:1]


@st.composite
def _configs(draw, spec, *, min_batch: int = 1, fixed: dict | None = None):
    """(sizes, hparams) for ``spec``: sizes small, hyperparameters from their choices; ``fixed`` overrides."""
    fixed = fixed or {}
    sizes = {}
    for dim in spec.dims:
        values = [v for v in _small_values(spec, dim) if dim != "B" or v >= min_batch]
        sizes[dim] = fixed.get(dim, draw(st.sampled_from(values)))
    hparams = {k: fixed.get(k, draw(st.sampled_from(list(spec.choices[k])))) for k in spec.hparams}
    return sizes, hparams


def _tiny_sizes(spec, **override) -> dict:
    """The smallest valid size per dimension that is still ≥ 3 (≥ 2 for the batch)."""
    sizes = {}
    for dim in spec.dims:
        values = sorted(spec.choices.get(dim, (spec.sizes[dim],)))
        floor = 2 if dim == "B" else 3
        sizes[dim] = next((v for v in values if v >= floor), values[-1])
    sizes.update(override)
    return sizes


def _as_tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def _output_count(spec) -> int:
    """How many tensors ``forward`` returns, read from its return annotation."""
    hint = typing.get_type_hints(spec.cls.forward).get("return", torch.Tensor)
    return len(typing.get_args(hint)) if typing.get_origin(hint) is tuple else 1


def _expected_shapes(spec, sizes: dict, config: dict) -> tuple[tuple[int, ...], ...]:
    """Documented output shapes: each output has the first input's shape, with its channel
    dimension C set to ``out_channels`` where the block takes that argument."""
    resolved = spec.resolve(sizes)
    first = next(iter(spec.inputs.values())).split()
    shape = []
    for dim in first:
        if dim.startswith("C") and "out_channels" in config:
            shape.append(config["out_channels"])
        else:
            shape.append(resolved[dim])
    return (tuple(shape),) * _output_count(spec)


def _randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random affine parameters and running statistics, so that a
    comparison fails if a block skips a norm, swaps two of them, or mixes up train and eval."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
    return module


@pytest.fixture(scope="module")
def single_thread():
    """Small tensors run fastest on one thread; with several, a busy machine stalls every op at
    OpenMP barriers. Restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def configs():
    return _configs


@pytest.fixture(scope="session")
def tiny_sizes():
    return _tiny_sizes


@pytest.fixture(scope="session")
def as_tuple():
    return _as_tuple


@pytest.fixture(scope="session")
def expected_shapes():
    return _expected_shapes


@pytest.fixture(scope="session")
def randomize_norms():
    return _randomize_norms
