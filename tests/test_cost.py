"""fusionlab.costs: parameter and FLOP counts checked against hand-computed values."""
import importlib

import pytest
import torch
from torch import nn

import fusionlab
from fusionlab import BLOCKS
from fusionlab import costs
from fusionlab.costs import FLOPS_NOTE, Cost, cost, count_buffers, count_flops, count_params, cpu_latency
from fusionlab.widgets import cost_growth


class RecordDevice(nn.Module):
    """Linear layer that remembers the device of the tensors it ran on."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.device.type)
        return self.lin(x)


class ReadsValues(nn.Module):
    """Branches on a tensor value, which the meta device cannot provide."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)

    def forward(self, x):
        scale = 2.0 if x.abs().sum().item() > 0 else 1.0
        return self.lin(x) * scale


def test_exported_names_are_the_functions():
    fusionlab.count_params  # imports the submodule fusionlab.costs first
    assert fusionlab.cost is cost and callable(fusionlab.cost)
    assert fusionlab.count_flops is count_flops and fusionlab.cpu_latency is cpu_latency
    assert fusionlab.cost_growth is cost_growth
    course = importlib.import_module("fusionlab.course")
    assert callable(fusionlab.trace) and fusionlab.trace is course.trace  # no module is named trace
    assert not hasattr(fusionlab, "tracing") or not callable(fusionlab.tracing)


def test_generic_tools_never_import_the_registry():
    import subprocess
    import sys

    code = ("import sys, fusionlab.costs, fusionlab.tracing, fusionlab.graph\n"
            "bad = [m for m in ('fusionlab.registry', 'fusionlab.original') if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cpu_latency_keeps_a_frozen_batchnorm_frozen():
    # a BatchNorm frozen in eval mode inside a training model: module.train(was_training) would un-freeze it
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    net[1].eval()
    cpu_latency(net, (2, 3, 8, 8), min_run_time=0.01)
    count_flops(net, (2, 3, 8, 8))
    cost(net, (2, 3, 8, 8), latency=True, min_run_time=0.01)
    assert net.training and net[0].training and not net[1].training


def test_count_params_by_hand():
    lin = nn.Linear(8, 4)
    assert count_params(lin) == 8 * 4 + 4
    lin.bias.requires_grad_(False)
    assert count_params(lin, trainable_only=True) == 32
    assert count_params(lin) == 36


def test_shared_parameters_counted_once_and_buffers_separately():
    lin = nn.Linear(5, 5)
    shared = nn.Sequential(lin, nn.ReLU(), lin)
    assert count_params(shared) == 30
    bn = nn.BatchNorm2d(4)
    assert count_params(bn) == 8  # weight + bias
    assert count_buffers(bn) == 4 + 4 + 1  # running mean, running var, num_batches_tracked


def test_count_flops_linear_and_conv_by_hand():
    # addmm of (3, 8) @ (8, 4): 3·8·4 multiply–accumulates, 2 FLOPs each
    assert count_flops(nn.Linear(8, 4), (3, 8)) == 2 * 3 * 8 * 4
    # conv 3→5, 3×3, on 8×8 with padding 1: every output pixel is 3·9 MACs per output channel
    assert count_flops(nn.Conv2d(3, 5, 3, padding=1), (1, 3, 8, 8)) == 2 * 5 * 8 * 8 * 3 * 9


def test_elementwise_ops_count_zero():
    assert count_flops(nn.Sequential(nn.ReLU(), nn.Sigmoid(), nn.Softmax(dim=1)), (4, 16, 8, 8)) == 0


def test_tensor_and_shape_inputs_agree_and_run_on_meta():
    block = RecordDevice()
    weight = block.lin.weight.detach().clone()
    assert count_flops(block, torch.randn(2, 8)) == count_flops(block, (2, 8)) == 2 * 2 * 8 * 4
    assert block.seen == ["meta", "meta"], "only meta stand-ins run: no real tensor, no copy of the weights"
    assert block.lin.weight.device.type == "cpu" and torch.equal(block.lin.weight, weight)
    assert block.training, "the caller's mode is kept"


def test_value_reading_module_falls_back_to_real_tensors():
    assert count_flops(ReadsValues(), (3, 8)) == 2 * 3 * 8 * 4


def test_block_errors_propagate_with_the_blocks_message():
    spec = BLOCKS["gated_fusion"]
    block = spec.build(sizes={"C": 8})
    with pytest.raises(ValueError, match="GatedFusion"):
        count_flops(block, (1, 4, 4, 7), (1, 4, 4, 7))


def test_gated_fusion_flops_match_two_linear_layers():
    spec = BLOCKS["gated_fusion"]
    sizes = {"B": 2, "H": 5, "W": 3, "C": 6}
    n = 2 * 5 * 3  # positions; each position goes through fc1 and fc2, C×C MACs each
    assert count_flops(spec.build(sizes=sizes), *spec.shapes(sizes)) == 2 * 2 * n * 6 * 6


def test_cpu_latency_positive_and_restores_mode():
    lin = nn.Linear(8, 4).train()
    seconds = cpu_latency(lin, (16, 8), min_run_time=0.01)
    assert isinstance(seconds, float) and 0 < seconds < 1.0
    assert lin.training


def test_cpu_latency_refuses_meta_module_in_one_sentence():
    with pytest.raises(ValueError, match=r"cpu_latency: .*meta"):
        cpu_latency(nn.Linear(8, 4, device="meta"), (2, 8))


def test_cost_report():
    spec = BLOCKS["gated_fusion"]
    sizes = {"B": 1, "H": 4, "W": 4, "C": 8}
    block = spec.build(sizes=sizes)
    c = cost(block, *spec.shapes(sizes))
    assert isinstance(c, Cost)
    assert c.params == count_params(block) and c.flops == count_flops(block, *spec.shapes(sizes))
    assert c.macs * 2 == c.flops and c.latency is None
    assert c.input_shapes == ((1, 4, 4, 8), (1, 4, 4, 8))
    assert set(c.flops_by_op) == {"aten.addmm"} and sum(c.flops_by_op.values()) == c.flops
    text = str(c)
    assert "GatedFusion on (1, 4, 4, 8), (1, 4, 4, 8)" in text and f"{c.params:,}" in text
    assert FLOPS_NOTE in text and "count 0" in text and "2 × multiply" in text
    page = c._repr_html_()
    assert page.startswith("<table>") and "count 0" in page and "latency" not in page
    timed = cost(block, *spec.shapes(sizes), latency=True, min_run_time=0.01)
    assert timed.latency > 0 and "CPU latency" in str(timed)


def test_cost_growth_gated_fusion_is_linear_in_pixels():
    growth = cost_growth("gated_fusion", sides=(4, 8, 16), sizes={"C": 8})
    assert [r["side"] for r in growth] == [4, 8, 16] and [r["hw"] for r in growth] == [16, 64, 256]
    assert {r["params"] for r in growth} == {count_params(BLOCKS["gated_fusion"].build(sizes={"C": 8}))}
    assert [r["flops"] for r in growth] == [2 * 2 * hw * 8 * 8 for hw in (16, 64, 256)]
    assert all(r["latency"] is None for r in growth)
    assert "H = W" in str(growth) and "<table>" in growth._repr_html_() and growth.sizes == {"B": 1, "C": 8}


def test_cost_growth_with_latency():
    growth = cost_growth("gated_fusion", sides=(4, 8), sizes={"C": 4}, latency=True, min_run_time=0.01)
    assert all(r["latency"] > 0 for r in growth.rows)
    assert "CPU latency" in str(growth)


@pytest.mark.parametrize("name", [n for n, s in BLOCKS.items() if {"H", "W"} <= set(s.dims)])
def test_cost_growth_every_block_flops_grow_with_pixels(name):
    spec = BLOCKS[name]
    sides = [s for s in (16, 32, 64) if s in spec.choices.get("H", [s])]
    growth = cost_growth(spec, sides=sides)
    flops = [r["flops"] for r in growth]
    assert all(a <= b for a, b in zip(flops, flops[1:])), flops
    assert flops[-1] > 0


def test_generic_cost_growth_takes_a_factory():
    growth = costs.cost_growth(lambda s: nn.Conv2d(3, 5, 3, padding=1), lambda s: [(1, 3, s, s)], sides=(4, 8),
                               name="conv", sizes={"C": 3})
    assert [r["flops"] for r in growth] == [2 * 5 * hw * 3 * 9 for hw in (16, 64)]
    assert growth.block == "conv" and "conv: cost as H = W grows (C=3)" in str(growth)


def test_cost_growth_needs_h_and_w():
    from fusionlab.registry import BlockSpec

    spec = BlockSpec(name="vec", cls=nn.Linear, title="t", section=1, heading="h", paper="p", chapter="c",
                     post_class=None, fuses="f", inputs={"x": "B C"}, sizes={"B": 1, "C": 4},
                     tie=lambda s: {"in_features": s["C"], "out_features": s["C"]})
    with pytest.raises(ValueError, match="no H and W"):
        cost_growth(spec)
