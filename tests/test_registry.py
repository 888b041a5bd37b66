"""The registry and the post's original cells, shared by every notebook, test and benchmark."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fusionlab import BLOCKS
from fusionlab.original import NOTEBOOKS, original_class, original_source

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", BLOCKS)
def test_entry_is_complete_and_its_chapter_exists(name):
    spec = BLOCKS[name]
    assert spec.name == name
    assert (NOTEBOOKS / f"{spec.chapter}.ipynb").exists()
    assert 1 <= spec.section <= 7 and spec.heading and spec.paper and spec.fuses
    assert set(spec.dims) == set(spec.sizes), "every dimension needs a default size"
    assert set(spec.hparams) <= set(spec.choices), "every hyperparameter needs its widget choices"
    for key, default in spec.hparams.items():
        assert default in spec.choices[key], f"default {key}={default!r} is not among its choices"
    block = spec.build()
    assert isinstance(block, spec.cls)
    meta = spec.example_inputs(device="meta")
    assert [tuple(x.shape) for x in meta] == list(spec.shapes())
    assert all(x.device.type == "meta" for x in meta)


@pytest.mark.parametrize("name", [n for n, s in BLOCKS.items() if s.post_class])
def test_original_cells_define_the_posts_class_without_running_the_demo(name, capsys):
    cls = original_class(name)
    assert cls.__name__ == BLOCKS[name].post_class
    assert capsys.readouterr().out == "", "the post's demo and prints must stay silent in tests"


def test_original_cells_hold_the_post_verbatim():
    """Dropping the course's `# EN:` lines gives back the post's code, byte for byte."""
    seed = (ROOT.parent / "shared" / "seed" / "000_f6bfac11dbf4e421.txt")
    if not seed.exists():
        pytest.skip("the post is kept beside the repository in ../shared/seed (not in a plain clone)")
    post = seed.read_text(encoding="utf-8")
    chapters = sorted({s.chapter for s in BLOCKS.values() if s.post_class})
    for chapter in chapters:
        cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text(encoding="utf-8"))["cells"]
        originals = ["".join(c["source"]) for c in cells if "original" in c["metadata"].get("tags", [])]
        assert originals, chapter
        for source in originals:
            plain = "\n".join(l for l in source.split("\n") if not l.strip().startswith("# EN:"))
            assert plain.strip() in post, f"{chapter}: an original cell differs from the post"


def test_original_source_names_a_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook"):
        original_source("01_gated_fusion", notebooks_dir=tmp_path)


def test_badges_name_the_configured_repository():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "set_repository.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_notebooks_are_committed_executed():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        assert code and all(c.get("execution_count") for c in code), f"{path.name}: commit it executed"
