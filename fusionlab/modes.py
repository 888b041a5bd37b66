"""Train/eval switching that puts every module back as it was.

``module.train(was_training)`` sets *every* submodule to one mode, so a BatchNorm frozen in eval
mode inside a model that trains would come back training. :func:`eval_mode` records each
submodule's own flag and restores exactly those.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(module: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Run the body with ``module`` (and all its submodules) in eval mode; restore each one's flag after.

    >>> bn = nn.BatchNorm1d(3)
    >>> net = nn.Sequential(nn.Linear(3, 3), bn).train()
    >>> _ = bn.eval()  # frozen statistics inside a training model
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training, net[0].training, bn.training
    (True, True, False)

    ``enabled=False`` leaves the modes alone (for callers that take a ``train`` switch).
    """
    flags = [(m, m.training) for m in module.modules()]
    if enabled:
        module.eval()
    try:
        yield module
    finally:
        for m, flag in flags:
            m.training = flag
