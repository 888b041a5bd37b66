"""Helpers shared by the tests and the benchmark (``benchmarks/``) for comparing two blocks.

>>> import torch
>>> bn = randomize_norms(torch.nn.BatchNorm2d(3), seed=0)
>>> bool((bn.running_var > 0).all()) and not torch.equal(bn.weight, torch.ones(3))
True
"""
from __future__ import annotations

import torch
from torch import nn

from ._torch_internals import _BatchNorm

__all__ = ["randomize_norms"]


def randomize_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm of ``module`` random affine parameters and running statistics (in place;
    returns ``module``).

    A fresh BatchNorm is the identity in eval mode (mean 0, var 1, weight 1, bias 0), so a comparison
    would not notice a block that skips a norm, swaps two of them, or mixes up train and eval.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)  # U(0.5, 1.5)
                    m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                    m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)  # U(0.5, 2)
    return module
