"""The set-up call at the top of every chapter: one device, one seed, readable figures.

>>> import fusionlab.notebook as nb
>>> nb.setup(seed=0).type in ("cpu", "cuda")
True
"""
from __future__ import annotations

import glob
import logging
import os
import random
import shutil
import subprocess
import sys

import torch

from . import i18n

__all__ = ["on_colab", "setup", "cjk_font", "FIGURE_DEFAULTS"]

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


# where Chinese fonts usually live when fontconfig cannot tell (macOS, Windows, a bare container)
CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian/Ubuntu fonts-wqy-zenhei (make, Binder, Colab)
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)


def _cjk_font_files() -> list[str]:
    files = []
    if shutil.which("fc-list"):
        try:
            listing = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        files = sorted(line.split(":")[0].strip() for line in listing.splitlines() if line.strip())
    return files + [f for f in CJK_FONT_FILES if os.path.exists(f)] + sorted(glob.glob("/usr/share/fonts/**/*[Cc][Jj][Kk]*", recursive=True))


def cjk_font() -> str | None:
    """Make matplotlib draw Chinese: register the first Chinese font found on the machine and put it after
    DejaVu Sans in ``font.family`` (matplotlib falls back glyph by glyph, so Latin text keeps its font).
    Returns the font's name, or None when the machine has none (``apt-get install fonts-wqy-zenhei``)."""
    import matplotlib as mpl
    from matplotlib import font_manager

    for path in _cjk_font_files():
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.FontProperties(fname=path).get_name()
        except (OSError, RuntimeError, ValueError):
            continue
        # fallback works across the families listed in font.family (not inside the generic sans-serif list)
        mpl.rcParams["font.family"] = ["DejaVu Sans", name]
        # WenQuanYi declares weight 500 only; findfont would log "Failed to find font weight normal" per figure
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
        return name
    return None


def setup(seed: int = 0, threads: int | None = None, lang: str = "en") -> torch.device:
    """Pick the device, seed every generator, set matplotlib's figure defaults; return the device.

    * device: ``cuda`` when a GPU is visible (e.g. a Colab GPU runtime), else ``cpu``;
    * threads: torch's CPU threads. ``None`` keeps torch's choice, except on a machine with two
      cores or fewer (a free Colab runtime, a small Binder or CI box), where it uses one: the
      course's tensors are small, and when the second core is busy (the browser, JupyterLab,
      another kernel) every op waits for it — measured here, tiny ops ran 10–30× slower;
    * seeds Python's ``random``, NumPy (if installed) and torch (CPU and every GPU) with ``seed``;
    * if matplotlib is installed, applies :data:`FIGURE_DEFAULTS` (dpi 100, 6.4×4 in figures) and a
      Chinese font (:func:`cjk_font`), so that a figure carrying Chinese renders;
    * lang: the language of widget labels, checker hints and quiz feedback, "en" or "zh" (the Chinese
      edition's first cell passes "zh"; see :mod:`fusionlab.i18n`).

    Seeding makes a chapter repeat its numbers on the same machine and library versions;
    different hardware may still differ in the last digits.
    """
    i18n.set_language(lang)
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
        cjk_font()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
