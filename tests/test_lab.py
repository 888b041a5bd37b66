"""The stitching lab: adapters, training, determinism, comparison and the trained maps."""
from __future__ import annotations

import statistics

import pytest
import torch
from torch import nn

from fusionlab import BLOCKS, BlockSpec
from fusionlab import lab
from fusionlab.cost import count_params
from fusionlab.lab import LabNet, Slot, build_model, capture_maps, compare, lab_sizes, scale_views, train

SIZE = 12  # the lab's default digit size
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


def test_digits_reject_bad_arguments():
    with pytest.raises(ValueError, match="val_fraction"):
        lab.load_digits_split(SIZE, val_fraction=1.5)
    with pytest.raises(ValueError, match="size"):
        lab.load_digits_split(4)


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


def _toy_spec(name, cls, dims):
    return BlockSpec(name=name, cls=cls, title=name, section=0, heading="", paper="", chapter="", post_class=None,
                     fuses="", inputs={"x": dims}, sizes={"B": 1, "C": 4, "H": 4, "W": 4},
                     tie=lambda s: {"dim": s["C"]})


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


def test_baseline_is_stem_pool_linear():
    model = LabNet(None, channels=CHANNELS, size=SIZE)
    assert model.block is None and isinstance(model.slot, nn.Identity)
    assert model(torch.randn(5, 1, SIZE, SIZE)).shape == (5, 10)


# ----------------------------------------------------------------------------- training


def test_baseline_learns_far_above_chance():
    # measured: seeds 0–4 reach 0.906, 0.908, 0.872, 0.881, 0.900 after 5 epochs (chance: 0.10);
    # untrained networks score 0.006–0.106
    untrained = lab.evaluate(build_model(None, seed=0), lab.load_digits_split(SIZE).x_val, lab.load_digits_split(SIZE).y_val)
    assert untrained < 0.3  # the threshold below is not reached without learning
    result = train(None, epochs=5, seed=0, progress=False)
    assert result.val_accuracy >= 0.8, result.history
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.block_params == 0 and result.params == count_params(result.model)


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_trains_in_the_slot(name):
    before = build_model(name, seed=1, channels=CHANNELS).block.state_dict()
    result = train(name, epochs=1, seed=1, channels=CHANNELS, n_train=128, batch_size=32, progress=False)
    assert result.block == name and result.n_train == 128
    assert len(result.history) == 1 and torch.isfinite(torch.tensor(result.history[0]["train_loss"]))
    assert 0.0 <= result.val_accuracy <= 1.0
    after = result.model.block.state_dict()
    # the optimiser moved the block's own weights (the slot is part of the trained graph)
    moved = [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k].cpu())]
    assert moved, f"no weight of {name} changed during training"
    assert result.block_params > 0 and result.params > result.block_params
    assert result.flops > 0


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


# ----------------------------------------------------------------------------- comparison


def test_compare_aggregates_seeds():
    comparison = compare([None, "cbam"], seeds=(0, 1), epochs=1, channels=CHANNELS, n_train=128, progress=False)
    assert len(comparison.results) == 4
    rows = {r["block"]: r for r in comparison.rows}
    assert list(rows) == ["baseline", "cbam"]
    for name, row in rows.items():
        accs = [r.val_accuracy for r in comparison.results if r.block == name]
        assert row["accuracies"] == accs
        assert row["accuracy_mean"] == pytest.approx(statistics.fmean(accs))
        assert row["accuracy_std"] == pytest.approx(statistics.stdev(accs))
    table = comparison.table(timings=False)
    assert table[0][0] == "block" and len(table) == 3 and len(table[0]) == 5
    assert "cbam" in str(comparison) and "<table>" in comparison._repr_html_()
    with pytest.raises(ValueError, match="unknown block"):
        compare(["nope"], progress=False)


# ----------------------------------------------------------------------------- maps


PROBED = {name: spec.map_probe for name, spec in BLOCKS.items() if spec.map_probe is not None}


def test_most_blocks_have_a_map_probe():
    assert len(PROBED) >= len(BLOCKS) - 1  # only OSRA keeps its map inside a fused kernel


@pytest.mark.parametrize("name", list(PROBED))
def test_capture_maps_shapes_and_ranges(name):
    model = build_model(name, seed=0, channels=CHANNELS)
    images = lab.load_digits_split(SIZE).x_val[:5]
    probe, maps = capture_maps(model, images)
    assert model.training  # the mode is restored
    if probe.kind == "scales":
        assert maps.shape == (5, 4)
        assert torch.allclose(maps.sum(1), torch.ones(5), atol=1e-5)  # a softmax over the scales
    else:
        assert maps.shape == (5, SIZE, SIZE)
        if name != "safm":  # sigmoid gates lie in (0, 1); SAFM's GELU map does not
            assert maps.min() > 0 and maps.max() < 1


def test_capture_maps_baseline_has_none():
    assert capture_maps(build_model(None), torch.zeros(2, 1, SIZE, SIZE)) is None


# ----------------------------------------------------------------------------- figures


def test_lab_figures():
    import matplotlib

    matplotlib.use("Agg")
    from fusionlab.plots.lab import plot_comparison, plot_history, plot_scale_weights, show_lab_maps

    comparison = compare([None, "safm"], seeds=(0, 1), epochs=1, channels=CHANNELS, n_train=64, progress=False)
    assert len(plot_comparison(comparison).axes) == 2
    history = plot_history(comparison.results)
    assert len(history.axes[0].get_lines()) == 2  # one mean line per block
    models = {name: build_model(name, seed=0, channels=CHANNELS) for name in PROBED}
    images = lab.load_digits_split(SIZE).x_val[:3]
    spatial = [n for n, p in PROBED.items() if p.kind == "spatial"]
    figure = show_lab_maps(models, images, labels=[0, 1, 2])
    # the digits' row plus one row per spatial map, three digits each (colour bars are extra axes)
    assert sum(1 for ax in figure.axes if ax.images and ax.get_label() != "<colorbar>") == 3 * (1 + len(spatial))
    assert len(plot_scale_weights(models, images).axes) == len(PROBED) - len(spatial)
    assert show_lab_maps(build_model(None), images) is None and plot_scale_weights(build_model("safm"), images) is None
