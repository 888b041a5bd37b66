"""Properties every registered block must have, whatever its configuration: the documented output
shape, finite and deterministic outputs, correct gradients, and it runs under torch.compile, on
the meta device, in float64 and bfloat16, on CUDA when present, and through torch.export."""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusionlab import BLOCKS, OSRAttention

pytestmark = pytest.mark.usefixtures("single_thread")


def variants_of(name):
    """The default config and each alternative value of every categorical string hyperparameter."""
    spec = BLOCKS[name]
    out = [{}]
    for key, values in spec.choices.items():
        if key in spec.hparams and isinstance(values, tuple) and all(isinstance(v, str) for v in values):
            out += [{key: v} for v in values if v != spec.hparams[key]]
    return out


CASES = [pytest.param(name, hp, id="-".join([name, *map(str, hp.values())])) for name in BLOCKS for hp in variants_of(name)]


@pytest.mark.parametrize("name", BLOCKS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_output_shape_finite_and_deterministic_in_eval_mode(name, data, configs, as_tuple):
    spec = BLOCKS[name]
    sizes, hparams = data.draw(configs(spec))
    expected = spec.output_shapes(sizes, **hparams)  # the registry's documented output shapes
    block = spec.build(sizes, **hparams).eval()
    inputs = spec.example_inputs(sizes, seed=data.draw(st.integers(0, 99)))
    first, second = as_tuple(block(*inputs)), as_tuple(block(*inputs))
    assert tuple(tuple(o.shape) for o in first) == expected
    assert all(torch.isfinite(o).all() for o in first)
    assert all(torch.equal(a, b) for a, b in zip(first, second)), "eval mode must be deterministic"
    if sizes["B"] >= 2:  # training-mode BatchNorm needs more than one value per channel
        trained = as_tuple(block.train()(*inputs))
        assert tuple(tuple(o.shape) for o in trained) == expected
        assert all(torch.isfinite(o).all() for o in trained)


@pytest.mark.parametrize("name,hparams", CASES)
def test_gradcheck_in_float64(name, hparams, tiny_sizes):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes, **hparams).double().eval()
    inputs = tuple(x.requires_grad_() for x in spec.example_inputs(sizes, dtype=torch.float64))
    assert torch.autograd.gradcheck(block, inputs, fast_mode=True)


def test_osra_gradcheck_through_the_position_bias_and_row_blocks():
    torch.manual_seed(0)
    block = OSRAttention(8, num_heads=2, sr_ratio=2, max_attn_bytes=2 * 4 * 8 * 3).double().eval()  # 3 rows per block
    x = torch.randn(1, 8, 3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(1, 2, 5, 3, dtype=torch.float64, requires_grad=True)  # resized to (12, 4)
    assert torch.autograd.gradcheck(block, (x, bias), fast_mode=True)


@pytest.mark.parametrize("name,hparams", CASES)
def test_every_parameter_receives_a_gradient(name, hparams, tiny_sizes, as_tuple):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes, **hparams).eval()
    outputs = as_tuple(block(*spec.example_inputs(sizes)))
    # a weighted sum, so that no gradient cancels by symmetry
    sum((o * torch.randn_like(o)).sum() for o in outputs).backward()
    missing = [n for n, p in block.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", BLOCKS)
def test_torch_compile_fullgraph_matches_eager(name, tiny_sizes, as_tuple):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes).eval()
    inputs = spec.example_inputs(sizes)
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True)
    with torch.no_grad():
        for got, expected in zip(as_tuple(compiled(*inputs)), as_tuple(block(*inputs))):
            torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", BLOCKS)
def test_torch_export_matches_eager(name, tiny_sizes, as_tuple):
    """Every block exports for fixed input sizes (dynamic sizes: see SAFM's docstring)."""
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes).eval()
    inputs = spec.example_inputs(sizes)
    exported = torch.export.export(block, inputs)
    for got, expected in zip(as_tuple(exported.module()(*inputs)), as_tuple(block(*inputs))):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name,hparams", CASES)
def test_runs_on_the_meta_device(name, hparams, tiny_sizes, as_tuple):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    block = spec.build(sizes, **hparams).to("meta")
    inputs = spec.example_inputs(sizes, device="meta")
    for training in (True, False):
        outputs = as_tuple(block.train(training)(*inputs))
        assert all(o.device.type == "meta" for o in outputs)
        assert tuple(tuple(o.shape) for o in outputs) == spec.output_shapes(sizes, **hparams)


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-5), (torch.bfloat16, 0.03)], ids=["float64", "bfloat16"])
@pytest.mark.parametrize("name,hparams", CASES)
def test_other_dtypes_agree_with_float32(name, hparams, dtype, tolerance, tiny_sizes, as_tuple):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes, **hparams).eval()
    inputs = spec.example_inputs(sizes)
    expected = as_tuple(block(*inputs))
    converted = copy.deepcopy(block).to(dtype)
    got = as_tuple(converted(*(x.to(dtype) for x in inputs)))
    for g, e in zip(got, expected):
        assert g.dtype == dtype and torch.isfinite(g).all()
        torch.testing.assert_close(g.float(), e, atol=tolerance, rtol=tolerance)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name,hparams", CASES)
def test_cuda_agrees_with_cpu(name, hparams, tiny_sizes, as_tuple):
    spec = BLOCKS[name]
    sizes = tiny_sizes(spec)
    torch.manual_seed(0)
    block = spec.build(sizes, **hparams).eval()
    inputs = spec.example_inputs(sizes)
    expected = as_tuple(block(*inputs))
    got = as_tuple(copy.deepcopy(block).cuda()(*(x.cuda() for x in inputs)))
    for g, e in zip(got, expected):
        assert g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), e, atol=1e-4, rtol=1e-4)


def test_osra_exported_program_keeps_its_row_blocks():
    """torch.export traces with fake tensors; the program must still respect max_attn_bytes."""
    block = OSRAttention(16, num_heads=4, sr_ratio=1, max_attn_bytes=4 * 64 * 4 * 16).eval()  # 16 of 64 rows
    x = torch.randn(1, 16, 8, 8)
    exported = torch.export.export(block, (x,))
    calls = [n for n in exported.graph.nodes if "scaled_dot_product" in str(n.target)]
    assert len(calls) == 4
    torch.testing.assert_close(exported.module()(x), block(x))
