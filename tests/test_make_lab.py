"""The README's first command, run the way a learner runs it: ``make lab`` in a fresh checkout.

The end-to-end test copies what a clone would hold (the files git tracks, plus new files it does
not ignore, as they are in the working tree) into a temporary directory without ``.venv``, links
``.venv`` there to the environment running this test, so nothing is reinstalled, and runs the real
``make lab`` target in the background: as whoever runs the test (root in CI), with no display, on
loopback only, starting on a port this test keeps busy. It waits until the server lists the course's
notebooks, checks the address that ``scripts/lab.py`` printed, then stops the whole process group
(make, the script, JupyterLab) and checks that the port is closed again.

The environment must be installed and current (``make install``; ``make test`` does it first).
Without ``make``, ``git`` or an installed environment the test skips, except under CI (``CI`` set).
Under root with ``apt-get``, ``make lab`` installs Graphviz first if ``dot`` is missing.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# seconds for `make lab` to answer: a hang guard only, generous for a busy 2-core machine
TIMEOUT = float(os.environ.get("FUSIONLAB_MAKE_LAB_TIMEOUT", 180))
# what the outer `make test` (or the learner's shell) exports and a learner's new shell would not
DROPPED_ENV = ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
               "MAKEOVERRIDES", "VENV", "LAB_ARGS", "SYSTEM_PACKAGES")


def _load_lab_script():
    spec = importlib.util.spec_from_file_location("fusionlab_lab_script", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lab = _load_lab_script()


def _unavailable(reason: str):
    """Skip on a developer's machine; under CI the README's first command must be testable, so fail."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}.")
    pytest.skip(reason)


# --- how scripts/lab.py adapts the command to the machine (no server started) ---------------

@pytest.mark.parametrize("environ, platform, container, mode", [
    ({}, "linux", False, "headless"),
    ({"DISPLAY": ":0"}, "linux", False, "desktop"),
    ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", False, "desktop"),
    ({"DISPLAY": "localhost:10.0", "SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22"}, "linux", False, "ssh"),
    ({}, "darwin", False, "desktop"),
    ({}, "win32", False, "desktop"),
    ({"DISPLAY": ":0"}, "linux", True, "container"),
])
def test_detect_mode(environ, platform, container, mode):
    assert lab.detect_mode(environ, platform, container) == mode


@pytest.mark.parametrize("mode", lab.MODES)
@pytest.mark.parametrize("root", [False, True])
def test_jupyter_command(mode, root):
    command = lab.jupyter_command(mode, root=root, ip=None, port=8888, no_browser=False, extra=["--x=1"])
    assert ("--allow-root" in command) == root, "--allow-root exactly when running as root"
    assert ("--no-browser" in command) == (mode != "desktop"), "a browser opens only on a desktop"
    ips = [a for a in command if a.startswith("--ip=")]
    assert ips == (["--ip=0.0.0.0"] if mode == "container" else []), "loopback (the default) outside containers"
    assert f"--ServerApp.root_dir={lab.NOTEBOOKS}" in command and "--port=8888" in command
    assert command[-1] == "--x=1", "extra arguments reach jupyter last"
    pinned = lab.jupyter_command(mode, root=root, ip="127.0.0.1", port=9000, no_browser=True, extra=[])
    assert "--ip=127.0.0.1" in pinned and "--ip=0.0.0.0" not in pinned and "--no-browser" in pinned


def test_jupyter_command_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of desktop, headless, ssh, container, got 'tv'"):
        lab.jupyter_command("tv", root=False, ip=None, port=8888, no_browser=False, extra=[])


def test_ssh_line_uses_the_address_the_learner_reached():
    line = lab.ssh_line(8890, {"SSH_CONNECTION": "10.0.0.2 50000 203.0.113.7 2222"})
    assert re.fullmatch(r"ssh -N -L 8890:localhost:8890 -p 2222 \S+@203\.0\.113\.7", line), line


@pytest.mark.parametrize("mode, hostname, expected", [
    ("desktop", "localhost", "JupyterLab opens it in your browser"),
    ("desktop-no-browser", "localhost", "No browser was opened (--no-browser)"),
    ("headless", "localhost", "ssh -N -L 8890:localhost:8890"),
    ("ssh", "localhost", "ssh -N -L 8890:localhost:8890"),
    ("container", "0.0.0.0", "docker run -p 8890:8890"),
    ("container", "127.0.0.1", "ssh -N -L 8890:localhost:8890"),
])
def test_banner_says_how_to_reach_the_server(mode, hostname, expected):
    info = {"port": 8890, "base_url": "/", "token": "abc123", "hostname": hostname, "root_dir": "/x/notebooks"}
    text = lab.banner(mode.removesuffix("-no-browser"), info, {}, browser=not mode.endswith("-no-browser"))
    assert "http://localhost:8890/lab?token=abc123" in text and expected in text, text


# --- the real `make lab` from a fresh checkout -----------------------------------------------

def _fresh_checkout(dest: Path) -> None:
    """Copy what a clone of the working tree would hold: tracked and not-ignored files, new mtimes."""
    # safe.directory: CI often runs as root in a checkout that another user owns
    listed = subprocess.run(["git", "-c", f"safe.directory={ROOT}", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True,
                            ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source, target = ROOT / rel, dest / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in git
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy(source, target)  # content and mode; the mtime is now, as in a clone


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole process group (make, scripts/lab.py, JupyterLab), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # make has exited; give its children the same deadline
            end = time.monotonic() + wait
            while time.monotonic() < end:
                os.killpg(process.pid, 0)
                time.sleep(0.2)
        except ProcessLookupError:
            return


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(sys.platform.startswith("win"), reason="`make lab` is for POSIX shells; see the README for Windows")
def test_make_lab_serves_the_course_from_a_fresh_checkout(tmp_path):
    if shutil.which("make") is None:
        _unavailable("`make` is not installed")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        _unavailable("the test needs git and a git checkout to make a fresh copy of the repository")
    venv = Path(sys.prefix)
    if sys.prefix == sys.base_prefix or not (venv / "bin" / "python").exists():
        _unavailable(f"the tests are not running in the course's virtual environment ({sys.prefix})")

    clone = tmp_path / "fusionlab"
    _fresh_checkout(clone)
    assert not (clone / ".venv").exists()
    (clone / ".venv").symlink_to(venv, target_is_directory=True)  # the installed environment, reused
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    jupyter = tmp_path / "jupyter"  # the learner's own Jupyter configuration stays untouched
    env.update(JUPYTER_CONFIG_DIR=str(jupyter / "config"), JUPYTER_DATA_DIR=str(jupyter / "data"),
               JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"), JUPYTER_PLATFORM_DIRS="1")
    if subprocess.run(["make", "-q", "install"], cwd=clone, env=env, capture_output=True).returncode != 0:
        _unavailable(f"the environment {venv} is not current with requirements.txt and pyproject.toml "
                     "(run `make install`; this test never reinstalls it)")

    log_path = tmp_path / "make-lab.log"
    with socket.socket() as busy:  # the first port scripts/lab.py asks for is taken
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        command = ["make", "lab", f"LAB_ARGS=--ip 127.0.0.1 --port {busy_port} --no-browser"]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        port = None
        try:
            banner, listing, deadline = None, None, time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and process.poll() is None:
                text = log_path.read_text(errors="replace")
                found = re.search(r"The fusionlab course is running: (.+)\n(?:.*\n)*?Stop the server", text)
                url = found and re.search(r"http://localhost:(\d+)/lab\?token=([0-9a-f]+)\n", found.group(0))
                if url:
                    banner, port, token = found.group(0), int(url.group(1)), url.group(2)
                    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents",
                                                     headers={"Authorization": f"token {token}"})
                    with urllib.request.urlopen(request, timeout=10) as response:
                        listing = json.load(response)
                    break
                time.sleep(0.5)
            text = log_path.read_text(errors="replace")
            ended = "it exited with code %s" % process.returncode if process.poll() is not None else (
                f"no answer within {TIMEOUT:.0f} s (FUSIONLAB_MAKE_LAB_TIMEOUT)")
            assert listing is not None, (
                f"`make lab` did not announce a server listing the notebooks: {ended}; its output ends:\n"
                f"{text[-4000:]}")
        finally:
            _stop_group(process)

    assert "Running as root is not recommended" not in text
    assert Path(found.group(1).strip()) == clone / "notebooks", "it serves the clone's notebooks/"
    assert port != busy_port, "a busy port must not stop `make lab`: JupyterLab moves on to another"
    served = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
    assert served == sorted(p.name for p in (clone / "notebooks").glob("*.ipynb")) and served
    mode = lab.detect_mode(env, sys.platform, lab.in_container())
    if mode != "desktop":  # the container hint needs 0.0.0.0; on loopback it is the tunnel line
        assert f"ssh -N -L {port}:localhost:{port}" in banner, banner
    assert process.returncode is not None and _port_closed(port), "the server must be stopped"
