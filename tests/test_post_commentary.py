"""Every shape the post claims, checked against the tracer (``fusionlab/data/post_shapes.json``).

Each claim is checked twice: in a trace of the post's own class (from the chapters' cells
tagged ``original``) and, where the fusionlab block has the same step, in a trace of the
registered block. Where the post is wrong, the trace must agree with the claim's
``correction`` and disagree with the claim.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources

import pytest

from fusionlab import BLOCKS, trace
from fusionlab.original import original_namespace, original_source

DATA = json.loads(resources.files("fusionlab").joinpath("data/post_shapes.json").read_text(encoding="utf-8"))
SHAPE_KEYS = ("symbolic", "concrete", "count", "input_symbolic", "input_concrete")


def _params(side: str):
    for name, block in DATA["blocks"].items():
        for i, claim in enumerate(block["claims"]):
            if side == "post" or claim.get("fusionlab") is not None:
                yield pytest.param(name, i, id=f"{name}-{i}")


def _claim(name: str, i: int) -> tuple[dict, dict]:
    block = DATA["blocks"][name]
    return block, block["claims"][i]


def _sizes_names(block: dict, claim: dict) -> tuple[tuple[tuple[int, ...], ...], str, dict]:
    sizes = claim.get("sizes", block["sizes"])
    names = claim.get("names", block["names"])
    shape = tuple(sizes[d] for d in names.split())
    n_inputs = len(BLOCKS[_registry_name(block)].inputs)
    return (shape,) * n_inputs, names, sizes


def _registry_name(block: dict) -> str:
    return next(n for n, b in DATA["blocks"].items() if b is block)


@lru_cache(maxsize=None)
def _post_trace(name: str, shapes, names: str):
    block = DATA["blocks"][name]
    cls = original_namespace(block["chapter"])[block["post_class"]]
    return trace(cls(**block["post_kwargs"]), *shapes, names=names)


@lru_cache(maxsize=None)
def _fusionlab_trace(name: str, shapes, names: str, sizes_items):
    spec = BLOCKS[name]
    sizes = {k: v for k, v in sizes_items if k in spec.sizes}
    return trace(spec.build(sizes=sizes), *shapes, names=names)


def _matches(row, loc: dict) -> bool:
    if "target" in loc and loc["target"] not in row.targets:
        return False
    if "op" in loc and row.op != loc["op"]:
        return False
    if "module" in loc and not (row.module == loc["module"] or row.module.startswith(loc["module"] + ".")):
        return False
    return True


def _locate(t, loc: dict) -> dict:
    """What the trace says at this locator: concrete shapes, symbolic string, first input."""
    if "input" in loc:
        i = t.input_names.index(loc["input"])
        return {"concrete": [t.inputs[i]], "symbolic": t.symbolic_inputs[i]}
    if "output" in loc:
        i = loc["output"]
        return {"concrete": [t.outputs[i]], "symbolic": t.symbolic_outputs[i] if t.symbolic_outputs else None}
    found = [k for k, r in enumerate(t.rows) if _matches(r, loc)]
    assert found, f"no row of {t.module_name}'s trace matches {loc}; steps: {[r.step for r in t.rows]}"
    k = found[loc.get("nth", -1)]
    row = t.rows[k]
    shapes = list(row.outputs)
    symbolic = row.symbolic
    if "output_index" in loc:
        j = loc["output_index"]
        shapes = [shapes[j]]
        if symbolic is not None:
            parts = symbolic.split(" ; ")
            symbolic = parts[j] if len(parts) > 1 else re.sub(r" ×\d+$", "", symbolic)
    return {
        "concrete": shapes,
        "symbolic": symbolic,
        "input_concrete": row.inputs[0] if row.inputs else None,
        "input_symbolic": t.input_shape(k),
    }


def _agrees(found: dict, truth: dict) -> list[str]:
    """The differences between what the trace says and ``truth`` (empty: they agree)."""
    problems = []
    if "concrete" in truth:
        want = tuple(truth["concrete"])
        count = truth.get("count", 1)
        if len(found["concrete"]) != count or any(tuple(s) != want for s in found["concrete"]):
            problems.append(f"concrete {found['concrete']} != {count} × {want}")
    if "symbolic" in truth and found.get("symbolic") != truth["symbolic"]:
        problems.append(f"symbolic {found.get('symbolic')!r} != {truth['symbolic']!r}")
    if "input_concrete" in truth and tuple(found.get("input_concrete") or ()) != tuple(truth["input_concrete"]):
        problems.append(f"input {found.get('input_concrete')} != {tuple(truth['input_concrete'])}")
    if "input_symbolic" in truth and found.get("input_symbolic") != truth["input_symbolic"]:
        problems.append(f"input symbolic {found.get('input_symbolic')!r} != {truth['input_symbolic']!r}")
    return problems


def _corrected(claim: dict) -> dict:
    fix = {k: v for k, v in claim.get("correction", {}).items() if k in SHAPE_KEYS}
    return {**claim["expected"], **fix}


def test_every_block_of_the_post_has_its_claims():
    for spec in BLOCKS.values():
        if not spec.in_post:
            continue  # not a section of the post (the paper's CBAM); a section without code has no claims
        block = DATA["blocks"].get(spec.name)
        assert block is not None, f"{spec.name} has no entry in post_shapes.json"
        assert block["chapter"] == spec.chapter and block["post_class"] == spec.post_class
        if spec.post_class is None:
            assert block["claims"] == [] and block["note"]
        else:
            assert block["claims"], f"{spec.name}: the post comments its shapes; no claims transcribed"
    assert sum(len(b["claims"]) for b in DATA["blocks"].values()) >= 80


@pytest.mark.parametrize("name,i", list(_params("post")))
def test_claim_is_quoted_from_the_post(name, i):
    block, claim = _claim(name, i)
    source = " ".join(original_source(block["chapter"]).split())
    assert " ".join(claim["claim"].split()) in source, "the claim text must be the post's words"
    assert claim["refers_to"] and claim["expected"]
    if "correction" in claim:
        assert claim["correction"]["why"]


@pytest.mark.parametrize("name,i", list(_params("post")))
def test_post_class_trace_agrees_with_the_claim(name, i):
    block, claim = _claim(name, i)
    shapes, names, _ = _sizes_names(block, claim)
    found = _locate(_post_trace(name, shapes, names), claim["post"])
    truth = _corrected(claim)
    assert not _agrees(found, truth), f"{claim['claim']!r}: {_agrees(found, truth)}"
    if any(k in claim.get("correction", {}) for k in SHAPE_KEYS):
        # the post really is wrong here: the trace contradicts the claim as written
        assert _agrees(found, claim["expected"]), f"{claim['claim']!r} needs no correction"


@pytest.mark.parametrize("name,i", list(_params("fusionlab")))
def test_fusionlab_trace_agrees_with_the_claim(name, i):
    block, claim = _claim(name, i)
    shapes, names, sizes = _sizes_names(block, claim)
    loc = claim["fusionlab"]
    truth = {**_corrected(claim), **{k: v for k, v in loc.items() if k in SHAPE_KEYS}}
    if loc.get("output_index") is not None:
        truth.pop("count", None)
    if any(k in loc for k in ("symbolic", "concrete")) and "symbolic" not in loc:
        truth.pop("symbolic", None)  # a different layout states its numbers only
    found = _locate(_fusionlab_trace(name, shapes, names, tuple(sorted(sizes.items()))), loc)
    assert not _agrees(found, truth), f"{claim['claim']!r}: {_agrees(found, truth)}"


def test_claims_without_a_fusionlab_step_say_why():
    for name, block in DATA["blocks"].items():
        for claim in block["claims"]:
            if claim.get("fusionlab") is None:
                assert claim.get("note"), f"{name}: {claim['claim']!r} has no fusionlab step and no note"


def test_the_corrections_found_in_the_post():
    """The post's wrong shape claims, as the tracer finds them (OSRA's x and its final reshape)."""
    wrong = [(n, c["claim"]) for n, b in DATA["blocks"].items() for c in b["claims"]
             if any(k in c.get("correction", {}) for k in SHAPE_KEYS)]
    assert ("osra", "# x.shape = 1,8,49,8  与 q 的形状相同") in wrong
    t = _post_trace("osra", ((1, 64, 7, 7),), "B C H W")
    x = [r for r in t.rows if "x" in r.targets][-1]
    assert x.op == "transpose" and x.output == (1, 8, 8, 49) and x.symbolic == "(B, h, d, H*W)"
    heads, d = t.sizes["h"], t.sizes["d"]
    assert (heads, d, t.sizes["H"] * t.sizes["W"]) == (8, 8, 49) and math.prod(x.output) == 64 * 49
