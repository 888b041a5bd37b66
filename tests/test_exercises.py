"""fusionlab.exercises: every solution passes, typical mistakes fail with their cause, check never
raises, and every concept question's right answer is confirmed by a computation on the package's blocks."""
import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fusionlab.exercises as exercises
from fusionlab import BLOCKS, CBAM, MFEBlock, MSAA, OSRAttention, SAFM, CBAMBlock, GatedFusion
from fusionlab.blocks.msf import scale_weights
from fusionlab.original import original_class
from fusionlab.exercises import (EXERCISES, ConceptExercise, FunctionExercise, ModuleExercise, Result, exercise,
                                 solution_source)

pytestmark = pytest.mark.usefixtures("single_thread")

ALL = [ex for exs in EXERCISES.values() for ex in exs]
BUILDS = [ex for ex in ALL if ex.kind == "build"]
MODULES = [ex for ex in ALL if isinstance(ex, ModuleExercise)]
CONCEPTS = [ex for ex in ALL if isinstance(ex, ConceptExercise)]
BLOCKS_BY_CLS = {spec.cls: spec for spec in BLOCKS.values()}
MISTAKES = [(ex, cause) for ex in BUILDS for cause in ex.mistakes]


def ids(ex):
    return f"{ex.chapter}/{ex.name}"


def option(ex):
    """The text of the exercise's right option."""
    return ex.options[ex.correct]


# ------------------------------------------------------------------ the catalogue

def test_every_chapter_has_a_build_against_its_block_and_two_concepts():
    assert sorted(EXERCISES) == ["00", "01", "02", "03", "04", "05", "06", "07"]
    for chapter, exs in EXERCISES.items():
        assert sum(isinstance(ex, ConceptExercise) for ex in exs) >= 2, chapter
        assert len({ex.name for ex in exs}) == len(exs), chapter
    # every block of chapters 01–07 (cbam_joint and cbam both) has a build exercise against its package class
    for spec in BLOCKS.values():
        if spec.chapter[:2] in EXERCISES:
            refs = [ex.reference for ex in EXERCISES[spec.chapter[:2]] if isinstance(ex, ModuleExercise)]
            assert spec.cls in refs, spec.name
    for ex in ALL:
        assert ex.kind in ("build", "concept") and ex.title and ex.prompt
    assert isinstance(exercise("05", "attend"), FunctionExercise)  # OSRA's core, beside the full block


@pytest.mark.parametrize("ex", MODULES, ids=ids)
def test_solution_is_learner_code_with_the_posts_names(ex):
    source = solution_source(ex)
    post = ex.text("post_class")
    # named My<post's class>, so that pasting it into the chapter leaves the post's class as it is
    assert f"class My{post[0].upper()}{post[1:]}(nn.Module)" in source
    assert f"class {post}(" not in source
    assert "fusionlab" not in source  # written from the equations, not a wrapper around the package
    assert not issubclass(ex.solution(), ex.reference)
    assert list(ex.solution()(**ex.kwargs).state_dict()) == list(ex.reference_block().state_dict())


# ------------------------------------------------------------------ solutions pass

@pytest.mark.parametrize("ex", [ex for ex in MODULES if BLOCKS_BY_CLS[ex.reference].post_class], ids=ids)
def test_the_posts_own_class_passes(ex):
    """The reference weights are the post's: its own class (from the chapter's verbatim cells) loads them and agrees."""
    try:
        post_class = original_class(BLOCKS_BY_CLS[ex.reference].name)
    except (FileNotFoundError, ValueError, KeyError) as err:  # notebooks absent or being restructured
        pytest.skip(f"the post's code is not available here: {err}")
    result = ex.check(post_class)
    assert result.passed, result.hint
    assert "the post's" in result.hint


@pytest.mark.parametrize("ex", BUILDS, ids=ids)
def test_solution_passes(ex):
    result = ex.check(ex.solution())
    assert isinstance(result, Result) and result.passed, result.hint
    assert result and str(result).startswith("✓")


@pytest.mark.parametrize("ex", MODULES, ids=ids)
def test_solution_instance_passes_and_is_left_alone(ex):
    instance = ex.solution()(**ex.kwargs)
    before = {k: v.clone() for k, v in instance.state_dict().items()}
    assert ex.check(instance).passed
    # the checker loads the post's weights into a copy, not into the learner's object
    assert all(torch.equal(before[k], v) for k, v in instance.state_dict().items())


@pytest.mark.parametrize("ex", CONCEPTS, ids=ids)
def test_concept_solution_passes_as_letter_and_index(ex):
    letter = ex.solution()
    assert ex.check(letter).passed and ex.check(letter.upper()).passed
    assert ex.check(ex.correct).passed and ex.check(np.int64(ex.correct)).passed
    for i, why in enumerate(ex.text("why")):
        result = ex.check(i)
        assert result.passed == (i == ex.correct)
        assert why in result.hint  # the hint explains the chosen option
    assert len(ex.options) == len(ex.text("why")) >= 3


# ------------------------------------------------------------------ typical mistakes

@pytest.mark.parametrize("ex,cause", MISTAKES, ids=[f"{ids(ex)}:{c}" for ex, c in MISTAKES])
def test_typical_mistake_fails_with_its_cause(ex, cause):
    result = ex.check(ex.mistakes[cause])
    assert not result.passed
    assert result.cause == cause
    assert ex.text("mistakes")[cause] in result.hint


@pytest.mark.parametrize("ex", BUILDS, ids=ids)
def test_at_least_two_mistakes_per_build(ex):
    assert len(ex.mistakes) >= 2


def test_first_differing_step_is_named():
    ch02 = exercise("02", "msf_block")
    result = ch02.check(ch02.mistakes["max_pool"])
    assert result.step == "SE1.conv.0" and "`SE1.conv.0`" in result.hint
    result = exercise("04", "safm").check(exercise("04", "safm").mistakes["avg_pool"])
    assert result.step == "mfr.1" and "between `mfr.0` and `mfr.1`" in result.hint
    # a difference after the last sub-module: the learner's own operations
    result = exercise("01", "gated_fusion").check(exercise("01", "gated_fusion").mistakes["swapped"])
    assert result.step is None and "after the sub-modules" in result.hint


# learner answers written here, independently of the exercise tables

class WrongNames(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gate1, self.gate2 = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x1, x2):
        z = torch.sigmoid(self.gate1(x1) + self.gate2(x2))
        return z * x1 + (1 - z) * x2


class WrongSignature(nn.Module):
    def __init__(self, channels):
        super().__init__()


class Exploding(exercises.ch01_gated.MyGatedFusion):
    def forward(self, x1, x2):
        scale = 1 / 0  # the learner's bug
        return x1 * scale


class ReturnsNone(exercises.ch01_gated.MyGatedFusion):
    def forward(self, x1, x2):
        z = torch.sigmoid(self.fc1(x1) + self.fc2(x2))
        z * x1 + (1 - z) * x2  # forgot return


class NoNorm(nn.Module):  # MSF without the BatchNorm in project
    def __init__(self, in_channels):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(in_channels, in_channels, 1, bias=False), nn.ReLU())


class RunningStatsAlways(exercises.ch02_msf.MyMSFblock):
    """Right in eval mode; in training mode it still normalises with the running statistics."""

    def forward(self, x0, x1, x2, x3):
        xs = (x0, x1, x2, x3)
        w = self.weights(xs)
        fused = sum(w[:, :, i:i + 1] * x for i, x in enumerate(xs))
        conv, bn, _ = self.project
        y = F.batch_norm(conv(fused), bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False)
        return F.relu(y)


class OneOutput(exercises.ch07_cbam.MyCBAMBlock):
    def forward(self, x):
        out1, out2 = super().forward(x)
        return out1 * out2


class NoReshape(exercises.ch05_osra.MyOSRAttention):
    def forward(self, x):
        B, C, H, W = x.shape
        q = self.q(x).reshape(B, self.num_heads, C // self.num_heads, H * W).transpose(-1, -2)
        k, v = self.keys_values(x)
        k = k.reshape(B, self.num_heads, C // self.num_heads, -1)
        v = v.reshape(B, self.num_heads, C // self.num_heads, -1).transpose(-1, -2)
        return torch.softmax(q @ k * self.scale, dim=-1) @ v  # (B, h, HW, d): not reshaped back


def test_wrong_names_list_missing_and_unexpected_keys_in_one_sentence():
    hint = exercise("01", "gated_fusion").check(WrongNames).hint
    assert "missing `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`" in hint
    assert "unexpected `gate1.weight`" in hint and "Its sub-modules are `fc1`, `fc2`" in hint
    assert hint.startswith("Your state_dict differs from that of the post's gatedFusion")
    hint = exercise("02", "msf_block").check(NoNorm).hint
    assert "`project.1.weight`" in hint and "`project.1.running_var`" in hint
    assert "`SE1.conv.0.weight`" in hint


def test_instance_of_other_size_gets_shape_mismatch_and_how_to_build():
    hint = exercise("01", "gated_fusion").check(exercises.ch01_gated.MyGatedFusion(16)).hint
    assert "shape of `fc1.weight` is (16, 16) but should be (8, 8)" in hint
    assert "gatedFusion(dim=8)" in hint


def test_constructor_and_forward_exceptions_become_hints_with_the_learners_line():
    hint = exercise("01", "gated_fusion").check(WrongSignature).hint
    assert "Building `WrongSignature(dim=8)` raised TypeError" in hint
    assert "The post's constructor is `gatedFusion(dim)`" in hint
    result = exercise("01", "gated_fusion").check(Exploding)
    assert not result.passed
    assert "ZeroDivisionError: division by zero" in result.hint
    assert "test_exercises.py: `scale = 1 / 0  # the learner's bug`" in result.hint
    result = exercise("05", "attend").check(lambda q, k, v, scale: (q @ k).softmax(-1) @ v)  # kᵀ forgotten
    assert "RuntimeError" in result.hint and "q @ k" in result.hint


def test_output_structure_and_shape_hints():
    assert "returned NoneType; it should return a tensor of shape (2, 3, 5, 8)" in \
        exercise("01", "gated_fusion").check(ReturnsNone).hint
    assert "returns 1 tensor(s); it should return 2" in exercise("07", "cbam_joint").check(OneOutput).hint
    hint = exercise("05", "osra").check(NoReshape).hint
    assert "has shape (2, 2, 49, 4) but should have shape (2, 8, 7, 7)" in hint


def test_batchnorm_misuse_shows_in_training_mode_only():
    result = exercise("02", "msf_block").check(RunningStatsAlways)
    assert not result.passed and "training mode only (eval mode matches)" in result.hint


JUNK = [None, 42, "abc", 3.5, nn.Linear(3, 3), nn.Module, int, lambda *a: 1, WrongNames, Exploding(8)]


@pytest.mark.parametrize("ex", ALL, ids=ids)
def test_check_never_raises_and_junk_fails(ex):
    for answer in JUNK:
        if isinstance(ex, ConceptExercise) and answer == 42:
            continue
        result = ex.check(answer)
        assert isinstance(result, Result) and not result.passed and result.hint, (answer, result)
    assert "check(" in ex.check(None).hint or isinstance(ex, ConceptExercise)


def test_concept_answer_format_hint():
    ex = exercise("02", "weight_range")
    for answer in (None, "z", 7, -1, True, "bb", 1.0):
        result = ex.check(answer)
        assert not result.passed and "letter (a, b, c, d) or its index (0–3)" in result.hint


def test_checker_failure_is_reported_not_raised(monkeypatch):
    ex = exercise("01", "gated_fusion")
    monkeypatch.setattr(ex, "reference_block", lambda: 1 / 0)
    result = ex.check(ex.solution())
    assert not result.passed and "checker itself failed (ZeroDivisionError" in result.hint


def test_hints_follow_the_language():
    from fusionlab import i18n

    ex = exercise("03", "mfe_block")
    english = ex.check(None).hint
    assert english.startswith("No answer yet")
    assert ex.check(None, lang="zh").hint.startswith("还没有答案")
    with i18n.language("zh"):  # what setup(lang="zh") does for the whole notebook
        assert ex.check(None).hint.startswith("还没有答案")
    assert ex.check(None).hint == english
    with pytest.raises(ValueError, match="lang must be one of 'en', 'zh', got 'fr'"):
        ex.check(None, lang="fr")


def test_lookup_errors_name_the_valid_values():
    with pytest.raises(KeyError, match="valid chapters: 00, 01, 02"):
        exercise("99", "x")
    with pytest.raises(KeyError, match="its exercises are gated_fusion, gate_half"):
        exercise("01", "nope")


def test_package_docstring_example_runs():
    failures, tried = doctest.testmod(exercises, verbose=False)
    assert tried > 0 and failures == 0


def test_show_gives_instant_feedback():
    pytest.importorskip("ipywidgets")
    box = exercises.show("02")
    assert len(box.children) == len(EXERCISES["02"])
    quiz = box.children[[ex.name for ex in EXERCISES["02"]].index("weight_range")]
    quiz.button.click()
    assert "Pick an option" in quiz.feedback.value
    quiz.options.value = 0
    quiz.button.click()
    assert "✗" in quiz.feedback.value
    quiz.options.value = exercise("02", "weight_range").correct
    quiz.button.click()
    assert "✓" in quiz.feedback.value
    assert "check(YourAnswer)" in exercises.quiz(exercise("02", "msf_block")).children[-1].value
    with pytest.raises(KeyError, match="chapter='99'"):
        exercises.show("99")


# ------------------------------------------------------------------ concept facts, computed

def fact_linear_axis():
    layer, x = nn.Linear(64, 64), torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y = layer(x)
        nudged = x.clone()
        nudged[0, 0, 5, 0] += 1.0  # one pixel: colour 0, row 5, column 0
        changed = (layer(nudged) - y).abs() > 0
    assert y.shape == x.shape  # no error, nothing to warn the learner
    assert changed[0, 0, 5].all() and changed.sum() == 64  # every column of that row, nothing else
    return "each row's 64 columns mixed"


def fact_broadcast():
    block = CBAM(64, reduction=4).eval()
    x = torch.randn(2, 64, 28, 28)
    with torch.no_grad():
        channel, spatial = block.channel_weights(x), block.spatial_weights(x)
    assert channel.shape == (2, 64, 1, 1) and spatial.shape == (2, 1, 28, 28)  # the course's two weights
    return str(tuple((channel * spatial).shape))


def fact_heads():
    from fusionlab import trace

    q_heads = trace(OSRAttention(64, num_heads=8), (1, 64, 7, 7)).find("transpose")[0].outputs[0]
    assert q_heads == tuple(torch.randn(1, 64, 7, 7).reshape(1, 8, 8, 49).transpose(-1, -2).shape)
    return str(q_heads)


def fact_gate_half():
    block = GatedFusion(4)
    nn.init.zeros_(block.fc1.weight), nn.init.zeros_(block.fc1.bias)
    nn.init.zeros_(block.fc2.weight), nn.init.zeros_(block.fc2.bias)  # z = σ(0) = 0.5 everywhere
    x1, x2 = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    assert torch.allclose(block(x1, x2), (x1 + x2) / 2)
    return "(x1 + x2) / 2"


def fact_gate_params():
    return f"{sum(p.numel() for p in GatedFusion(64).parameters()):,}"


def fact_weight_range():
    lo, hi = 1 / (1 + 3 * math.e), math.e / (math.e + 3)
    logits = torch.tensor([[-60.0, 60.0, 60.0, 60.0], [60.0, -60.0, -60.0, -60.0]])  # σ → 0/1 extremes
    w = torch.softmax(torch.sigmoid(logits), dim=1)
    assert math.isclose(w[0, 0].item(), lo, rel_tol=1e-5) and math.isclose(w[1, 0].item(), hi, rel_tol=1e-5)
    # and nothing outside it for random logits, through the package's own weighting
    ys = [torch.randn(8, 5, 3, 3) * 10 for _ in range(4)]
    squeezes = [nn.Conv2d(5, 5, 1, bias=False) for _ in range(4)]
    weights = scale_weights(ys, [lambda p, c=c: c(p[:, :, None, None]).flatten(1) for c in squeezes])
    assert weights.min() >= lo - 1e-6 and weights.max() <= hi + 1e-6
    return f"({lo:.3f}, {hi:.3f})"  # open: σ never reaches 0 or 1, so neither bound is reached


def fact_weight_shape():
    sol = exercises.ch02_msf.MyMSFblock(3)
    assert sol.weights([torch.randn(2, 3, 4, 4)] * 4).shape == (2, 3, 4, 1)
    return "(B, C, 4, 1)"


def fact_receptive_field():
    block = MFEBlock(2, (2, 4, 8)).eval()
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_()  # positive weights and input: every ReLU passes, the field is all nonzero gradient
    x = torch.rand(1, 2, 65, 65, requires_grad=True)
    block.scales(x)[3][0, :, 32, 32].sum().backward()
    rows = torch.nonzero(x.grad[0].abs().sum(dim=(0, 2)))
    return str(int(rows.max() - rows.min() + 1))


def fact_padding():
    x = torch.randn(1, 2, 20, 20)
    assert nn.Conv2d(2, 2, 3, padding=8, dilation=8)(x).shape[-2:] == (20, 20)
    assert nn.Conv2d(2, 2, 3, padding=1, dilation=8)(x).shape[-2:] == (6, 6)
    return "keep H×W"


def fact_pooled_size():
    return str(tuple(SAFM(36).pyramid(torch.randn(1, 36, 224, 224))[3].shape))


def fact_gelu_range():
    u = torch.linspace(-6, 6, 120001)
    low = F.gelu(u).min().item()
    assert -0.175 < low < -0.165 and F.gelu(torch.tensor(1e3)).item() == 1e3  # unbounded above
    return f"{abs(low):.2f}"


def fact_attn_shape():
    with torch.no_grad():
        return str(tuple(OSRAttention(64).eval().attention(torch.randn(1, 64, 7, 7)).shape))


def fact_reduced_grid():
    block = OSRAttention(8, num_heads=2, sr_ratio=4).eval()
    with torch.no_grad():
        h, w = block.sr(torch.randn(1, 8, 56, 56)).shape[-2:]
    assert (h, w) == block.reduced_size(56, 56)
    return f"{h}×{w}"


def fact_overlap():
    conv = OSRAttention(8, num_heads=2, sr_ratio=2).sr[0]
    assert conv.kernel_size[0] == conv.stride[0] + 3
    return "larger than its stride"


def fact_inner_width():
    fusion = MSAA(224, 64).fusion_conv
    return f"{fusion.down.out_channels} and {fusion.channel_attention.fc[0].out_channels}"


def fact_kernel_sum():
    fusion = MSAA(12, 32).fusion_conv
    one = nn.Conv2d(8, 8, 7, padding=3)
    with torch.no_grad():
        one.weight.copy_(fusion.conv_7x7.weight + F.pad(fusion.conv_5x5.weight, [1] * 4)
                         + F.pad(fusion.conv_3x3.weight, [2] * 4))
        one.bias.copy_(fusion.conv_3x3.bias + fusion.conv_5x5.bias + fusion.conv_7x7.bias)
        f = torch.randn(2, 8, 9, 9)
        assert torch.allclose(one(f), fusion.conv_3x3(f) + fusion.conv_5x5(f) + fusion.conv_7x7(f), atol=1e-5)
    return "zero-pad the 3×3 and 5×5 kernels to 7×7"


def fact_positional_mask():
    block = CBAMBlock(channel=64, reduction=8, kernel_size=7, HW=49)
    assert block.MLP[0].weight.shape[1] == 64 + 49  # one input weight per pixel position
    with pytest.raises(ValueError, match="HW=49"):
        block(torch.randn(1, 64, 8, 8))
    return "only accepts the H×W it was built for"


def fact_joint_params():
    block = CBAMBlock(channel=64, reduction=8, kernel_size=7, HW=49)
    return f"{sum(p.numel() for p in block.MLP.parameters()):,}"


def fact_sequential():
    block = CBAM(16, reduction=4).eval()
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        refined = x * block.channel_weights(x)
        assert torch.allclose(block(x), refined * block.spatial_weights(refined))
        assert not torch.allclose(block(x), refined * block.spatial_weights(x))
    return "channel gate first, then spatial gate"


FACTS = {name[len("fact_"):]: fn for name, fn in globals().items() if name.startswith("fact_")}


def test_every_concept_question_has_a_computed_fact():
    assert {ex.name for ex in CONCEPTS} == set(FACTS)


@pytest.mark.parametrize("ex", CONCEPTS, ids=ids)
def test_right_option_states_the_computed_fact(ex):
    fact = FACTS[ex.name]()
    assert fact in option(ex), (fact, option(ex))
    assert all(fact not in o for i, o in enumerate(ex.options) if i != ex.correct), fact
