"""Every chapter in a real browser: JupyterLab in headless Chromium, Run All, move a slider.

One JupyterLab server (free local port, random token, test-only settings) serves every chapter;
each chapter gets a fresh browser page and kernel. For each ``notebooks/*.ipynb`` and ``notebooks/zh/*.ipynb`` the test clears
the saved outputs, runs all cells, waits for the kernel to go idle, and — where the chapter has a
widget panel (``block_panel(`` in its code) — presses ArrowRight on the panel's first slider and
checks that the panel's output (shape flow, cost) changes. Any widget front-end error fails it:
a ``.jupyter-widgets-error-widget``, the text "Error displaying widget", or a JavaScript exception.
Each chapter's screenshot goes to ``artifacts/screenshots/<stem>.png`` (``zh_<stem>.png`` for the zh edition) (git-ignored); set
``FUSIONLAB_SCREENSHOT_DIR=docs/screenshots`` to refresh the ones the README shows.
Notebooks are never saved: autosave is off in the test server's settings.

Needs Debian's ``chromium`` (``make test`` installs it as root). Without it the test skips, except
under CI (``CI`` set), where a missing browser is a failure.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_helpers as bh  # noqa: E402  (the test's own helper module, next to this file)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))
# `make test` drives these chapters (a behaviour panel, a shape panel, the README's screenshot); every
# other chapter runs in the browser under `make test-slow` (marker slow_extra). nbval runs every chapter's
# code in `make test` either way; the browser adds the front end (widget views, JavaScript errors).
# Chapter 01 in both editions, and the zh edition's chapter 05 (an attention panel): the two editions run the
# same code (tests/test_editions.py), so chapter 05's front end is driven once, in Chinese, and the English
# chapter 05 runs with the others under `make test-slow` (nbval runs its code in `make test`).
DEFAULT_CHAPTERS = ("01_gated_fusion", "zh/01_gated_fusion", "zh/05_osra_attention")
SCREENSHOTS = Path(os.environ.get("FUSIONLAB_SCREENSHOT_DIR", ROOT / "artifacts" / "screenshots"))
# seconds one Run All may take: a hang guard only, generous for a busy 2-core machine
RUN_TIMEOUT = float(os.environ.get("FUSIONLAB_BROWSER_RUN_TIMEOUT", 1800))

pytestmark = pytest.mark.browser


def has_panel(notebook: Path) -> bool:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return any(c.cell_type == "code" and "block_panel(" in c.source for c in cells)


@pytest.fixture(scope="module")
def browser_context():
    with bh.chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        yield context
        context.close()


@pytest.fixture(scope="module")
def lab(browser_context, tmp_path_factory):
    server = bh.start_lab(ROOT, tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


def chapter_id(notebook: Path) -> str:
    """``01_gated_fusion`` for the English edition, ``zh/01_gated_fusion`` for the Chinese one."""
    return notebook.relative_to(ROOT / "notebooks").with_suffix("").as_posix()


@pytest.mark.parametrize("notebook", [
    p if chapter_id(p) in DEFAULT_CHAPTERS else pytest.param(p, marks=pytest.mark.slow_extra) for p in NOTEBOOKS
], ids=[chapter_id(p) for p in NOTEBOOKS])
def test_chapter_runs_in_jupyterlab(notebook, browser_context, lab, capsys):
    start = time.monotonic()
    panel = has_panel(notebook)
    shot = SCREENSHOTS / f"{chapter_id(notebook).replace('/', '_')}.png"
    run = bh.run_chapter(browser_context, lab, notebook, shot,
                         has_panel=panel, run_timeout=RUN_TIMEOUT)
    with capsys.disabled():  # the per-chapter timing, in the test log
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
        moved = f"; slider {run.slider}" if run.slider else ""
        print(f"\n  browser {chapter_id(notebook)}: {phases}; total {time.monotonic() - start:.1f} s{moved}")

    assert not run.save_attempts, f"the page tried to save {run.save_attempts} (refused); autosave must stay off"
    assert not run.widget_errors(), f"{notebook.name}: " + "; ".join(run.widget_errors())
    assert not run.tracebacks, f"{notebook.name}: an output shows a traceback:\n{run.tracebacks[0][-1500:]}"
    if panel:
        assert run.panel_after != run.panel_before, (
            f"{notebook.name}: moving the slider ({run.slider}) did not change the panel's output "
            f"(still {run.panel_before[:200]!r})")
    assert shot.stat().st_size > 0
