"""fusionlab.graph: the torchviz graph, with and without Graphviz's dot program."""
import shutil

import pytest
import torch
from torch import nn

import fusionlab
import fusionlab.graph as graph_module
from fusionlab import BLOCKS
from fusionlab.graph import INSTALL_DOT, GraphvizMissing, autograd_graph, output_sum

SIZES = {"B": 1, "H": 3, "W": 3, "C": 4}


def _gated():
    spec = BLOCKS["gated_fusion"]
    return spec, spec.build(sizes=SIZES)


def test_without_dot_returns_a_note_and_carries_on(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    spec, block = _gated()
    result = autograd_graph(block, *spec.shapes(SIZES), names=list(spec.inputs))
    assert isinstance(result, GraphvizMissing)
    text = str(result)
    assert text == INSTALL_DOT and text.count(". ") == 0, "one sentence"
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in text
    assert "apt-get install graphviz" in result._repr_html_()
    # the graph itself was still built: its DOT text names the parameters and inputs
    assert "fc1.weight" in result.digraph.source and "x2" in result.digraph.source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_with_dot_returns_a_renderable_digraph():
    import graphviz

    spec, block = _gated()
    g = autograd_graph(block, *spec.shapes(SIZES), names=list(spec.inputs))
    assert isinstance(g, graphviz.Digraph)
    for label in ("fc1.weight", "fc1.bias", "fc2.weight", "x1", "x2", "SigmoidBackward0"):
        assert label in g.source
    svg = g.pipe(format="svg").decode()
    assert svg.lstrip().startswith("<?xml") and "fc2.weight" in svg


def test_real_weights_are_not_touched(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    spec, block = _gated()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    x1, x2 = spec.example_inputs(SIZES)
    autograd_graph(block, x1, x2)
    assert all(p.grad is None for p in block.parameters()) and x1.grad is None and not x1.requires_grad
    assert all(torch.equal(before[k], v) for k, v in block.state_dict().items())


def test_paper_variant_graph_has_the_projection(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    spec = BLOCKS["gated_fusion"]
    blog = autograd_graph(spec.build(sizes=SIZES), *spec.shapes(SIZES)).digraph.source
    paper = autograd_graph(spec.build(sizes=SIZES, variant="paper"), *spec.shapes(SIZES)).digraph.source
    assert "proj.0.weight" in paper and "proj.0.weight" not in blog
    assert "fc1.bias" in blog and "fc1.bias" not in paper


def test_tuple_outputs_and_errors(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x), {"b": self.b(x)}

    source = autograd_graph(Two(), (2, 3)).digraph.source
    assert "a.weight" in source and "b.weight" in source
    assert output_sum((torch.ones(2), [torch.ones(3)])).item() == 5.0
    with pytest.raises(ValueError, match="1 inputs but 2 names"):
        autograd_graph(nn.Linear(3, 3), (2, 3), names=["x", "y"])
    with pytest.raises(TypeError, match="holds no tensor"):
        output_sum([1, 2])


def test_default_input_labels_are_forwards_argument_names():
    from fusionlab.graph import _argument_names

    assert _argument_names(fusionlab.GatedFusion(4), 2) == ["x1", "x2"]  # not x0, x1: x1 would name the second input
    assert _argument_names(fusionlab.MSFBlock(4), 4) == ["x0", "x1", "x2", "x3"]
    assert _argument_names(torch.nn.Identity(), 3) == ["x0", "x1", "x2"]  # forward(input): too few names
