"""The set-up call at the top of every chapter: one device, one seed, readable figures.

>>> import fusionlab.notebook as nb
>>> nb.setup(seed=0).type in ("cpu", "cuda")
True
"""
from __future__ import annotations

import os
import random
import sys

import torch

__all__ = ["on_colab", "setup", "FIGURE_DEFAULTS"]

# small inline figures: readable on a laptop screen and light in the committed notebooks
FIGURE_DEFAULTS = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.4, 4.0),
    "image.interpolation": "nearest",  # a feature map's pixels stay visible, not smoothed
}


def on_colab() -> bool:
    """True inside Google Colab (its kernel has imported ``google.colab``)."""
    return "google.colab" in sys.modules


def setup(seed: int = 0, threads: int | None = None) -> torch.device:
    """Pick the device, seed every generator, set matplotlib's figure defaults; return the device.

    * device: ``cuda`` when a GPU is visible (e.g. a Colab GPU runtime), else ``cpu``;
    * threads: torch's CPU threads. ``None`` keeps torch's choice, except on a machine with two
      cores or fewer (a free Colab runtime, a small Binder or CI box), where it uses one: the
      course's tensors are small, and when the second core is busy (the browser, JupyterLab,
      another kernel) every op waits for it — measured here, tiny ops ran 10–30× slower;
    * seeds Python's ``random``, NumPy (if installed) and torch (CPU and every GPU) with ``seed``;
    * if matplotlib is installed, applies :data:`FIGURE_DEFAULTS` (dpi 100, 6.4×4 in figures).

    Seeding makes a chapter repeat its numbers on the same machine and library versions;
    different hardware may still differ in the last digits.
    """
    if threads is None and (os.cpu_count() or 1) <= 2:
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
    random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed)
    try:
        import matplotlib as mpl
    except ImportError:
        pass
    else:
        mpl.rcParams.update(FIGURE_DEFAULTS)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
