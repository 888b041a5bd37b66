"""Open the course in JupyterLab on whatever machine this is: what ``make lab`` runs.

    python scripts/lab.py                       # what `make lab` does (run it with the course's Python)
    python scripts/lab.py --port 9000           # start looking for a free port at 9000
    python scripts/lab.py --ip 127.0.0.1        # listen on loopback only, even inside a container
    python scripts/lab.py --dry-run             # print the machine kind and the jupyter command
    python scripts/lab.py --ServerApp.X=Y       # any other argument goes to `jupyter lab` as is

``make lab LAB_ARGS="--port 9000"`` passes the same options. On Windows without ``make``:
``.venv\\Scripts\\python scripts\\lab.py``.

It serves ``notebooks/`` with the JupyterLab of the Python that runs it, adapted to the machine:

- desktop (a display, or macOS / Windows): JupyterLab opens the browser itself;
- headless or remote (Linux without ``DISPLAY``/``WAYLAND_DISPLAY``, or an SSH session): no
  browser; it prints the address with its token and the ``ssh -N -L`` line that forwards the port
  to your own computer; the server listens on loopback only (JupyterLab's default, localhost);
- inside a container (Docker, Podman, Kubernetes): no browser; it listens on every interface of
  the container, because a published port (``docker run -p 8888:8888``) cannot reach loopback;
- as root (``sudo``, containers, CI): adds ``--allow-root``, without which JupyterLab refuses to start.

A busy port is not an error: JupyterLab's own ``port_retries`` (50 by default) tries the next five
ports, then random ones nearby. Once the server answers, the address it really took is printed,
read from the server's ``jpserver-<pid>.json`` in Jupyter's runtime directory.
"""
from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_PORT = 8888
READY_TIMEOUT = 120  # seconds to wait for the address before leaving it to JupyterLab's own log

MODES = ("desktop", "headless", "ssh", "container")


def in_container() -> bool:
    """Docker (``/.dockerenv``), Podman (``/run/.containerenv``), Kubernetes, or a container cgroup."""
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    if os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("container"):
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in cgroup for word in ("docker", "kubepods", "containerd", "libpod", "lxc"))


def detect_mode(environ: dict, platform: str, container: bool) -> str:
    """Which kind of machine this is, one of :data:`MODES` (see the module docstring)."""
    if container:
        return "container"
    if environ.get("SSH_CONNECTION") or environ.get("SSH_CLIENT") or environ.get("SSH_TTY"):
        return "ssh"  # even with X forwarding: a browser drawn over SSH is slower than a tunnel
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return "desktop" if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") else "headless"
    return "desktop"  # macOS and Windows always have a browser to open


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def jupyter_command(mode: str, *, root: bool, ip: str | None, port: int, no_browser: bool,
                    extra: list[str], python: str = sys.executable) -> list[str]:
    """The ``python -m jupyterlab`` command line for ``mode``; explicit ``ip``/``no_browser`` win."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if ip is None and mode == "container":
        ip = "0.0.0.0"  # a published port reaches the container's own interface, not its loopback
    command = [python, "-m", "jupyterlab", f"--ServerApp.root_dir={NOTEBOOKS}", f"--port={port}"]
    if ip is not None:  # otherwise JupyterLab's default, localhost: loopback only
        command.append(f"--ip={ip}")
    if no_browser or mode != "desktop":
        command.append("--no-browser")
    if root:
        command.append("--allow-root")
    return command + extra


def local_url(info: dict) -> str:
    """The address to open on this machine (or at the local end of a tunnel), token included."""
    scheme = "https" if info.get("secure") else "http"
    url = f"{scheme}://localhost:{info['port']}{info.get('base_url', '/')}lab"
    return f"{url}?token={info['token']}" if info.get("token") else url


def ssh_line(port: int, environ: dict) -> str:
    """``ssh -N -L`` forwarding ``port`` from this machine, addressed as the learner reached it."""
    parts = environ.get("SSH_CONNECTION", "").split()  # client_ip client_port server_ip server_port
    if len(parts) == 4:
        host = parts[2]
    else:  # a full name where the resolver knows one; many machines map theirs to "localhost"
        fqdn = socket.getfqdn()
        host = fqdn if "." in fqdn and not fqdn.startswith("localhost") else socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    ssh_port = f" -p {parts[3]}" if len(parts) == 4 and parts[3] != "22" else ""
    return f"ssh -N -L {port}:localhost:{port}{ssh_port} {getpass.getuser()}@{host}"


def banner(mode: str, info: dict, environ: dict, *, browser: bool = True) -> str:
    """What to open, and how to reach it from elsewhere; ``browser``: False after ``--no-browser``."""
    url, port = local_url(info), info["port"]
    if mode == "container" and info.get("hostname") not in ("0.0.0.0", "::", "", "*"):
        mode = "headless"  # told to listen on one address (e.g. --ip 127.0.0.1): a port cannot be published
    lines = [f"The fusionlab course is running: {info.get('root_dir', NOTEBOOKS)}"]
    tunnel = ["From your own computer, forward the port first (leave it running):",
              f"    {ssh_line(port, environ)}"]
    if mode == "desktop" and browser:
        lines += ["JupyterLab opens it in your browser. If no window appears, open:", f"    {url}"]
    elif mode == "desktop":
        lines += ["No browser was opened (--no-browser). Open:", f"    {url}"]
    elif mode == "container":
        lines += [f"Inside a container: listening on all of its interfaces, port {port}. Publish that "
                  f"port when you start", f"the container (docker run -p {port}:{port} ...), then open on the host:",
                  f"    {url}"]
    elif mode == "ssh":
        lines += ["This is an SSH session, so no browser was opened.", *tunnel,
                  "then open in your own browser:", f"    {url}"]
    else:
        lines += ["No display here, so no browser was opened. On this machine, open:", f"    {url}",
                  *tunnel, "then open the same address there."]
    lines.append("Stop the server with Ctrl+C (twice).")
    rule = "-" * 72
    return "\n".join([rule, *lines, rule])


def read_server_info(runtime_dir: Path, pid: int) -> dict | None:
    try:
        return json.loads((runtime_dir / f"jpserver-{pid}.json").read_text())
    except (OSError, ValueError):
        return None  # not written yet, or half written


def answers(info: dict) -> bool:
    scheme = "https" if info.get("secure") else "http"
    request = urllib.request.Request(
        f"{scheme}://127.0.0.1:{info['port']}{info.get('base_url', '/')}api/status",
        headers={"Authorization": f"token {info.get('token', '')}"})
    try:
        with urllib.request.urlopen(request, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an answer all the same (e.g. a password instead of a token)
    except (urllib.error.URLError, OSError):
        return False


def wait_and_announce(process: subprocess.Popen, mode: str, environ: dict, browser: bool) -> None:
    """Print the banner once the server answers; say nothing if it exits or never answers."""
    from jupyter_core.paths import jupyter_runtime_dir

    runtime_dir = Path(jupyter_runtime_dir())
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        info = read_server_info(runtime_dir, process.pid)
        if info and answers(info):
            print(banner(mode, info, environ, browser=browser), flush=True)
            return
        time.sleep(0.3)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="first port to try; JupyterLab moves on if it is busy (default %(default)s)")
    parser.add_argument("--ip", default=None,
                        help="address to listen on (default: localhost; 0.0.0.0 inside a container)")
    parser.add_argument("--no-browser", action="store_true", help="never open a browser")
    parser.add_argument("--dry-run", action="store_true", help="print the machine kind and the command, start nothing")
    # any other argument goes to `jupyter lab` unchanged (after `--` too)
    args, extra = parser.parse_known_args(argv)
    args.extra = [a for a in extra if a != "--"]
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ)
    mode = detect_mode(environ, sys.platform, in_container())
    command = jupyter_command(mode, root=is_root(), ip=args.ip, port=args.port,
                              no_browser=args.no_browser, extra=args.extra)
    if args.dry_run:
        print(f"machine: {mode}{' (root)' if is_root() else ''}\n{subprocess.list2cmdline(command)}")
        return 0
    if importlib.util.find_spec("jupyterlab") is None:
        sys.exit(f"JupyterLab is not installed for {sys.executable}; run `make lab`, or run this "
                 "script with the course's Python (.venv/bin/python, on Windows .venv\\Scripts\\python).")
    # Same process group as this script: Ctrl+C in the terminal reaches JupyterLab directly, and
    # JupyterLab asks before it shuts down; this script only waits for it and relays SIGTERM/SIGHUP.
    process = subprocess.Popen(command, cwd=ROOT)

    def relay(signum, _frame):
        if process.poll() is None:
            process.send_signal(signum)

    signal.signal(signal.SIGINT, lambda *_: None)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), relay)
    try:
        wait_and_announce(process, mode, environ, browser=not args.no_browser)
    except Exception as error:  # the banner is a convenience: JupyterLab's own log has the address
        print(f"(could not read the server's address: {error})", file=sys.stderr)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
