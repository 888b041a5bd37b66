"""Launch anywhere: the Binder configuration (``binder/``) and the Colab set-up cell of every chapter.

Binder builds the course with repo2docker from ``binder/`` alone (a ``binder/`` folder makes it ignore
the top level): ``runtime.txt`` picks Python, ``apt.txt`` the Debian packages, ``requirements.txt``
the pip packages (a CPU-only torch from the PyTorch CPU index keeps the image small), then the
executable ``postBuild`` installs fusionlab. These tests check the files' form and that Binder pins
the same versions as the course's own ``requirements.txt``; ``scripts/binder_smoke.py`` (slow, not
part of ``make test``) actually installs them and runs a chapter.

On Colab the first code cell of each chapter installs fusionlab only and keeps Colab's torch.
"""
from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path

import nbformat
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# repo2docker picks one build pack by the first of these it finds; next to binder/requirements.txt
# any of them would take over (in binder/) or mislead a reader (top level, which Binder ignores).
COMPETING_FILES = ("Dockerfile", "default.nix", "Project.toml", "REQUIRE", "install.R", "DESCRIPTION",
                   "environment.yml", "environment.yaml", "Pipfile", "Pipfile.lock", "setup.py")
# in the course's requirements.txt but not needed to run the chapters (tests and the browser check)
TEST_ONLY = {"nbval", "pytest", "pytest-xdist", "hypothesis", "playwright", "onnx", "onnxscript", "onnxruntime",
             # the static website (make site), built from the committed notebooks, never imported by a chapter
             "sphinx", "myst-nb", "myst-parser", "sphinx-book-theme", "jieba"}
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line; options and ``-e`` lines skipped."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\],]+?)\s*==\s*([^\s;]+)", line)
        assert match, f"{path.relative_to(ROOT)}: {line!r} is not pinned as name==version"
        name = re.sub(r"[-_.]+", "-", match.group(1).split("[")[0]).lower()
        found[name] = match.group(2)
    return found


def lines(path: Path) -> list[str]:
    return [s for s in (line.split("#", 1)[0].strip() for line in path.read_text().splitlines()) if s]


# ---------------------------------------------------------------- Binder (repo2docker)

def test_postbuild_is_an_executable_script_that_installs_fusionlab():
    post = BINDER / "postBuild"
    assert post.is_file(), "binder/postBuild is missing: it installs fusionlab after the requirements"
    assert post.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable (chmod +x), or repo2docker skips it"
    text = post.read_text()
    assert text.startswith("#!"), "binder/postBuild must start with a shebang line such as #!/bin/bash"
    # repo2docker runs it from the repository root: install this checkout, keeping the pinned packages
    assert re.search(r"^\s*(python3? -m )?pip install\b.*\s(-e\s+)?\.\s*$", text, re.M), (
        "binder/postBuild does not `pip install` the repository (expected e.g. `pip install --no-deps -e .`)")
    assert "--no-deps" in text, "postBuild should install fusionlab with --no-deps: requirements.txt pins its dependencies"


def test_apt_txt_installs_graphviz():
    assert "graphviz" in lines(BINDER / "apt.txt"), "binder/apt.txt must list graphviz (the `dot` binary for torchviz)"


def test_requirements_pin_a_cpu_torch_from_the_pytorch_cpu_index():
    binder = BINDER / "requirements.txt"
    options = [line.split() for line in lines(binder) if line.startswith("-")]
    assert ["--extra-index-url", PYTORCH_CPU_INDEX] in options, (
        f"binder/requirements.txt needs `--extra-index-url {PYTORCH_CPU_INDEX}` so torch comes as a CPU build")
    torch_pin = pins(binder).get("torch", "")
    assert torch_pin.endswith("+cpu"), f"binder/requirements.txt must pin torch==X+cpu, found torch=={torch_pin or '(none)'}"


def test_binder_pins_agree_with_the_course_requirements():
    course, binder = pins(ROOT / "requirements.txt"), pins(BINDER / "requirements.txt")
    disagree = {name: (version, course.get(name)) for name, version in binder.items()
                if course.get(name) != version.split("+", 1)[0]}  # torch 2.13.0+cpu is torch 2.13.0
    assert not disagree, "binder/requirements.txt and requirements.txt pin different versions: " + ", ".join(
        f"{name} {b} (binder) vs {c or 'unpinned'} (course)" for name, (b, c) in sorted(disagree.items()))
    missing = sorted(set(course) - set(binder) - TEST_ONLY)
    assert not missing, (
        f"requirements.txt pins {', '.join(missing)} but binder/requirements.txt does not: add them there, or to "
        "TEST_ONLY in tests/test_binder.py if the chapters never import them")


def test_no_competing_environment_files():
    found = [f"{where}/{name}" for where in (".", "binder") for name in COMPETING_FILES if (ROOT / where / name).exists()]
    assert not found, f"repo2docker would build from (or a reader would trust) {', '.join(found)} instead of binder/"
    assert not (ROOT / ".binder").exists(), "both .binder/ and binder/ exist; repo2docker refuses that"


def test_runtime_python_satisfies_the_package():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)", runtime)
    assert match, f"binder/runtime.txt must read python-3.N, got {runtime!r}"
    lowest = re.fullmatch(r">=\s*3\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert lowest and int(match.group(1)) >= int(lowest.group(1)), (
        f"binder/runtime.txt asks for {runtime}, below requires-python {PYPROJECT['project']['requires-python']}")


# ---------------------------------------------------------------- Colab

def repository_url() -> str:
    return PYPROJECT["project"]["urls"]["Repository"]


def setup_cell(lang: str = "en") -> str:
    """The common first code cell; the install line names pyproject's repository; the zh edition's
    calls setup(lang="zh")."""
    return (
        "# Set-up: the same cell works locally, on Binder and on Colab.\n"
        "import sys\n"
        'if "google.colab" in sys.modules:  # Colab: install fusionlab only and keep Colab\'s own torch\n'
        f'    %pip install -q "fusionlab[course] @ git+{repository_url()}"\n'
        "    !apt-get -qq install -y fonts-wqy-zenhei > /dev/null  # a Chinese font, for figures with Chinese\n"
        "from fusionlab.notebook import setup\n"
        + ("device = setup()" if lang == "en" else f'device = setup(lang="{lang}")')
    )


def code_cells(notebook: Path) -> list[str]:
    return [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks").with_suffix("")) for p in NOTEBOOKS])
def test_first_code_cell_is_the_common_setup_cell(notebook):
    cells = code_cells(notebook)
    assert cells, f"{notebook.name} has no code cell"
    lang = "zh" if notebook.parent.name == "zh" else "en"
    assert cells[0].strip() == setup_cell(lang), (
        f"{notebook.name}: the first code cell must be the common set-up cell (see tests/test_binder.py "
        f"setup_cell()), found:\n{cells[0][:400]}")


# a package-manager line: %pip / !pip / pip install, python -m pip, conda / mamba install
_INSTALL_LINE = re.compile(r"^\s*[%!]?\s*(python3?\s+-m\s+)?(pip3?|conda|mamba|uv\s+pip)\s+install\b(.*)$", re.M)
_TORCH_PACKAGES = {"torch", "torchvision", "torchaudio", "pytorch"}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "notebooks").with_suffix("")) for p in NOTEBOOKS])
def test_no_notebook_reinstalls_torch(notebook):
    for source in code_cells(notebook):
        for match in _INSTALL_LINE.finditer(source):
            args = match.group(3).replace('"', " ").replace("'", " ").split()
            named = {re.split(r"[<>=!~\[;@ ]", a, maxsplit=1)[0].lower() for a in args if not a.startswith("-")}
            assert not named & _TORCH_PACKAGES, (
                f"{notebook.name}: `{match.group(0).strip()}` installs torch; on Colab keep its own torch")
            assert not {"-U", "--upgrade", "--force-reinstall"} & set(args), (
                f"{notebook.name}: `{match.group(0).strip()}` upgrades dependencies, which may replace Colab's torch")


def test_package_keeps_any_recent_torch():
    """fusionlab asks for torch >= 2.1 only, so installing it on Colab keeps the preinstalled torch."""
    torch_deps = [d for d in PYPROJECT["project"]["dependencies"] if re.match(r"torch\b", d)]
    assert torch_deps == ["torch>=2.1"], f"pyproject.toml: torch dependency should be 'torch>=2.1', got {torch_deps}"


def test_setup_picks_cuda_when_a_gpu_is_visible(monkeypatch):
    from fusionlab.notebook import setup

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert setup().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert setup().type == "cpu"
