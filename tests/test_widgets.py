"""fusionlab.widgets: the block panel, driven without a browser by setting its controls' values."""
import importlib

import ipywidgets
import pytest
from torch import nn

from fusionlab import BLOCKS, block_panel
from fusionlab.costs import count_flops, count_params
from fusionlab.registry import BlockSpec
from fusionlab.widgets import MODES, controls_of, defaults, evaluate, nearest_valid, try_block

# widgets present in both ipywidgets 7 (Colab) and 8
PORTABLE = (ipywidgets.VBox, ipywidgets.HBox, ipywidgets.IntSlider, ipywidgets.Dropdown, ipywidgets.HTML)


class ToyHeads(nn.Module):
    """Splits channels into heads: dim must be divisible by heads (a typical attention constraint)."""

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"ToyHeads: dim ({dim}) must be divisible by heads ({heads}).")
        self.heads = heads
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        return self.proj(x).view(b, self.heads, c // self.heads, h, w).softmax(1).reshape(b, c, h, w)


TOY = BlockSpec(
    name="toy_heads", cls=ToyHeads, title="Toy heads", section=1, heading="toy", paper="none", chapter="none",
    post_class=None, fuses="channels", inputs={"x": "B C H W"}, sizes={"B": 1, "C": 8, "H": 4, "W": 4},
    hparams={"heads": 2}, choices={"B": range(1, 3), "C": range(1, 17), "H": range(1, 9), "W": range(1, 9),
                                   "heads": (2, 4, 8)},
    tie=lambda s: {"dim": s["C"]},
)


def _widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _widgets(child)


def _other_choice(options, value):
    """A choice next to ``value`` (the next one up, else the one below)."""
    options = list(options)
    i = options.index(value)
    return options[i + 1] if i + 1 < len(options) else options[i - 1]


def test_panel_uses_only_widgets_of_ipywidgets_7_and_8():
    panel = block_panel("gated_fusion", H=8, W=8, C=16)
    assert isinstance(panel, ipywidgets.VBox)
    assert all(isinstance(w, PORTABLE) for w in _widgets(panel))
    sliders = [c for c in panel.controls.values() if isinstance(c, ipywidgets.IntSlider)]
    assert sliders and all(s.continuous_update is False for s in sliders)
    assert set(panel.controls) == {"B", "H", "W", "C", "variant", "mode"}
    assert isinstance(panel.controls["variant"], ipywidgets.Dropdown)


def test_gated_fusion_panel_redraws_when_a_slider_moves():
    panel = block_panel("gated_fusion", H=8, W=8, C=16)
    first = panel.output.value
    assert panel.state.ok and "GatedFusion(dim=16, variant=&#x27;blog&#x27;)" in first
    assert panel.state.cost.params == 2 * (16 * 16 + 16)
    panel.controls["C"].value = 32
    assert panel.state.changed == "C" and panel.state.values["C"] == 32
    assert panel.state.cost.params == 2 * (32 * 32 + 32)
    assert panel.state.cost.input_shapes == ((1, 8, 8, 32), (1, 8, 8, 32))
    assert panel.state.cost.flops == 2 * 2 * 64 * 32 * 32
    assert "32" in str(panel.state.trace) and panel.output.value != first
    panel.controls["variant"].value = "paper"
    assert "variant='paper'" in panel.state.call
    assert panel.state.cost.params == (32 * 32) + (32 * 32 + 32) + 2 * (32 * 32 + 32)  # fc1 has no bias


@pytest.mark.parametrize("name", BLOCKS)
def test_every_control_of_every_block_redraws(name):
    spec = BLOCKS[name]
    panel = block_panel(name)
    assert panel.state.ok, panel.state.error
    assert panel.state.trace is not None and panel.state.cost is not None
    # the panel's counts are fusionlab.costs' counts of a real block
    real = spec.build()
    assert panel.state.cost.params == count_params(real)
    assert panel.state.cost.flops == count_flops(real, *spec.shapes()) > 0
    assert set(panel.controls) == set(controls_of(spec)) and set(spec.dims) <= set(panel.controls)
    for control_name, control in panel.controls.items():
        before = panel.output.value
        new = _other_choice(controls_of(spec)[control_name], control.value)
        control.value = new
        state = panel.state
        assert state.values[control_name] == new and state.changed == control_name
        assert panel.output.value != before, f"moving {control_name} to {new!r} left the panel unchanged"
        assert "Traceback" not in panel.output.value
        if not state.ok:
            continue  # an invalid move is covered by the tests below
        sizes = {d: state.values[d] for d in spec.sizes}
        assert state.cost.input_shapes == spec.shapes(sizes)
        if control_name in spec.hparams:
            assert f"{control_name}={new!r}" in state.call
        if control_name == "mode":
            assert f"{new} mode" in panel.output.value


def _candidates(options, value):
    """A few values of a control worth trying: its ends and its neighbours."""
    options = list(options)
    i = options.index(value) if value in options else 0
    picks = [0, 1, len(options) - 1, i - 1, i + 1] if len(options) > 8 else range(len(options))
    return [options[j] for j in sorted({j for j in picks if 0 <= j < len(options)}) if options[j] != value]


def _invalid_single_move(spec):
    """A valid starting point and one control move the block refuses, if the registry's choices offer one.

    Starting points: the defaults, and the smallest batch and map in training mode with one of
    B, H, W one step up (where BatchNorm has the fewest values to normalise over).
    """
    choices = controls_of(spec)
    small = [d for d in ("B", "H", "W") if d in choices]
    bases = [defaults(spec)]
    for d in small:
        base = {**defaults(spec), "mode": "train", **{e: min(choices[e]) for e in small}}
        base[d] = sorted(choices[d])[1]
        bases.append(base)
    for base in bases:
        if try_block(spec, base) is not None:
            continue
        for name, options in choices.items():
            for option in _candidates(options, base[name]):
                if try_block(spec, {**base, name: option}) is not None:
                    return base, name, option
    return None


def _assert_refusal_shown(spec, state, changed):
    assert not state.ok and state.trace is None
    assert state.error == try_block(spec, state.values), "the block's own message"
    assert "Traceback" not in state.error and "\n" not in state.error
    assert state.suggestions, "nearest valid values are offered"
    for fix in state.suggestions:
        assert try_block(spec, {**state.values, **fix}) is None, f"suggestion {fix} does not work"
    if changed in state.suggestions[0]:
        # nothing strictly between the refused value and the suggestion works
        options = list(controls_of(spec).get(changed, ()))
        now, fix = state.values[changed], state.suggestions[0][changed]
        if all(isinstance(o, int) for o in options) and isinstance(now, int):
            between = [o for o in options if min(now, fix) < o < max(now, fix)]
            assert all(try_block(spec, {**state.values, changed: o}) for o in between)


@pytest.mark.parametrize("name", BLOCKS)
def test_invalid_slider_move_shows_a_sentence_and_working_values(name):
    spec = BLOCKS[name]
    found = _invalid_single_move(spec)
    if found is None:
        pytest.skip(f"every single move the registry offers for {name} builds and runs")
    base, moved, bad = found
    panel = block_panel(name, **base)
    assert panel.state.ok
    panel.controls[moved].value = bad
    _assert_refusal_shown(spec, panel.state, moved)
    html = panel.output.value
    assert "Not valid:" in html and "Nearest values that work" in html and "Traceback" not in html
    # applying the first suggestion through the controls brings the panel back
    for key, value in panel.state.suggestions[0].items():
        panel.controls[key].value = value
    assert panel.state.ok and panel.state.trace is not None


@pytest.mark.parametrize("name", BLOCKS)
def test_out_of_range_size_is_refused_with_working_suggestions(name):
    spec = BLOCKS[name]
    for dim in spec.dims:
        values = {**defaults(spec), dim: 0}
        if try_block(spec, values) is not None:
            break
    else:
        pytest.fail(f"{name} accepts 0 for every dimension")
    state = evaluate(spec, values, changed=dim)
    _assert_refusal_shown(spec, state, dim)
    smallest_valid = next(o for o in sorted(controls_of(spec)[dim]) if try_block(spec, {**values, dim: o}) is None)
    assert state.suggestions[0] == {dim: smallest_valid}


def test_toy_panel_suggests_the_nearest_divisor_and_then_other_controls():
    panel = block_panel(TOY, C=6, heads=2)
    panel.controls["heads"].value = 4
    state = panel.state
    assert state.error == "ToyHeads: dim (6) must be divisible by heads (4)."
    assert state.suggestions == [{"heads": 2}]  # 8 does not divide 6 either
    assert "heads = 2" in panel.output.value
    panel.controls["heads"].value = 2
    assert panel.state.ok
    panel.controls["C"].value = 7  # prime: no value of heads works, so C itself must move
    assert panel.state.suggestions == [{"C": 6}, {"C": 8}]
    panel.controls["heads"].value = 4  # C = 7 kept, heads moved: no heads works, C must change
    assert panel.state.suggestions[:2] == [{"C": 4}, {"C": 8}]
    assert all(try_block(TOY, {**panel.state.values, **s}) is None for s in panel.state.suggestions)


def test_training_mode_batchnorm_refusal_suggests_eval_or_bigger_batch():
    candidates = [n for n in BLOCKS if try_block(n, {**defaults(n), "B": 1, "H": 1, "W": 1, "mode": "train"})]
    if not candidates:
        pytest.skip("no registered block refuses a 1×1 map of batch 1 in training mode")
    name = candidates[0]
    values = {**defaults(name), "B": 1, "H": 1, "W": 1, "mode": "train"}
    suggestions = nearest_valid(name, values, "mode")
    assert suggestions[0] == {"mode": "eval"}
    assert try_block(name, {**values, "mode": "eval"}) is None


def test_only_shows_the_chosen_controls():
    panel = block_panel("gated_fusion", only=("C",), H=4, W=4)
    assert list(panel.controls) == ["C"]
    assert "Fixed: B = 1, H = 4, W = 4, variant = &#x27;blog&#x27;, mode = &#x27;train&#x27;." in panel.children[0].value
    panel.controls["C"].value = 3
    assert panel.state.values == {"B": 1, "H": 4, "W": 4, "C": 3, "variant": "blog", "mode": "train"}


def test_panel_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown name"):
        block_panel("gated_fusion", D=3)
    with pytest.raises(ValueError, match="not among its choices"):
        block_panel("gated_fusion", C=1000)
    with pytest.raises(ValueError, match="has no choices for D"):
        block_panel("gated_fusion", only=("D",))
    with pytest.raises(ValueError, match="unknown block 'nope'"):
        block_panel("nope")
    assert MODES == ("train", "eval")


def test_a_failing_symbolic_trace_falls_back_to_numbers(monkeypatch):
    # the module that defines ``fusionlab.trace``
    trace_module = importlib.import_module("fusionlab.tracing")
    real = trace_module.trace

    def symbolic_fails(module, *inputs, names=None, symbolic=True):
        if symbolic:
            raise RuntimeError("no symbolic shapes here")
        return real(module, *inputs, names=names, symbolic=False)

    monkeypatch.setattr(trace_module, "trace", symbolic_fails)
    state = evaluate("gated_fusion", {"H": 4, "W": 4, "C": 8})
    assert state.ok and state.trace is not None
    assert "symbolic trace failed" in state.trace_note and "no symbolic shapes here" in state.trace_note
    assert state.cost.params == 2 * (8 * 8 + 8)


def test_a_value_dependent_trace_shows_the_rows_before_and_its_sentence(monkeypatch):
    trace_module = importlib.import_module("fusionlab.tracing")
    real = trace_module.trace

    def stops(module, *inputs, names=None, symbolic=True):
        partial = real(module, *inputs, names=names, symbolic=symbolic)
        raise trace_module.TraceError("trace: item() reads a tensor's values (here).", partial)

    monkeypatch.setattr(trace_module, "trace", stops)
    state = evaluate("gated_fusion", {"H": 4, "W": 4, "C": 8})
    assert state.ok and state.trace is not None and state.trace.rows
    assert state.trace_note == "trace: item() reads a tensor's values (here)."
