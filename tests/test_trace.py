"""fusionlab.trace: concrete rows, symbolic strings, meta execution, renderers, fallbacks."""
from __future__ import annotations

import html
import math
import random
import re
import resource

import pytest
import torch
from torch import nn

from fusionlab import BLOCKS, GatedFusion, trace
from fusionlab._checks import fmt_shape
from fusionlab.original import original_namespace
from fusionlab.tracing import Trace, TraceRow

# ---------------------------------------------------------------------------- helpers

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_₀-₉]*'*")


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "(⌈" and 1 or 0
        depth -= ch in ")⌉" and 1 or 0
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def evaluate_shape(text: str, sizes: dict) -> tuple[int, ...]:
    """'(B, h, H*W, d)' at these sizes, read independently of the tracer's own evaluator."""
    assert text.startswith("(") and text.endswith(")"), text
    dims = []
    for part in _split_top(text[1:-1]):
        part = part.strip()
        if not part:
            continue
        expr = _NAME.sub(lambda m: m.group(0) if m.group(0) in ("max", "min") else f"({sizes[m.group(0)]})", part)
        expr = expr.replace("⌈", "math.ceil(").replace("⌉", ")")
        value = eval(expr, {"math": math, "max": max, "min": min})  # noqa: S307 (test input)
        assert abs(value - round(value)) < 1e-9, f"{part} = {value} is not a whole number"
        dims.append(int(round(value)))
    return tuple(dims)


def row_shapes(symbolic: str) -> list[str]:
    m = re.fullmatch(r"(.*) ×(\d+)", symbolic)
    if m:
        return [m.group(1)] * int(m.group(2))
    return symbolic.split(" ; ")


def assert_symbols_evaluate(t: Trace) -> None:
    """Every symbolic string, evaluated at the trace's sizes, gives the concrete shapes."""
    for r in t.rows:
        if r.symbolic is None:
            continue
        got = [evaluate_shape(s, t.sizes) for s in row_shapes(r.symbolic)]
        assert got == list(r.outputs), f"{r.step}: {r.symbolic} at {t.sizes} gives {got}, not {r.outputs}"


def post_block(chapter: str, cls: str, **kwargs) -> nn.Module:
    return original_namespace(chapter)[cls](**kwargs)


def real_output_shapes(block: nn.Module, inputs) -> list[tuple[int, ...]]:
    with torch.no_grad():
        out = block.eval()(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    return [tuple(o.shape) for o in outs]


# ---------------------------------------------------------------------------- gated fusion rows


@pytest.mark.parametrize("layout,shape", [("B H W C", (1, 224, 224, 64)), ("B N T C", (1, 10, 24, 64))])
def test_gated_fusion_rows_in_both_layouts(layout, shape):
    t = trace(GatedFusion(shape[-1]), shape, shape, names=layout)
    assert [r.step for r in t.rows] == ["fc1 Linear", "fc2 Linear", "add", "sigmoid", "lerp"]
    expected = "(" + ", ".join(layout.split()) + ")"
    for r in t.rows:
        assert r.output == shape and r.symbolic == expected and not r.fallback
        assert r.where and r.where.startswith("gated.py in ") and r.line and r.file.endswith("gated.py")
    assert t.rows[1].inputs == (shape,)
    assert t.rows[2].inputs == (shape, shape)
    assert [r.target for r in t.rows] == ["z", "z", "z", "z", "out"]  # the gate is z = self.gate(x1, x2)
    assert t.inputs == (shape, shape) and t.outputs == (shape,)
    assert t.symbolic_inputs == (expected, expected) and t.symbolic_outputs == (expected,)
    assert t.dims == {"x1": layout, "x2": layout}


def test_gated_fusion_paper_variant_adds_its_projection():
    shape = (2, 5, 7, 16)
    t = trace(GatedFusion(16, variant="paper"), shape, shape, names="B H W C")
    assert [r.module for r in t.rows][-3:] == ["proj.0", "proj.1", "proj.2"]
    assert all(r.output == shape for r in t.rows)


def test_post_gated_fusion_rows_name_its_variables():
    spec = BLOCKS["gated_fusion"]
    names = list(spec.inputs.values())  # the caller (here the registry) names the dimensions
    t = trace(post_block("01_gated_fusion", "gatedFusion", dim=64), (1, 224, 224, 64), (1, 224, 224, 64), names=names)
    assert [r.target for r in t.rows][:4] == ["x11", "x22", "z", "z"]
    assert t.dims == {"x1": "B H W C", "x2": "B H W C"}
    # no line number in the text a notebook shows; the number stays on the row
    assert not re.search(r":\d", t.rows[0].where) and t.rows[0].line > 0 and t.rows[0].file == "<01_gated_fusion>"
    assert t.rows[0].where.startswith("01_gated_fusion in forward:") and "x11 = self.fc1(x1)" in t.rows[0].where


# ---------------------------------------------------------------------------- symbols


def test_osra_symbolic_strings_and_definitions():
    for block in (BLOCKS["osra"].build(), post_block("05_osra_attention", "OSRAttention", dim=64)):
        t = trace(block, (1, 64, 7, 7))
        q = [r for r in t.rows if "q" in r.targets]
        assert [r.symbolic for r in q] == ["(B, C, H, W)", "(B, h, d, H*W)", "(B, h, H*W, d)"]
        assert [r.output for r in q] == [(1, 64, 7, 7), (1, 8, 8, 49), (1, 8, 49, 8)]
        assert [r.symbolic for r in t.rows if r.module == "kv"] == ["(B, 2*C, H', W')"]
        assert t.definitions["H'"] == "⌊(H − 1)/2⌋ + 1" and t.definitions["d"] == "C/h"
        assert t.definitions["h"] == "num_heads"
        assert (t.sizes["H'"], t.sizes["W'"], t.sizes["h"], t.sizes["d"]) == (4, 4, 8, 8)
        assert t.fixed == {"C": 64}
        assert t.symbolic_outputs == ("(B, C, H, W)",)
        assert_symbols_evaluate(t)


def test_cached_symbols_follow_new_sizes_and_new_configs():
    spec = BLOCKS["osra"]
    block = spec.build()
    trace(block, (1, 64, 7, 7))
    t = trace(block, (3, 64, 9, 5))  # the cached symbolic pass, re-checked at new sizes
    q = t.find("q")[-1]
    assert q.output == (3, 8, 45, 8) and q.symbolic == "(B, h, H*W, d)"
    assert (t.sizes["H'"], t.sizes["W'"]) == ((9 - 1) // 2 + 1, (5 - 1) // 2 + 1)
    assert real_output_shapes(block, (torch.randn(3, 64, 9, 5),)) == list(t.outputs)
    assert_symbols_evaluate(t)
    other = spec.build(sizes={"C": 32}, num_heads=4)  # another config: d = 8 again, but C and h differ
    t2 = trace(other, (2, 32, 6, 6))
    assert t2.find("q")[-1].output == (2, 4, 36, 8) and t2.find("q")[-1].symbolic == "(B, h, H*W, d)"
    assert (t2.sizes["h"], t2.sizes["d"], t2.fixed) == (4, 8, {"C": 32})
    assert_symbols_evaluate(t2)


def test_cbam_joint_reads_the_pinned_channel_count():
    t = trace(BLOCKS["cbam_joint"].build(), (1, 64, 7, 7))
    cat = [r for r in t.rows if r.op == "cat" and not r.module][0]
    assert cat.symbolic == "(B, C + H*W)" and cat.output == (1, 113)
    assert t.fixed["C"] == 64 and t.fixed["C + H*W"] == 113
    hidden = [r for r in t.rows if r.op == "linear" and not r.module][0]
    assert hidden.symbolic == "(B, C/r)" and hidden.output == (1, 64 // 8)
    assert_symbols_evaluate(t)


def test_symbols_can_be_turned_off():
    t = trace(BLOCKS["osra"].build(), (1, 64, 7, 7), symbolic=False)
    assert all(r.symbolic is None and not r.fallback for r in t.rows)
    assert t.definitions == {} and t.symbolic_outputs is None
    assert t.rows and t.outputs == ((1, 64, 7, 7),)


# ---------------------------------------------------------------------------- fallbacks


def test_safm_adaptive_pool_is_marked_as_fallback():
    block = post_block("04_safm", "SAFM", dim=36)
    t = trace(block, (1, 36, 224, 224))
    pools = [r for r in t.rows if r.op == "adaptive_max_pool2d"]
    assert len(pools) == 3 and all(r.fallback for r in pools)
    assert [r.symbolic for r in pools] == ["(B, C/n, H//2, W//2)", "(B, C/n, H//4, W//4)", "(B, C/n, H//8, W//8)"]
    assert [r.output for r in pools] == [(1, 9, 112, 112), (1, 9, 56, 56), (1, 9, 28, 28)]
    assert not any(r.fallback for r in t.rows if r.op in ("chunk", "Conv2d", "cat"))
    text = str(t)
    for r in pools:
        line = next(x for x in text.splitlines() if x.startswith(r.symbolic))
        assert "†" in line
    assert "† this op refuses symbolic sizes" in text
    page = t._repr_html_()
    assert page.count("fallback: this op refuses symbolic sizes") == sum(r.fallback for r in t.rows)
    assert_symbols_evaluate(t)


def test_fusionlab_safm_adaptive_pool_falls_back_at_an_odd_size():
    # 9 × 9: the levels pool to 4 × 4, 2 × 2 and 1 × 1 (floor division)
    t = trace(BLOCKS["safm"].build(), (2, 36, 9, 9))
    adaptive = [r for r in t.rows if r.op == "adaptive_max_pool2d"]
    assert adaptive and all(r.fallback for r in adaptive)
    assert [r.output[-2:] for r in adaptive] == [(9 // 2, 9 // 2), (9 // 4, 9 // 4), (9 // 8, 9 // 8)]
    assert real_output_shapes(BLOCKS["safm"].build(), (torch.randn(2, 36, 9, 9),)) == list(t.outputs)
    assert_symbols_evaluate(t)


# ---------------------------------------------------------------------------- meta execution


def test_a_huge_shape_allocates_nothing():
    shape = (8, 1024, 1024, 256)  # 8 GiB per input as float32
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t = trace(GatedFusion(256), shape, shape, names="B H W C")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"tracing grew the peak memory by {grown_mib:.0f} MiB"
    assert t.outputs == (shape,) and all(r.output == shape for r in t.rows)
    assert t.rows[0].symbolic == "(B, H, W, C)"


def test_real_tensors_are_not_read_and_the_module_is_untouched():
    block = BLOCKS["osra"].build()  # train mode, BatchNorm buffers
    block.train()
    state = {k: v.clone() for k, v in block.state_dict().items()}
    x = torch.randn(1, 64, 7, 7)
    from_tensor = trace(block, x)
    from_shape = trace(block, (1, 64, 7, 7))
    assert [(r.step, r.output, r.symbolic) for r in from_tensor.rows] == \
        [(r.step, r.output, r.symbolic) for r in from_shape.rows]
    assert block.training and all(m.training for m in block.modules())
    assert all(torch.equal(state[k], v) for k, v in block.state_dict().items())
    assert "forward" not in vars(block.sr[1])  # the fast shape-keeping forward is removed again


def test_the_parameters_dtype_is_respected():
    class NeedsSameDtype(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 3)

        def forward(self, x):
            if x.dtype != self.proj.weight.dtype:
                raise TypeError(f"got {x.dtype}, weights are {self.proj.weight.dtype}")
            return self.proj(x)

    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        t = trace(NeedsSameDtype().to(dtype), (2, 5, 4))
        assert t.outputs == ((2, 5, 3),) and t.rows[0].step == "proj Linear"


def test_a_block_refusing_the_shape_raises_its_own_error():
    with pytest.raises(ValueError, match="C = dim = 64"):
        trace(GatedFusion(64), (1, 64, 7, 7), (1, 64, 7, 7))


# ---------------------------------------------------------------------------- names


def test_names_as_string_sequence_and_mapping():
    block = GatedFusion(8)
    shape = (2, 3, 4, 8)
    for names in ("B N T C", ["B N T C", "B N T C"], {"x1": "B N T C", "x2": "B N T C"}):
        t = trace(block, shape, shape, names=names)
        assert t.rows[-1].symbolic == "(B, N, T, C)"
    with pytest.raises(ValueError, match="names 'B C' for input x1 has 2 dimension name"):
        trace(block, shape, shape, names="B C")
    with pytest.raises(ValueError, match="unknown input name"):
        trace(block, shape, shape, names={"y": "B N T C"})


def test_generic_names_for_an_unregistered_module():
    t = trace(nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Flatten()), (2, 3, 9, 9))
    assert t.dims == {"input": "B C H W"}
    assert [r.step for r in t.rows] == ["0 Conv2d", "1 ReLU", "2 Flatten"]
    assert t.rows[0].symbolic == "(B, 8, H', W')" and t.definitions["H'"] == "⌊(H − 3)/2⌋ + 1"
    assert t.rows[-1].output == (2, 8 * 4 * 4)
    assert_symbols_evaluate(t)


def test_one_name_with_two_sizes_gets_a_subscript():
    class Pair(nn.Module):
        def forward(self, a, b):
            return torch.cat([a, b], dim=2)

    t = trace(Pair(), (2, 3, 5, 7), (2, 3, 4, 7))
    assert t.dims == {"a": "B C H W", "b": "B C H₂ W"}
    assert t.rows[0].symbolic == "(B, C, H + H₂, W)" and t.rows[0].output == (2, 3, 9, 7)


# ---------------------------------------------------------------------------- renderers


def test_text_and_html_show_every_row():
    t = trace(post_block("05_osra_attention", "OSRAttention", dim=64), (1, 64, 7, 7))
    text, page = str(t), t._repr_html_()
    assert "<table>" in page and "<th style='text-align:left'>symbolic</th>" in page
    for r in t.rows:
        assert isinstance(r, TraceRow)
        concrete = " ; ".join(fmt_shape(o) for o in r.outputs)
        assert r.symbolic in text and concrete in text and r.step in text
        assert html.escape(r.symbolic) in page and html.escape(concrete) in page
        assert html.escape(r.step) in page and html.escape(r.where) in page
    for name, definition in t.definitions.items():
        assert f"{name} = {definition}" in text and html.escape(f"{name} = {definition}") in page
    assert repr(t).startswith("<Trace of OSRAttention: ")


def test_arrows_in_the_posts_style():
    t = trace(post_block("02_msf_selective_fusion", "MSFblock", in_channels=3), *BLOCKS["msf"].shapes())
    # the post's comment: (B,C,H,W)-->GAP-->(B,C,1,1)-->SE1-->(B,C,1,1)
    assert t.arrows(rows=slice(1, 3)) == "(B,C,H,W) --gap--> (B,C,1,1) --SE1--> (B,C,1,1)"
    assert t.arrows(rows=slice(1, 3), symbolic=False) == "(4,3,2,2) --gap--> (4,3,1,1) --SE1--> (4,3,1,1)"
    chain = t.arrows()
    assert chain.startswith("(B,C,H,W) --gap--> (B,C,1,1)") and chain.count("-->") == len(t.rows)
    assert chain.endswith("--project.2--> (B,C,H,W)")
    assert t.arrows(wrap=5).count("\n") == (len(t.rows) - 1) // 5


# ---------------------------------------------------------------------------- every registered block


def _configs(spec, k: int = 4) -> list[tuple[dict, dict]]:
    """The defaults, the smallest and largest sizes, and random picks from the registry's choices."""
    rng = random.Random(spec.name)
    sizes_choices = {d: list(spec.choices.get(d, [v])) for d, v in spec.sizes.items()}
    hp_choices = {h: list(spec.choices.get(h, [v])) for h, v in spec.hparams.items()}
    out = [({}, {}), ({d: c[0] for d, c in sizes_choices.items()}, {}),
           ({d: c[-1] for d, c in sizes_choices.items() if not d.startswith("B")}, {})]
    for _ in range(k):
        out.append(({d: rng.choice(c) for d, c in sizes_choices.items()},
                    {h: rng.choice(c) for h, c in hp_choices.items()}))
    return out


def _valid(spec, sizes, hparams) -> bool:
    """Does the block itself accept this combination (built and run on meta, eval mode)?"""
    try:
        block = spec.build(sizes=sizes, **hparams).to("meta").eval()
        with torch.no_grad():
            block(*spec.example_inputs(sizes, device="meta"))
        return True
    except (ValueError, TypeError, RuntimeError):
        return False


@pytest.mark.parametrize("name", list(BLOCKS))
def test_never_raises_on_a_registered_block(name):
    spec = BLOCKS[name]
    traced = 0
    for sizes, hparams in _configs(spec):
        if not _valid(spec, sizes, hparams):
            continue
        block = spec.build(sizes=sizes, **hparams)
        shapes = spec.shapes(sizes)
        t = trace(block, *shapes)
        traced += 1
        assert t.rows, f"{name} {sizes} {hparams}: no steps"
        meta = block.to("meta").eval()
        with torch.no_grad():
            out = meta(*spec.example_inputs(sizes, device="meta"))
        outs = out if isinstance(out, tuple) else (out,)
        assert list(t.outputs) == [tuple(o.shape) for o in outs]
        assert sum(r.symbolic is not None for r in t.rows) >= len(t.rows) // 2, t.note
        assert_symbols_evaluate(t)
        str(t), t._repr_html_(), t.arrows()
    assert traced >= 3, f"{name}: fewer than 3 valid configurations traced"


def test_package_trace_names_a_registered_block_by_the_registry():
    """fusionlab.trace gives a registered block (and the post's class of the same name) the registry's
    dimension names; the generic fusionlab.tracing.trace names by rank."""
    import fusionlab
    from fusionlab import tracing

    block = fusionlab.GatedFusion(8)
    shapes = ((2, 4, 5, 8), (2, 4, 5, 8))  # channels last: (B, H, W, C)
    assert fusionlab.trace(block, *shapes).rows[-1].symbolic == "(B, H, W, C)"
    assert tracing.trace(block, *shapes).rows[-1].symbolic == "(B, C, H, W)"  # by rank: the caller must name
    post_like = type("gatedFusion", (fusionlab.GatedFusion,), {})(8)
    assert fusionlab.trace(post_like, *shapes).rows[-1].symbolic == "(B, H, W, C)"
    assert fusionlab.trace(block, *shapes, names="B T N C").rows[-1].symbolic == "(B, T, N, C)"
