"""The stitching lab: the task, adapters, training, baselines, your own block, comparison and the trained maps."""
from __future__ import annotations

import ast
import inspect
import re
import statistics

import pytest
import torch
from torch import nn

from fusionlab import BLOCKS, BlockSpec
from fusionlab import lab
from fusionlab.costs import count_params
from fusionlab.lab.data import _canvases
from fusionlab.lab import (LabNet, PlainConv, Slot, build_model, capture_maps, compare, lab_sizes, read_map,
                           scale_views, train)
from fusionlab.registry import MapProbe, register

SIZE = 12  # a small map for the adapter tests
CHANNELS = 16


# ----------------------------------------------------------------------------- data


def test_digits_split_is_stratified():
    data = lab.load_digits_split(SIZE)
    assert data.x_train.shape == (1437, 1, SIZE, SIZE) and data.x_val.shape == (360, 1, SIZE, SIZE)
    counts_train = torch.bincount(data.y_train, minlength=10).float()
    counts_val = torch.bincount(data.y_val, minlength=10).float()
    # stratified: every class keeps its share (≈ 20 % of each class in validation)
    share = counts_val / (counts_train + counts_val)
    assert torch.all((share - 0.2).abs() < 0.02), share
    assert abs(data.x_train.mean().item()) < 1e-4 and abs(data.x_train.std().item() - 1) < 1e-4


def test_cluttered_canvases_hold_the_digit_in_its_box():
    data = lab.load_cluttered_digits()
    assert data.size == lab.SIZE and data.x_train.shape == (1437, 1, lab.SIZE, lab.SIZE)
    assert torch.equal(data.y_val, lab.load_digits_split(SIZE).y_val)  # the same split as the plain digits
    top, left, side = data.box_val.T
    assert side.min() >= 8 and side.max() <= 10 and (top + side).max() <= lab.SIZE and (left + side).max() <= lab.SIZE
    assert len({(int(t), int(l)) for t, l in zip(top, left)}) > 20  # many positions, not one
    masks = data.box_masks("val")
    assert masks.shape == (360, lab.SIZE, lab.SIZE) and torch.equal(masks.sum((1, 2)), side * side)
    pixels = data.x_val[:, 0]
    inside = pixels.where(masks, 0).sum((1, 2)) / masks.sum((1, 2))
    outside = pixels.where(~masks, 0).sum((1, 2)) / (~masks).sum((1, 2))
    assert (inside > outside).float().mean() > 0.95  # the ink is in the box on (almost) every canvas
    # the clutter puts ink outside the boxes: bright pixels there are rarer without it
    raw = lambda d: d.x_val[:, 0] * d.std + d.mean  # undo the standardisation
    clean = lab.load_cluttered_digits(clutter=0)
    assert (raw(clean)[~clean.box_masks()] > 0.5).float().mean() < 0.5 * (raw(data)[~masks] > 0.5).float().mean()


def test_canvases_are_fixed_by_their_seed():
    images = torch.rand(6, 8, 8)
    a, b, c = (_canvases(images, 16, 2, 0.1, (8, 10), seed=s) for s in (3, 3, 4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_digits_reject_bad_arguments():
    with pytest.raises(ValueError, match="val_fraction"):
        lab.load_digits_split(SIZE, val_fraction=1.5)
    with pytest.raises(ValueError, match="size"):
        lab.load_digits_split(4)
    with pytest.raises(ValueError, match="sides must be"):
        lab.load_cluttered_digits(12, sides=(8, 14))
    with pytest.raises(ValueError, match="clutter must be"):
        lab.load_cluttered_digits(clutter=-1)
    with pytest.raises(ValueError, match="no boxes"):
        lab.load_digits_split(SIZE).box_masks()


# ----------------------------------------------------------------------------- adapters


def test_scale_views_keep_shape_and_remove_fine_detail():
    checker = (torch.arange(SIZE)[:, None] + torch.arange(SIZE)[None, :]) % 2 * 2.0 - 1.0  # ±1 per pixel
    f = checker.expand(2, 3, SIZE, SIZE).contiguous()
    views = scale_views(f, 4)
    assert len(views) == 4 and all(v.shape == f.shape for v in views)
    assert views[0] is f  # view 0 is the map itself
    for v in views[1:]:  # pooling by 2, 4, 8 averages the ±1 pattern away
        assert v.abs().max() < 1e-6
    constant = torch.full((1, 2, SIZE, SIZE), 3.0)
    assert all(torch.allclose(v, constant) for v in scale_views(constant, 4))


def test_lab_size_keeps_every_scale_view_spatial():
    # at the lab's 16×16 the coarsest of four views is pooled to 2×2, not to one constant value
    f = torch.randn(1, 2, lab.SIZE, lab.SIZE)
    coarsest = scale_views(f, 4)[3]
    assert coarsest.std(dim=(2, 3)).min() > 0


@pytest.mark.parametrize("name", list(BLOCKS))
def test_slot_feeds_every_block_the_registered_shapes(name):
    spec = BLOCKS[name]
    slot = Slot(name, CHANNELS, SIZE).eval()
    f = torch.randn(3, CHANNELS, SIZE, SIZE)
    inputs = slot.inputs(f)
    sizes = {**lab_sizes(spec, CHANNELS, SIZE), "B": 3}
    assert tuple(tuple(x.shape) for x in inputs) == spec.shapes(sizes)
    with torch.no_grad():
        out = slot(f)
    assert out.shape == (3, slot.out_channels, *slot.out_size)
    assert out.shape[-2:] == (SIZE, SIZE)
    # every block of the course maps C channels to C channels in the lab (MSAA via its registry entry's lab_hparams)
    assert slot.out_channels == CHANNELS


class _Echo(nn.Module):
    """Returns its (channels-last) input unchanged: the slot must hand back the feature map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        assert x.shape[-1] == self.dim  # the slot really passed channels last
        return x


class _Pair(nn.Module):
    """Returns (x, 2x), like CBAMBlock's pair of products."""

    def __init__(self, dim: int) -> None:
        super().__init__()

    def forward(self, x):
        return x, 2 * x


def _toy_spec(name, cls, dims, **extra):
    return BlockSpec(name=name, cls=cls, title=name, section=0, heading="", paper="", chapter="", post_class=None,
                     fuses="", inputs={"x": dims}, sizes={"B": 1, "C": 4, "H": 4, "W": 4},
                     tie=lambda s: {"dim": s["C"]}, **extra)


def test_channels_last_adapter_permutes_and_restores():
    slot = Slot(_toy_spec("echo", _Echo, "B H W C"), CHANNELS, SIZE)
    f = torch.randn(2, CHANNELS, SIZE, SIZE)
    assert slot.inputs(f)[0].shape == (2, SIZE, SIZE, CHANNELS)
    assert torch.equal(slot(f), f)
    gated = Slot("gated_fusion", CHANNELS, SIZE)
    x1, x2 = gated.inputs(f)
    assert torch.equal(x1, f.permute(0, 2, 3, 1))
    assert torch.allclose(x2, scale_views(f, 2)[1].permute(0, 2, 3, 1))


def test_tuple_output_is_summed():
    slot = Slot(_toy_spec("pair", _Pair, "B C H W"), CHANNELS, SIZE)
    f = torch.randn(2, CHANNELS, SIZE, SIZE)
    assert torch.allclose(slot(f), 3 * f)


def test_fixed_hw_block_is_built_for_the_lab_size():
    for size in (8, 12, 16):
        slot = Slot("cbam_joint", CHANNELS, size)
        assert slot.block.HW == size * size
        slot.eval()(torch.randn(2, CHANNELS, size, size))


def test_multi_input_blocks_get_distinct_scales():
    slot = Slot("msf", CHANNELS, SIZE)
    f = torch.randn(2, CHANNELS, SIZE, SIZE)
    x0, x1, x2, x3 = slot.inputs(f)
    assert torch.equal(x0, f)
    # coarser views vary less across the map
    spreads = [x.std(dim=(2, 3)).mean().item() for x in (x0, x1, x2, x3)]
    assert spreads == sorted(spreads, reverse=True)


def test_bad_block_names_and_layouts_fail_clearly():
    with pytest.raises(ValueError, match="unknown block 'nope'"):
        LabNet("nope")
    with pytest.raises(ValueError, match="B, H, W and one channel"):
        Slot(_toy_spec("seq", _Echo, "B N C"), CHANNELS, SIZE)
    with pytest.raises(ValueError, match="baseline has no block hyperparameters"):
        LabNet(None, reduction=4)
    with pytest.raises(ValueError, match="must map \\(B, C, H, W\\)"):
        LabNet(lambda channels: nn.Flatten())
    with pytest.raises(TypeError, match="must return an nn.Module"):
        LabNet(lambda channels: 3)


def test_baseline_is_stem_pool_linear():
    model = LabNet(None, channels=CHANNELS, size=SIZE)
    assert model.block is None and isinstance(model.slot, nn.Identity)
    assert model(torch.randn(5, 1, SIZE, SIZE)).shape == (5, 10)


def test_plain_conv_matches_the_median_block():
    target = lab.matched_params(CHANNELS, lab.SIZE)
    counts = [count_params(Slot(name, CHANNELS, lab.SIZE).block) for name in BLOCKS]
    assert target == int(statistics.median(counts)) and lab.matched_params(CHANNELS, lab.SIZE, "max") == max(counts)
    model = LabNet(lab.PLAIN, channels=CHANNELS)
    assert isinstance(model.block, PlainConv)
    # one hidden channel more or less changes the count by 18·C + 2: the match is within half that step
    assert abs(count_params(model.block) - target) <= (18 * CHANNELS + 2) / 2
    f = torch.randn(2, CHANNELS, 8, 8)
    with torch.no_grad():
        nn.init.zeros_(model.block.body[-1].weight), nn.init.zeros_(model.block.body[-1].bias)
    assert torch.equal(model.block(f), f)  # the skip: with a zero last conv the slot is the identity


# ----------------------------------------------------------------------------- training


def test_baseline_learns_far_above_chance():
    # on the plain up-sampled digits (measured: seeds 0–4 reach about 0.9 after 5 epochs; chance 0.10)
    data = lab.load_digits_split(SIZE)
    untrained = lab.accuracy(build_model(None, seed=0, size=SIZE, pool=2), data.x_val, data.y_val)
    assert untrained < 0.3  # the threshold below is not reached without learning
    result = train(None, epochs=5, seed=0, data=data, size=SIZE, pool=2, progress=False)
    assert result.val_accuracy >= 0.8, result.history
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.block_params == 0 and result.params == count_params(result.model)


def _moved(before, model):
    after = model.state_dict()
    return [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k].cpu())]


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_trains_in_the_slot(name):
    before = build_model(name, seed=1, channels=CHANNELS).block.state_dict()
    result = train(name, epochs=1, seed=1, channels=CHANNELS, n_train=128, batch_size=32, progress=False)
    assert result.block == name and result.n_train == 128
    assert len(result.history) == 1 and torch.isfinite(torch.tensor(result.history[0]["train_loss"]))
    assert 0.0 <= result.val_accuracy <= 1.0
    # the optimiser moved the block's own weights (the slot is part of the trained graph)
    assert _moved(before, result.model.block), f"no weight of {name} changed during training"
    assert result.block_params > 0 and result.params > result.block_params
    assert result.flops > 0


class _Shift(nn.Module):
    """A block the lab has never seen: y = x · (1 + tanh(w · mean_c x)), one weight."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * (1 + torch.tanh(self.w * x.mean(1, keepdim=True)))


def test_a_newly_registered_block_joins_the_lab_without_edits():
    name = "_throwaway_shift"
    probe = MapProbe("tanh gate", "", lambda m, args, out: torch.tanh(m.w * args[0].mean(1)))
    register(_toy_spec(name, _Shift, "B C H W", lab_hparams=lambda channels: {}, map_probe=probe))
    try:
        assert name in BLOCKS
        result = train(name, epochs=1, seed=0, channels=CHANNELS, n_train=64, progress=False)
        assert result.block == name and result.block_params == 1
        assert not torch.equal(result.model.block.w.detach(), torch.ones(1))  # it trained
        probe_read, maps = capture_maps(result.model, lab.load_cluttered_digits().x_val[:3])
        assert probe_read is probe and maps.shape == (3, lab.SIZE, lab.SIZE)
        comparison = compare([name], seeds=(0,), epochs=1, channels=CHANNELS, n_train=64, progress=False,
                             reference=False)
        assert [r["block"] for r in comparison.rows] == [name]
    finally:
        BLOCKS.pop(name, None)
    assert name not in BLOCKS


class _MyBlock(nn.Module):
    """The notebook's template: 改 a conv, 增 an attention branch and a skip."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels)
        self.gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x):
        y = self.conv(x)
        return x + y * self.gate(y)


def test_your_own_block_joins_the_table_in_one_call():
    comparison = compare([None], seeds=(0, 1), epochs=1, channels=CHANNELS, n_train=96, progress=False)
    assert comparison.references and comparison.references[0]["params"] == 10 * (lab.SIZE ** 2 + 1)
    before = build_model(_MyBlock, seed=0, channels=CHANNELS, kernel=5).block.state_dict()
    mine = comparison.add(_MyBlock, kernel=5, progress=False)
    assert [r["block"] for r in mine.rows] == ["baseline", "_MyBlock"]
    assert len(comparison.rows) == 1  # the original table is left as it was
    row = mine.row("_MyBlock")
    assert row["seeds"] == 2 and row["block_params"] == count_params(_MyBlock(CHANNELS, kernel=5))
    runs = [r for r in mine.results if r.block == "_MyBlock"]
    assert [r.seed for r in runs] == [0, 1] and all(r.n_train == 96 and r.epochs == 1 for r in runs)
    assert _moved(before, runs[0].model.block)
    assert "_MyBlock" in str(mine) and "logistic regression" in str(mine)
    with pytest.raises(ValueError, match="already has a row '_MyBlock'"):
        mine.add(_MyBlock, progress=False)
    assert "renamed" in [r["block"] for r in mine.add(_MyBlock, name="renamed", progress=False, kernel=3).rows]


def test_training_is_deterministic_for_a_seed():
    a = train("safm", epochs=1, seed=3, channels=CHANNELS, n_train=256, progress=False)
    b = train("safm", epochs=1, seed=3, channels=CHANNELS, n_train=256, progress=False)
    c = train("safm", epochs=1, seed=4, channels=CHANNELS, n_train=256, progress=False)
    assert a.history == b.history
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_train_rejects_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        train(None, epochs=0, progress=False)
    with pytest.raises(ValueError, match="unknown block"):
        train("gated", progress=False)
    with pytest.raises(ValueError, match="size=16 but the data's canvases are 12×12"):
        train(None, data=lab.load_digits_split(SIZE), progress=False)


def test_accuracy_restores_each_modules_mode():
    model = build_model(None, seed=0)
    model.stem[1].eval()  # a frozen BatchNorm inside a training model
    lab.accuracy(model, torch.randn(4, 1, lab.SIZE, lab.SIZE), torch.zeros(4, dtype=torch.long))
    assert model.training and not model.stem[1].training


# ----------------------------------------------------------------------------- comparison


def test_compare_aggregates_seeds():
    comparison = compare([None, "cbam", lab.PLAIN], seeds=(0, 1), epochs=1, channels=CHANNELS, n_train=128,
                         progress=False)
    assert len(comparison.results) == 6
    rows = {r["block"]: r for r in comparison.rows}
    assert list(rows) == ["baseline", "cbam", "plain_conv"]
    for name, row in rows.items():
        accs = [r.val_accuracy for r in comparison.results if r.block == name]
        assert row["accuracies"] == accs
        assert row["accuracy_mean"] == pytest.approx(statistics.fmean(accs))
        assert row["accuracy_std"] == pytest.approx(statistics.stdev(accs))
    hidden = PlainConv.hidden_for(CHANNELS, lab.matched_params(CHANNELS, lab.SIZE))
    assert rows["plain_conv"]["title"].startswith(f"plain 3×3 convolutions, {hidden} hidden")
    gap = rows["cbam"]["accuracy_mean"] - rows["baseline"]["accuracy_mean"]
    spread = max(rows["cbam"]["accuracy_std"], rows["baseline"]["accuracy_std"])
    assert comparison.margin("cbam", "baseline") == pytest.approx(gap / spread)
    table = comparison.table(timings=False)
    assert table[0][0] == "block" and len(table) == 5 and len(table[0]) == 5  # 3 blocks + the logistic regression
    assert table[-1][0] == "logistic regression on the pixels"
    assert "cbam" in str(comparison) and "<table>" in comparison._repr_html_()
    with pytest.raises(ValueError, match="unknown block"):
        compare(["nope"], progress=False)
    with pytest.raises(KeyError, match="no row 'msf'"):
        comparison.row("msf")


def test_logistic_reference_is_deterministic_and_near_chance_on_canvases():
    a, b = lab.logistic_reference(), lab.logistic_reference()
    assert a == b and 0.0 <= a["accuracy"] <= 1.0
    # on the plain 8×8 digits it is strong (0.97): position and clutter are what make the canvases hard
    assert lab.logistic_reference(lab.load_digits_split(8))["accuracy"] > 0.9 > 0.5 > a["accuracy"]


# ----------------------------------------------------------------------------- maps


PROBED = {name: spec.map_probe for name, spec in BLOCKS.items() if spec.map_probe is not None}


def test_most_blocks_have_a_map_probe():
    assert len(PROBED) >= len(BLOCKS) - 1  # only OSRA keeps its map inside a fused kernel


@pytest.mark.parametrize("name", list(PROBED))
def test_capture_maps_shapes_and_ranges(name):
    model = build_model(name, seed=0, channels=CHANNELS)
    images = lab.load_cluttered_digits().x_val[:5]
    probe, maps = capture_maps(model, images)
    assert model.training  # the mode is restored
    if probe.kind == "scales":
        assert maps.shape[0] == 5 and maps.shape[1] >= 2
        assert torch.allclose(maps.sum(1), torch.ones(5), atol=1e-5)  # a softmax over the scales
    else:
        assert maps.shape == (5, lab.SIZE, lab.SIZE)
    if probe.bounds is not None:  # the registry says where the values lie (sigmoid gates: (0, 1))
        lo, hi = probe.bounds
        assert maps.min() > lo and maps.max() < hi


def test_capture_maps_without_a_registered_block_is_none():
    images = torch.zeros(2, 1, lab.SIZE, lab.SIZE)
    assert capture_maps(build_model(None), images) is None
    assert capture_maps(build_model(lab.PLAIN), images) is None
    assert capture_maps(build_model(_MyBlock), images) is None


SPATIAL = MapProbe("a gate", "", None)
SCALES = MapProbe("weights", "", None, kind="scales")


def test_read_map_tells_constant_fixed_and_moving_maps_apart():
    boxes = torch.zeros(4, 6, 6, dtype=torch.bool)
    boxes[:, :3, :3] = True
    constant = read_map("c", SPATIAL, torch.full((4, 6, 6), 0.3))
    assert constant.constant and "constant" in str(constant) and "0.3" in str(constant)
    mask = torch.linspace(0.1, 0.9, 36).reshape(6, 6)
    fixed = read_map("f", SPATIAL, mask.expand(4, 6, 6), boxes)
    assert fixed.fixed and not fixed.constant and fixed.across == pytest.approx(0.0, abs=1e-12)
    assert "fixed mask of positions" in str(fixed)
    assert fixed.on_digit == pytest.approx(mask[:3, :3].mean().item()) and fixed.low == 0.0
    moving = read_map("m", SPATIAL, torch.rand(4, 6, 6, generator=torch.Generator().manual_seed(0)))
    assert not moving.fixed and "responds to the input" in str(moving)
    shut = read_map("s", SPATIAL, torch.cat([torch.full((4, 6, 5), 0.001), torch.rand(4, 6, 1)], -1))
    assert shut.low > 0.8 and "mostly shut" in str(shut)
    switch = read_map("h", SPATIAL, (mask > 0.5).double().expand(4, 6, 6) * 0.999 + 0.0005)
    assert switch.fixed and "hard switch" in str(switch)
    unbounded = read_map("u", SPATIAL, torch.randn(4, 6, 6))
    assert unbounded.low is None and "below 0.02" not in str(unbounded)
    scales = read_map("w", SCALES, torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]]))
    assert scales.scale_mean == pytest.approx([0.1, 0.2, 0.3, 0.4]) and "hardly change" in str(scales)
    with pytest.raises(ValueError, match="boxes must have the maps' shape"):
        read_map("f", SPATIAL, mask.expand(4, 6, 6), boxes[:2])


def test_map_readings_follow_the_course_language():
    from fusionlab import i18n

    cjk = re.compile(r"[\u4e00-\u9fff]")
    maps = {"spatial": (SPATIAL, torch.rand(4, 6, 6, generator=torch.Generator().manual_seed(0))),
            "scales": (SCALES, torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.2, 0.2, 0.3, 0.3]]))}
    boxes = torch.zeros(4, 6, 6, dtype=torch.bool)
    boxes[:, :3, :3] = True
    for kind, (probe, m) in maps.items():
        reading = read_map(kind, probe, m, boxes if probe.kind == "spatial" else None)
        english = reading.sentences(), str(reading)
        with i18n.language("zh"):
            chinese = reading.sentences(), str(reading)
        assert all(cjk.search(s) for s in chinese[0]), chinese
        assert not cjk.search(str(english)) and str(reading) == english[1]  # English again, unchanged
        assert english[1].startswith(f"{kind} ({probe.label}): ")
    assert "responds to the input" in english[1] or "the weights change" in english[1]
    # every registered probe has a Chinese label, shown under "zh"; the English label is what it was
    for name, spec in BLOCKS.items():
        if spec.map_probe is not None:
            probe = spec.map_probe
            assert cjk.search(probe.text("zh")) and not cjk.search(probe.text("en")) and probe.text("en") == probe.label
            reading = read_map(name, probe, torch.rand(2, 4) if probe.kind == "scales" else torch.rand(2, 6, 6))
            with i18n.language("zh"):
                assert str(reading).startswith(f"{name}（{probe.label_zh}）：")
            assert str(reading).startswith(f"{name} ({probe.label}): ")
    assert SPATIAL.text("zh") == "a gate"  # no Chinese label: English


def test_results_and_tables_follow_the_course_language():
    from fusionlab import i18n
    from fusionlab.lab.train import LOGISTIC, Comparison, LabResult, _width

    cjk = re.compile(r"[\u4e00-\u9fff]")
    results = [LabResult(name, seed, 1, 0.5, 1234, 56, 78900, 0.5, [], None, 64) for name in ("baseline", "safm")
               for seed in (0, 1)]
    comparison = Comparison(results, 1, (0, 1), [{"block": LOGISTIC, "accuracy": 0.094, "params": 2570}])
    english = str(results[0]), repr(comparison), comparison._repr_html_()
    assert english[0] == ("baseline (seed 0, 1 epoch, 64 training canvases): validation accuracy 0.500, "
                          "1,234 parameters (56 in the slot), 78.90 k FLOPs, 0.5 s")
    assert not cjk.search(str(english)) and LOGISTIC in english[1]
    with i18n.language("zh"):
        chinese = str(results[0]), repr(comparison), comparison._repr_html_()
    assert all(cjk.search(text) for text in chinese) and LOGISTIC not in chinese[1]
    lines = chinese[1].splitlines()[1:]  # the columns line up: a Chinese character is two columns wide
    starts = {_width(line[:line.index(" 0.") + 1]) for line in lines[2:]} | {_width(lines[1].split("  ")[0]) + 2}
    assert len(starts) == 1, lines
    assert (str(results[0]), repr(comparison), comparison._repr_html_()) == english


# ----------------------------------------------------------------------------- figures


def test_plots_do_not_import_the_lab():
    # the cycle fusionlab.lab ↔ fusionlab.plots.lab is broken: the figures take what they draw
    import fusionlab.plots.lab as plots_lab

    tree = ast.parse(inspect.getsource(plots_lab))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.split(".")[-1] == "lab" or m.endswith("fusionlab.lab")}, imported
    assert not hasattr(lab, "evaluate") and hasattr(lab, "accuracy")  # no clash with widgets.evaluate
    assert not hasattr(plots_lab, "plot_scale_weights")  # no clash with plots.msf.plot_scale_weights


def test_lab_figures():
    import matplotlib

    matplotlib.use("Agg")
    from fusionlab.plots.lab import plot_comparison, plot_history, plot_lab_scale_weights, show_lab_maps

    comparison = compare([None, "safm"], seeds=(0, 1), epochs=1, channels=CHANNELS, n_train=64, progress=False)
    figure = plot_comparison(comparison)
    assert len(figure.axes) == 2
    assert any(line.get_linestyle() == ":" for line in figure.axes[0].get_lines())  # the logistic regression
    # accuracy against cost: points that (nearly) coincide get labels that do not overprint
    from types import SimpleNamespace

    points = {"baseline": (7.4e4, 0.164), "msf": (2.07e5, 0.219), "safm": (2.30e5, 0.218), "mfe": (4.9e6, 0.211),
              "osra": (1.4e6, 0.437)}  # a 3-epoch run's: msf's and safm's labels used to overprint
    rows = [dict(block=name, accuracy_mean=acc, accuracy_std=0.03, flops=flops, accuracies=[acc - 0.02, acc + 0.02])
            for name, (flops, acc) in points.items()]
    close = plot_comparison(SimpleNamespace(rows=rows, seeds=(0, 1), epochs=1, references=[]))
    close.canvas.draw()
    boxes = [t.get_window_extent() for t in close.axes[1].texts]
    assert len(boxes) == len(points)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    history = plot_history(comparison.results)
    assert len(history.axes[0].get_lines()) == 2  # one mean line per block
    data = lab.load_cluttered_digits()
    images = data.x_val[:3]
    maps = {name: capture_maps(build_model(name, seed=0, channels=CHANNELS), images) for name in PROBED}
    spatial = [n for n, p in PROBED.items() if p.kind == "spatial"]
    figure = show_lab_maps(maps, images, labels=[0, 1, 2], boxes=data.box_val[:3])
    drawn = [ax for ax in figure.axes if ax.images and ax.get_label() != "<colorbar>"]
    # the canvases' row plus one row per spatial map, three canvases each (colour bars are extra axes)
    assert len(drawn) == 3 * (1 + len(spatial))
    assert sum(len(ax.patches) for ax in drawn) == 3  # the digits' boxes
    assert len(plot_lab_scale_weights(maps).axes) == len(PROBED) - len(spatial)
    # a constant map gets its row's title, not pictures
    flat = {"flat": (SPATIAL, torch.full((3, lab.SIZE, lab.SIZE), 0.5)), "msf": maps.get("msf")}
    figure = show_lab_maps(flat, images)
    assert sum(1 for ax in figure.axes if ax.images) == 3  # only the canvases
    assert any("constant 0.5" in sf._suptitle.get_text() for sf in figure.subfigs if sf._suptitle)
    assert show_lab_maps({"baseline": None}, images) is None and plot_lab_scale_weights({"safm": maps["safm"]}) is None
    with pytest.raises(TypeError, match="mapping name -> \\(probe, map\\)"):
        show_lab_maps(build_model("safm"), images)
