"""The registry and the post's original cells, shared by every notebook, test and benchmark."""
import importlib.util
import inspect
import json
import re
import sys
import typing
import unicodedata
from pathlib import Path

import pytest
import torch

import fusionlab
from fusionlab import BLOCKS
from fusionlab.original import NOTEBOOKS, original_class, original_source

ROOT = Path(__file__).resolve().parent.parent


# test files that iterate over the registry: a block also needs a test file that names it
GENERIC_TESTS = {"conftest.py", "test_registry.py", "test_bench.py", "test_blocks_properties.py"}


def _missing_pieces(name: str) -> list[str]:
    """Everything a registered block still lacks (CONTRIBUTING.md, "Adding a block")."""
    spec, missing = BLOCKS[name], []
    cls = spec.cls
    # 1. its module, exported by the package
    if not cls.__module__.startswith("fusionlab.blocks."):
        missing.append(f"{cls.__name__} is defined in {cls.__module__}, not in a module of fusionlab/blocks/")
    if getattr(fusionlab, cls.__name__, None) is not cls or cls.__name__ not in fusionlab.__all__:
        missing.append(f"fusionlab does not export {cls.__name__} (add it to _EXPORTS in fusionlab/__init__.py)")
    doc, module_doc = cls.__doc__ or "", sys.modules[cls.__module__].__doc__ or ""
    if "Shapes:" not in doc:
        missing.append(f"{cls.__name__}'s docstring has no 'Shapes:' section")
    cited = re.findall(r"\d{4}\.\d{4,5}", spec.paper) or [spec.paper.split(" (")[0]]
    if not any(c in doc + module_doc for c in cited):
        missing.append(f"neither {cls.__name__}'s docstring nor its module's names the paper ({cited[0]})")
    forward = inspect.signature(cls.forward).parameters
    if list(forward)[1:len(spec.inputs) + 1] != list(spec.inputs):
        missing.append(f"inputs {list(spec.inputs)} are not forward's first arguments {list(forward)[1:]}")
    # 2. its registry entry
    if spec.name != name:
        missing.append(f"registered under {name!r} but named {spec.name!r}")
    for key in ("title", "heading", "paper", "chapter", "fuses"):
        if not getattr(spec, key):
            missing.append(f"registry field {key!r} is empty")
    if spec.section < 1:
        missing.append(f"section {spec.section} is not a section number of the post (1, 2, …)")
    if set(spec.dims) != set(spec.sizes):
        missing.append(f"default sizes {sorted(spec.sizes)} are not the input dimensions {sorted(spec.dims)}")
    for key, default in spec.hparams.items():
        if key not in spec.choices:
            missing.append(f"hyperparameter {key!r} has no widget choices")
        elif default not in spec.choices[key]:
            missing.append(f"default {key}={default!r} is not among its choices")
    for key, allowed in spec.post_choices.items():
        if key not in spec.choices or not set(allowed) <= set(spec.choices[key]):
            missing.append(f"post_choices[{key!r}] is not a subset of choices[{key!r}]")
        elif spec.hparams.get(key, spec.sizes.get(key)) not in allowed:
            missing.append(f"the default {key} is outside post_choices: the bench could not run the post")
    if spec.outputs is None:
        missing.append("registry field 'outputs' is not set (output name -> dimension names)")
    else:
        hint = typing.get_type_hints(cls.forward).get("return")
        returns = len(typing.get_args(hint)) if typing.get_origin(hint) is tuple else 1
        if len(spec.outputs) != returns:
            missing.append(f"outputs names {len(spec.outputs)} tensor(s), forward is annotated to return {returns}")
    if spec.realistic is not None and not set(spec.realistic) <= set(spec.sizes):
        missing.append(f"realistic sizes name unknown dimensions {sorted(set(spec.realistic) - set(spec.sizes))}")
    # chapter 09's comparison (fusionlab.guide)
    from fusionlab.registry import SCOPES, WEIGHS

    if not spec.weighs or not set(spec.weighs) <= set(WEIGHS):
        missing.append(f"registry field 'weighs' {spec.weighs!r} is not a non-empty subset of {WEIGHS}")
    if spec.scope not in SCOPES:
        missing.append(f"registry field 'scope' {spec.scope!r} is not one of {SCOPES}")
    if not spec.placement:
        missing.append("registry field 'placement' is empty (where its paper puts the block)")
    if not set(spec.lab_hparams(16)) <= set(spec.hparams):
        missing.append("lab_hparams sets hyperparameters the entry does not declare")
    try:
        block = spec.build()
        meta = spec.example_inputs(device="meta")
        with torch.device("meta"):
            out = spec.build(**spec.lab_hparams(16)) if spec.lab_hparams(16) else block
        if spec.map_probe is not None:
            block.get_submodule(spec.map_probe.module)
    except Exception as err:  # every failure is listed, not only the first
        missing.append(f"building it from the registry fails: {type(err).__name__}: {err}")
    else:
        if not isinstance(block, cls) or not isinstance(out, cls):
            missing.append(f"build() does not return a {cls.__name__}")
        if [tuple(x.shape) for x in meta] != list(spec.shapes()):
            missing.append("example_inputs do not have the registered shapes")
    # 3. its chapter
    if not (NOTEBOOKS / f"{spec.chapter}.ipynb").exists():
        missing.append(f"no chapter notebook notebooks/{spec.chapter}.ipynb")
    elif spec.post_class and f"class {spec.post_class}" not in original_source(spec.chapter):
        missing.append(f"no cell of {spec.chapter} tagged 'original' defines the post's class {spec.post_class}")
    # 4. its test file
    pattern = re.compile(rf"\b{re.escape(cls.__name__)}\b|[\"']{re.escape(name)}[\"']")
    if not any(pattern.search(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "tests").glob("*.py"))
               if path.name not in GENERIC_TESTS):
        missing.append(f"no test file in tests/ names {cls.__name__} or {name!r} (beyond the generic tests)")
    return missing


@pytest.mark.parametrize("name", BLOCKS)
def test_every_block_is_complete(name):
    missing = _missing_pieces(name)
    assert not missing, f"{name} is missing:\n- " + "\n- ".join(missing)


def test_the_completeness_check_lists_every_missing_piece(monkeypatch):
    """A bare entry (a class outside fusionlab.blocks, no chapter, no test, no outputs) fails on each count."""
    from fusionlab.registry import BlockSpec

    class Bare(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    bare = BlockSpec(name="bare", cls=Bare, title="", section=0, heading="h", paper="Nobody (2099)",
                     chapter="99_none", post_class=None, fuses="f", inputs={"x": "B C"}, sizes={"B": 1, "C": 2},
                     hparams={"k": 1})
    monkeypatch.setitem(BLOCKS, "bare", bare)
    missing = "\n".join(_missing_pieces("bare"))
    for piece in ("not in a module of fusionlab/blocks/", "does not export Bare", "no 'Shapes:' section",
                  "names the paper", "'title' is empty", "section 0", "'k' has no widget choices",
                  "'outputs' is not set", "no chapter notebook", "no test file", "'weighs'", "'scope'",
                  "'placement'"):
        assert piece in missing, piece


def test_sections_number_the_post_from_one_without_gaps():
    sections = sorted({spec.section for spec in BLOCKS.values()})
    assert sections == list(range(1, len(sections) + 1))


def test_output_shapes_read_hyperparameters_and_sizes():
    for name, spec in BLOCKS.items():
        shapes = spec.output_shapes()
        assert len(shapes) == len(spec.outputs)
        first = next(iter(spec.outputs.values())).split()
        for i, dim in enumerate(first):
            if dim in spec.hparams:  # a width set by a hyperparameter, e.g. MSAA's out_channels
                value = next(v for v in spec.choices[dim] if v != spec.hparams[dim])
                assert spec.output_shapes(**{dim: value})[0][i] == value, (name, dim)
            else:  # a dimension of the inputs
                assert shapes[0][i] == spec.sizes[dim], (name, dim)
                assert spec.output_shapes({dim: spec.sizes[dim] + 1})[0][i] == spec.sizes[dim] + 1, (name, dim)


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


def test_every_block_of_the_post_is_under_one_of_its_headings():
    seed = (ROOT.parent / "shared" / "seed" / "000_f6bfac11dbf4e421.txt")
    if not seed.exists():
        pytest.skip("the post is kept beside the repository in ../shared/seed (not in a plain clone)")
    # NFKC: the post writes 力 of section 7 as the look-alike Kangxi radical ⼒ (U+2F12)
    post = unicodedata.normalize("NFKC", seed.read_text(encoding="utf-8"))
    for spec in BLOCKS.values():
        assert spec.heading in post, f"{spec.name}: heading {spec.heading!r} is not in the post"
        if spec.post_class:
            assert f"class {spec.post_class}" in post, spec.name


def test_original_source_names_a_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook"):
        original_source("01_gated_fusion", notebooks_dir=tmp_path)


def test_badges_name_the_configured_repository(capsys):
    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--check"]) == 0, capsys.readouterr().out


def test_notebooks_are_committed_executed():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        assert code and all(c.get("execution_count") for c in code), f"{path.name}: commit it executed"
