"""Drive JupyterLab in headless Chromium: one server, one chapter at a time (used by test_browser.py).

A chapter is checked the way a learner meets it: open it in JupyterLab, clear its saved outputs,
Run All, wait for the kernel, drag a slider of the widget panel, and look for widget front-end
errors. Nothing here saves a notebook: autosave is off, no save command is sent, and the test
server refuses (and records) any save all the same.

Facts this relies on (``/work/shared/notes/course-design.md``, "Tooling facts"): Playwright drives
Debian's ``chromium`` (its own browser download does not work here); JupyterLab renders only the
visible cells unless windowing is off; the "Jupyter news" pop-up covers the page unless turned off;
a widget that fails to load shows as ``.jupyter-widgets-error-widget``.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

# User settings for the test server only (a temporary user_settings_dir): no news pop-up over the
# page, every cell in the DOM (windowing off), and never write the learner's notebooks back.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# Widget controls: their own text (labels, readouts, options) is not the panel's output.
CONTROL_SELECTORS = (
    ".widget-slider, .widget-readout, .widget-dropdown, .widget-toggle-buttons, .widget-radio,"
    " .widget-checkbox, .widget-toggle-button, .widget-button, .widget-text, .widget-textarea,"
    " .widget-select, .widget-label, input, select, button, .jp-OutputPrompt"
)

PANEL_TEXT_JS = """(cell) => {
    const out = cell.querySelector('.jp-Cell-outputArea');
    if (!out) return '';
    const clone = out.cloneNode(true);
    clone.querySelectorAll(%s).forEach(e => e.remove());
    return clone.textContent.replace(/\\s+/g, ' ').trim();
}""" % json.dumps(CONTROL_SELECTORS)

# Prompts of every code cell plus the kernel indicator: the state of a Run All.
RUN_STATE_JS = """() => {
    const indicator = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.replace(/\\s+/g, ''));
    return {status: indicator ? indicator.getAttribute('data-status') : null, prompts};
}"""

# Text of every error output (tracebacks are rendered as stderr) in the open notebook.
TRACEBACKS_JS = """() => [...document.querySelectorAll(
        '.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent).filter(t => t.includes('Traceback'))"""


def unavailable(reason: str):
    """Skip on a developer's machine; under CI (``CI`` set) a missing tool is a broken set-up, so fail."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}; `make test` installs it (Makefile target system-packages).")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium():
    """Headless Debian chromium under playwright, closed on exit; skips (fails under CI) without either."""
    executable = chromium_path()
    if executable is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -r requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


SAVE_LOG = "save-attempts.txt"

# The test server's configuration (a private JUPYTER_CONFIG_DIR): a pre-save hook that logs and
# refuses every save, so the chapters under test are never written, whatever the page does.
# jupyter_server lets a save go ahead after any other exception; an HTTPError rejects it.
SERVER_CONFIG = """
from tornado.web import HTTPError

def refuse_save(model=None, path="", **kwargs):
    with open({log!r}, "a") as log:
        log.write(path + "\\n")
    raise HTTPError(403, "the browser test never saves notebooks (refused: " + path + ")")

c.ContentsManager.pre_save_hook = refuse_save
"""


def chromium_path() -> str | None:
    """Debian's chromium, if installed."""
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A JupyterLab server started by :func:`start_lab`; ``stop()`` shuts it and its kernels down."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen
    log_path: Path

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def open_url(self, relpath: str) -> str:
        """The address that opens ``relpath`` (relative to root) in a fresh workspace."""
        return f"{self.url}/lab/tree/{relpath}?reset&token={self.token}"

    def check_settings(self) -> None:
        """Raise unless JupyterLab applies every value of :data:`LAB_SETTINGS` (e.g. autosave off)."""
        for name, values in LAB_SETTINGS.items():
            plugin = name.removesuffix(".jupyterlab-settings").replace("/", ":", 2).replace(":", "/", 1)
            composite = self.api("GET", f"/lab/api/settings/{plugin}")["settings"]
            wrong = {k: composite.get(k) for k, v in values.items() if composite.get(k) != v}
            if wrong:
                self.stop()
                raise RuntimeError(f"JupyterLab ignored the test settings of {plugin}: {wrong}")

    def save_attempts(self) -> list[str]:
        """Paths the page tried to save (each one refused by the server's pre-save hook)."""
        log = self.log_path.parent / SAVE_LOG
        return log.read_text().split() if log.exists() else []

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.api("POST", "/api/shutdown")
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_lab(root: Path, workdir: Path, timeout: float = 120) -> LabServer:
    """Start ``python -m jupyterlab`` on a free local port with a random token and test settings.

    ``workdir`` (empty, temporary) holds the settings, workspaces, config, runtime files and log,
    so the server neither reads nor writes the user's own Jupyter configuration.
    """
    settings_dir = workdir / "user-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    for sub in ("workspaces", "config", "runtime", "ipython", "data"):
        (workdir / sub).mkdir(exist_ok=True)
    (workdir / "config" / "jupyter_server_config.py").write_text(SERVER_CONFIG.format(log=str(workdir / SAVE_LOG)))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(workdir / "config"),
               JUPYTER_RUNTIME_DIR=str(workdir / "runtime"), JUPYTER_DATA_DIR=str(workdir / "data"),
               IPYTHONDIR=str(workdir / "ipython"),
               JUPYTER_PLATFORM_DIRS="1")
    port, token = free_port(), secrets.token_hex(16)
    log_path = workdir / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
        f"--FileCheckpoints.root_dir={workdir / 'checkpoints'}",  # no .ipynb_checkpoints/ in the repository
        f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={workdir / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("GET", "/api/status", timeout=2)
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
            continue
        server.check_settings()
        return server
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s:\n{server.log_tail()}")


@dataclass
class ChapterRun:
    """What one chapter did in the browser, with the seconds each phase took."""

    seconds: dict[str, float] = field(default_factory=dict)
    page_errors: list[str] = field(default_factory=list)
    error_widgets: int = 0
    error_text: bool = False
    tracebacks: list[str] = field(default_factory=list)
    panel_before: str | None = None
    panel_after: str | None = None
    slider: str | None = None
    save_attempts: list[str] = field(default_factory=list)

    def widget_errors(self) -> list[str]:
        """Every widget front-end error seen, as sentences (empty when none)."""
        found = [f"JavaScript exception: {e}" for e in self.page_errors]
        if self.error_widgets:
            found.append(f"{self.error_widgets} widget(s) failed to render (.jupyter-widgets-error-widget)")
        if self.error_text:
            found.append('the page shows "Error displaying widget"')
        return found


def _click_menu(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    item = page.locator(f'.lm-Menu-item[data-command="{command}"]')
    item.wait_for(state="visible")
    item.click()


KERNEL_WORKING = {"busy", "starting", "restarting", "autorestarting"}


def _wait_run_all(page, n_code: int, timeout: float, start_timeout: float = 60) -> dict:
    """Poll until the kernel is idle with no ``[*]`` prompt and every code cell has a number.

    Run All queues every cell as ``[*]`` and stops at a failing cell, leaving the later prompts
    empty; a dead kernel stops it too. So once the run has started and nothing has been running for
    a few seconds, return that state for the caller to judge (and likewise if it never starts).
    """
    begin = time.monotonic()
    deadline, started, quiet_since = begin + timeout, False, None
    while True:
        state = page.evaluate(RUN_STATE_JS)
        prompts = state["prompts"]
        running = any("*" in p for p in prompts)
        numbered = sum(p.strip("[]:").isdigit() for p in prompts)
        started = started or running or numbered > 0 or state["status"] == "busy"
        quiet = not running and state["status"] not in KERNEL_WORKING
        if quiet and state["status"] == "idle" and len(prompts) == n_code and numbered == n_code:
            return state
        if quiet and started:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 5:
                return state
        else:
            quiet_since = None
        now = time.monotonic()
        if now > deadline or (not started and now - begin > start_timeout):
            return state
        time.sleep(0.25)


def run_chapter(context, server: LabServer, notebook: Path, screenshot: Path, *,
                has_panel: bool, run_timeout: float = 300) -> ChapterRun:
    """Open ``notebook`` in JupyterLab, Run All, move a panel slider, screenshot; report what happened.

    ``context`` is a Playwright browser context (pages share its HTTP cache, so JupyterLab's
    scripts load once) whose viewport sets the screenshot's size.

    Raises AssertionError with a plain sentence when a phase cannot complete (a cell fails, the panel
    never appears, the panel's output does not change); widget errors are returned for the caller to
    assert on, so it can show them all at once.
    """
    import nbformat
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cells = nbformat.read(notebook, as_version=4).cells
    n_cells, n_code = len(cells), sum(c.cell_type == "code" for c in cells)
    relpath = notebook.resolve().relative_to(server.root.resolve()).as_posix()
    result, clock = ChapterRun(), time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        result.seconds[name] = round(now - clock, 1)
        clock = now

    page = context.new_page()  # one page per chapter: its JavaScript errors are its own
    page.set_default_timeout(60_000)
    page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
    try:
        page.goto(server.open_url(relpath))
        page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=120_000)
        # windowing off: every cell is in the DOM, so Run All's prompts and outputs can all be read
        page.wait_for_function(
            "n => document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell').length === n",
            arg=n_cells)
        # fold the file browser away: the screenshot is the notebook
        current_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current_tab.count():
            current_tab.first.click()
        page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
        lap("open")

        # the committed outputs must not pass for fresh ones: clear them, then Run All
        _click_menu(page, "Edit", "editmenu:clear-all")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]"
            ".every(p => !/\\d/.test(p.textContent))")
        _click_menu(page, "Run", "runmenu:run-all")
        state = _wait_run_all(page, n_code, run_timeout)
        result.tracebacks = page.evaluate(TRACEBACKS_JS)
        lap("run all")
        numbered = sum(p.strip("[]:").isdigit() for p in state["prompts"])
        assert not any("*" in p for p in state["prompts"]), (
            f"{notebook.name}: Run All still running after {run_timeout:.0f} s ({numbered} of {n_code} code "
            "cells done); a slow machine may need a larger FUSIONLAB_BROWSER_RUN_TIMEOUT")
        assert numbered == n_code and state["status"] == "idle", (
            f"{notebook.name}: Run All executed {numbered} of {n_code} code cells "
            f"(kernel {state['status']}); first error output: "
            f"{(result.tracebacks or ['none'])[0][-1500:]}")

        target = None
        if has_panel:
            # the shape panel (block_panel): the cell whose widget output holds both a slider and a table
            # (a chapter's behaviour panel, fusionlab.play, has sliders and pictures but no table)
            cell = (page.locator(".jp-NotebookPanel .jp-Cell", has=page.locator(".widget-slider"))
                    .filter(has=page.locator(".jp-Cell-outputArea table")).first)
            try:
                cell.wait_for(state="visible", timeout=30_000)
            except PlaywrightTimeout:
                raise AssertionError(f"{notebook.name}: no widget panel shows a slider beside a table (the shape "
                                     "flow) after Run All") from None
            slider = cell.locator(".widget-slider .noUi-handle").first
            widget = cell.locator(".widget-slider").first
            name = widget.locator(".widget-label").first.text_content() or "?"
            readout = widget.locator(".widget-readout").first
            result.panel_before = cell.evaluate(PANEL_TEXT_JS)
            assert result.panel_before, f"{notebook.name}: the widget panel shows no output before any change"
            before_value = readout.text_content()
            slider.focus()
            page.keyboard.press("ArrowRight")
            if readout.text_content() == before_value:  # already at its maximum: step down instead
                page.keyboard.press("ArrowLeft")
            result.slider = f"{name.strip()} {before_value.strip()} -> {readout.text_content().strip()}"
            try:
                page.wait_for_function(
                    "([cell, before]) => (%s)(cell) !== before" % PANEL_TEXT_JS,
                    arg=[cell.element_handle(), result.panel_before], timeout=30_000)
            except PlaywrightTimeout:  # no change: the caller's assertion says so in a sentence
                pass
            # the callback may still be redrawing: wait for the kernel before reading the output
            page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
            result.panel_after = cell.evaluate(PANEL_TEXT_JS)
            result.tracebacks = page.evaluate(TRACEBACKS_JS)
            lap("slider")
            target = cell

        result.error_widgets = page.locator(".jupyter-widgets-error-widget").count()
        result.error_text = page.evaluate("() => document.body.innerText.includes('Error displaying widget')")

        screenshot.parent.mkdir(parents=True, exist_ok=True)
        if target is not None:
            target.evaluate("c => c.scrollIntoView({block: 'start'})")
        else:
            page.evaluate("() => document.querySelector('.jp-NotebookPanel .jp-Cell').scrollIntoView()")
        page.wait_for_timeout(300)  # let the scroll and the last redraw paint
        page.screenshot(path=str(screenshot))
        lap("screenshot")
    finally:
        page.close()
        server.shutdown_kernels()
        result.save_attempts = server.save_attempts()
    return result
