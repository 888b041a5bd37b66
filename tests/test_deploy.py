"""Deployment paths for every registry block: a graph traced or exported at one batch size runs at
another and equals eager; autocast runs forward and backward; TorchScript scripting is unsupported
(and says so in the docstrings and the README).

Sizes are small (each block's smallest choices ≥ 4), so the file stays fast on one thread.
"""
from __future__ import annotations

import io
import inspect
import re
import warnings
from pathlib import Path

import pytest
import torch

from fusionlab import BLOCKS, SAFM
from fusionlab.blocks.osra import OSRAttention

pytestmark = [pytest.mark.usefixtures("single_thread"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                         "ignore::FutureWarning", "ignore::torch.jit.TracerWarning")]

README = Path(__file__).resolve().parents[1] / "README.md"
TRACE_BATCH, RUN_BATCH = 2, 3

# every registry block; OSRA once more with row blocking forced on (64 bytes: one query row per block)
CASES = [pytest.param(name, {}, id=name) for name in BLOCKS] + [
    pytest.param("osra", {"max_attn_bytes": 64}, id="osra-row-blocks")]


def small_sizes(spec) -> dict:
    sizes = {}
    for dim in spec.dims:
        values = sorted(spec.choices.get(dim, (spec.sizes[dim],)))
        floor = TRACE_BATCH if dim == "B" else 4
        sizes[dim] = next((v for v in values if v >= floor), values[-1])
    return sizes


def setup(name: str, attrs: dict):
    """(block in eval mode, inputs at TRACE_BATCH, inputs at RUN_BATCH, eager outputs at RUN_BATCH)."""
    spec = BLOCKS[name]
    sizes = small_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes).eval()
    for key, value in attrs.items():
        setattr(block, key, value)
    traced_at = spec.example_inputs(sizes)
    run_at = spec.example_inputs({**sizes, "B": RUN_BATCH}, seed=1)
    if isinstance(block, OSRAttention) and attrs:
        # the row blocking is really active in eager at both batch sizes
        h, w = sizes["H"], sizes["W"]
        keys = block.reduced_size(h, w)[0] * block.reduced_size(h, w)[1]
        assert block.max_attn_bytes < TRACE_BATCH * block.num_heads * keys * 4 * h * w
    with torch.no_grad():
        expected = as_tuple(block(*run_at))
    return block, traced_at, run_at, expected


def as_tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def assert_equal_outputs(got, expected) -> None:
    got = as_tuple(got)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.shape[0] == RUN_BATCH
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-4)


def dynamic_batch(inputs) -> tuple:
    batch = torch.export.Dim("batch")
    return tuple({0: batch} for _ in inputs)


@pytest.mark.parametrize("name,attrs", CASES)
def test_export_with_a_dynamic_batch_runs_at_another_batch(name, attrs):
    block, traced_at, run_at, expected = setup(name, attrs)
    program = torch.export.export(block, traced_at, dynamic_shapes=dynamic_batch(traced_at))
    with torch.no_grad():
        assert_equal_outputs(program.module()(*run_at), expected)


@pytest.mark.parametrize("name,attrs", CASES)
def test_jit_trace_runs_at_another_batch(name, attrs):
    block, traced_at, run_at, expected = setup(name, attrs)
    with torch.no_grad():
        traced = torch.jit.trace(block, traced_at)
        assert_equal_outputs(traced(*run_at), expected)


def onnxruntime_outputs(model: bytes, inputs) -> tuple:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return tuple(torch.from_numpy(o) for o in session.run(None, {n: x.numpy() for n, x in zip(names, inputs)}))


@pytest.mark.parametrize("name,attrs", CASES)
def test_onnx_dynamo_export_runs_in_onnxruntime_at_another_batch(name, attrs):
    pytest.importorskip("onnxscript")
    block, traced_at, run_at, expected = setup(name, attrs)
    program = torch.onnx.export(block, traced_at, dynamo=True, dynamic_shapes=dynamic_batch(traced_at),
                                verbose=False)
    assert_equal_outputs(onnxruntime_outputs(program.model_proto.SerializeToString(), run_at), expected)


def legacy_onnx(block, inputs, axes: dict) -> bytes:
    names = [f"x{i}" for i in range(len(inputs))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(block, inputs, buffer, dynamo=False, input_names=names,
                          dynamic_axes={n: axes for n in names})
    return buffer.getvalue()


@pytest.mark.parametrize("name,attrs", CASES)
def test_legacy_onnx_export_with_a_dynamic_batch_runs_at_another_batch(name, attrs):
    pytest.importorskip("onnx")
    block, traced_at, run_at, expected = setup(name, attrs)
    model = legacy_onnx(block, traced_at, {0: "batch"})
    assert_equal_outputs(onnxruntime_outputs(model, run_at), expected)


def test_safm_export_limits_are_as_documented():
    """SAFM's pooled sizes H // 2^i: jit.trace replays at any H×W; torch.export and both ONNX exporters
    take a dynamic batch (tested above) but refuse a dynamic H or W."""
    torch.manual_seed(0)
    block = SAFM(12).eval()
    small, large = torch.randn(2, 12, 8, 8), torch.randn(3, 12, 16, 12)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.testing.assert_close(torch.jit.trace(block, (small,))(large), block(large))
    height, width = torch.export.Dim("height", min=8), torch.export.Dim("width", min=8)
    with pytest.raises(Exception, match="(?i)constraint"):
        torch.export.export(block, (small,), dynamic_shapes=({2: height, 3: width},))
    pytest.importorskip("onnx")
    with pytest.raises(Exception, match="adaptive_max_pool2d"):
        legacy_onnx(block, (small,), {0: "batch", 2: "height", 3: "width"})
    pytest.importorskip("onnxscript")
    program = torch.onnx.export(block, (small,), dynamo=True, dynamic_shapes=({2: height, 3: width},), verbose=False)
    with pytest.raises(Exception, match="(?i)invalid dimensions"):  # the program kept 8×8
        onnxruntime_outputs(program.model_proto.SerializeToString(), (large,))
    doc = inspect.getdoc(SAFM)
    for statement in ("jit.trace", "dynamic batch", "dynamic H"):
        assert statement in doc, statement


# ------------------------------------------------------------------------------ TorchScript scripting

SCRIPTING_LINE = "TorchScript scripting (torch.jit.script) is not supported"


@pytest.mark.parametrize("name", BLOCKS)
def test_scripting_fails_and_the_docs_say_so(name):
    spec = BLOCKS[name]
    block = spec.build(small_sizes(spec)).eval()
    with pytest.raises(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(block)
    assert SCRIPTING_LINE in plain(inspect.getdoc(spec.cls)), spec.cls.__name__
    deployment = re.search(r"^### Deployment$(.*?)(?=^#)", README.read_text(encoding="utf-8"), re.M | re.S)
    assert deployment, "README.md has no '### Deployment' subsection"
    assert SCRIPTING_LINE in plain(deployment.group(1))


def plain(text: str) -> str:
    """Markdown or reST without its code and emphasis marks, on one line."""
    return " ".join(re.sub(r"[`*]", "", text).split())


# ------------------------------------------------------------------------------ autocast


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", BLOCKS)
def test_autocast_forward_and_backward_are_finite(name, dtype):
    spec = BLOCKS[name]
    sizes = small_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes).train()
    inputs = tuple(x.requires_grad_() for x in spec.example_inputs(sizes))
    with torch.autocast("cpu", dtype=dtype):
        outputs = as_tuple(block(*inputs))
    sum(o.float().sum() for o in outputs).backward()
    for o in outputs:
        assert torch.isfinite(o).all()
    for t in (*inputs, *block.parameters()):
        assert t.grad is not None and torch.isfinite(t.grad).all()
