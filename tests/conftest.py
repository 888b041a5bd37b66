"""Shared helpers for the block tests (fixtures, so the test files need no hard-coded block lists).

Configurations are drawn from each registry entry's ``choices``, capped to small sizes so that
every example runs in milliseconds.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import strategies as st

import fusionlab.testing

# the largest value a test draws per dimension; channel dimensions (C, C1, …) share one cap
SMALL = {"B": 3, "H": 12, "W": 12}
SMALL_CHANNELS = 24


def _small_values(spec, dim: str, choices: dict) -> list:
    values = list(choices.get(dim, (spec.sizes[dim],)))
    cap = SMALL_CHANNELS if dim.startswith("C") else SMALL.get(dim)
    small = [v for v in values if cap is None or v <= cap]
    return small or values[:1]


@st.composite
def _configs(draw, spec, *, min_batch: int = 1, fixed: dict | None = None, choices: dict | None = None):
    """(sizes, hparams) for ``spec``: sizes small, hyperparameters from their choices (``choices``
    narrows some, e.g. ``spec.post_choices``); ``fixed`` overrides."""
    fixed = fixed or {}
    choices = {**spec.choices, **(choices or {})}
    sizes = {}
    for dim in spec.dims:
        values = [v for v in _small_values(spec, dim, choices) if dim != "B" or v >= min_batch]
        sizes[dim] = fixed.get(dim, draw(st.sampled_from(values)))
    hparams = {k: fixed.get(k, draw(st.sampled_from(list(choices[k])))) for k in spec.hparams}
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
def randomize_norms():
    return fusionlab.testing.randomize_norms
