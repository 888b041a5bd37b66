"""Build the Binder environment in a fresh virtual environment and run one chapter in it.

    python scripts/binder_smoke.py                                # chapter 01, temporary venv
    python scripts/binder_smoke.py --notebook notebooks/04_safm.ipynb --keep /tmp/binder-venv
    python scripts/binder_smoke.py --extra-index-url none         # rely on the local pip configuration

What Binder (repo2docker) does with ``binder/``, step by step: install ``binder/requirements.txt``
with pip, then run the executable ``binder/postBuild`` from the repository root (it installs
fusionlab). This script repeats those two steps in a new venv (Python: the interpreter running
this script; Binder's is ``binder/runtime.txt``), then executes one chapter top to bottom with
nbclient in that venv's own kernel, and reports how long each step took. It does not touch
``binder/`` and cannot check the Debian packages of ``binder/apt.txt`` (it only says whether
``dot`` is on PATH here).

The PyTorch CPU index named in ``binder/requirements.txt`` is what Binder uses. Where that index
cannot be reached (an offline machine whose pip configuration provides the ``+cpu`` wheel, e.g.
through ``find-links``), the script drops the ``--extra-index-url`` line from a temporary copy of
the file — automatically after a short reachability probe, or always with
``--extra-index-url none``; ``--extra-index-url URL`` substitutes another index.

Slow (minutes: it installs torch, JupyterLab and the rest), so it is NOT part of ``make test``;
``tests/test_binder.py`` checks the files' form and pins on every test run instead.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"

# runs inside the new venv: execute the chapter with that venv's python3 kernel
EXECUTE = """
import sys, time, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
start = time.perf_counter()
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
print(f"executed {sum(c.cell_type == 'code' for c in nb.cells)} code cells in {time.perf_counter() - start:.1f} s, "
      f"{len(errors)} error output(s)")
sys.exit(1 if errors else 0)
"""


def reachable(url: str, timeout: float = 5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def requirements_for_here(index: str | None, workdir: Path) -> Path:
    """``binder/requirements.txt`` as is, or a copy with its ``--extra-index-url`` replaced or dropped."""
    source = BINDER / "requirements.txt"
    lines = source.read_text().splitlines()
    binder_index = next((line.split()[1] for line in lines if line.startswith("--extra-index-url")), None)
    if index is None:  # automatic: keep Binder's index if this machine can reach it
        if binder_index is None or reachable(binder_index):
            return source
        print(f"note: {binder_index} is unreachable from here; installing through the local pip configuration")
        index = "none"
    keep = [line for line in lines if not line.startswith("--extra-index-url")]
    if index != "none":
        keep.insert(0, f"--extra-index-url {index}")
    copy = workdir / "requirements.txt"
    copy.write_text("\n".join(keep) + "\n")
    return copy


def run(step: str, command: list[str], times: dict[str, float], **kwargs) -> None:
    print(f"== {step}: {' '.join(map(str, command))}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    times[step] = time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "notebooks" / "01_gated_fusion.ipynb")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="build the venv in DIR and keep it (default: temporary)")
    parser.add_argument("--extra-index-url", dest="index", metavar="URL|none",
                        help="replace Binder's PyTorch CPU index (none: drop it; default: keep it if reachable)")
    args = parser.parse_args(argv)
    notebook = args.notebook.resolve()
    if not notebook.is_file():
        parser.error(f"--notebook {args.notebook} is not a file")
    runtime = (BINDER / "runtime.txt").read_text().strip() if (BINDER / "runtime.txt").exists() else "(default)"
    here = f"python-{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        print(f"note: Binder uses {runtime}; this venv uses {here}")

    times: dict[str, float] = {}
    total = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="binder-smoke-") as tmp:
        workdir = Path(tmp)
        venv = args.keep.resolve() if args.keep else workdir / "venv"
        if venv.exists() and any(venv.iterdir()):
            parser.error(f"--keep {venv} exists and is not empty; give a new directory")
        run("venv", [sys.executable, "-m", "venv", str(venv)], times)
        bin_dir = venv / "bin"
        requirements = requirements_for_here(args.index, workdir)
        run("pip install -r binder/requirements.txt",
            [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)], times)
        # as repo2docker: postBuild from the repository root, with the environment's pip first on PATH
        # (and no user-level kernelspec may swap in another interpreter: a private Jupyter data dir)
        env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv),
                   JUPYTER_DATA_DIR=str(workdir / "jupyter-data"))
        run("postBuild", [str(BINDER / "postBuild")], times, cwd=ROOT, env=env)
        run("jupyter labextension list", [str(bin_dir / "jupyter"), "labextension", "list"], times, env=env)
        run(f"execute {notebook.name}", [str(bin_dir / "python"), "-c", EXECUTE, str(notebook), str(notebook.parent)],
            times, env=env, cwd=workdir)
    print(f"dot (graphviz, binder/apt.txt) on PATH here: {'yes' if shutil.which('dot') else 'no'}")
    for step, seconds in times.items():
        print(f"{seconds:8.1f} s  {step}")
    print(f"{time.perf_counter() - total:8.1f} s  total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
