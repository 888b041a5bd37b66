"""fusionlab.notebook: the set-up call of every chapter."""
import random
import sys

import matplotlib
import numpy as np
import torch

from fusionlab.notebook import FIGURE_DEFAULTS, on_colab, setup


def test_setup_returns_the_available_device():
    device = setup()
    assert isinstance(device, torch.device)
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_setup_seeds_python_numpy_and_torch():
    setup(seed=3)
    first = (random.random(), np.random.rand(), torch.rand(3))
    setup(seed=3)
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == again[0] and first[1] == again[1] and torch.equal(first[2], again[2])
    setup(seed=4)
    assert random.random() != first[0] and not torch.equal(torch.rand(3), first[2])


def test_setup_sets_figure_defaults():
    with matplotlib.rc_context({"figure.dpi": 300, "figure.figsize": (20, 20)}):
        setup()
        assert matplotlib.rcParams["figure.dpi"] == FIGURE_DEFAULTS["figure.dpi"] == 100
        assert tuple(matplotlib.rcParams["figure.figsize"]) == FIGURE_DEFAULTS["figure.figsize"]


def test_on_colab_follows_google_colab_import(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert on_colab() is False
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert on_colab() is True


def test_teaching_tools_import_only_torch():
    # matplotlib, ipywidgets, torchviz, scikit-image and IPython are the [course] extra: imported on first use
    import subprocess

    code = (
        "import sys, fusionlab.costs, fusionlab.tracing, fusionlab.widgets, fusionlab.plots, fusionlab.graph, fusionlab.notebook\n"
        "print(sorted(m for m in ('matplotlib', 'ipywidgets', 'torchviz', 'graphviz', 'skimage', 'IPython')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_setup_uses_one_thread_on_small_machines_unless_told(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr("os.cpu_count", lambda: 2)
        setup()
        assert torch.get_num_threads() == 1
        setup(threads=2)
        assert torch.get_num_threads() == 2
        monkeypatch.setattr("os.cpu_count", lambda: 16)
        torch.set_num_threads(3)
        setup()
        assert torch.get_num_threads() == 3, "on a larger machine torch's own choice is kept"
    finally:
        torch.set_num_threads(before)
