"""fusionlab.plots.mfe: the receptive fields of MFE's branches and chapter 03's figure (checked on data)."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fusionlab import MFEBlock, MSFBlock  # noqa: E402
from fusionlab.plots.mfe import (  # noqa: E402
    branch_dilations,
    effective_receptive_fields,
    plot_receptive_fields,
    receptive_field_sizes,
    tap_counts,
)


def _extent(mask: torch.Tensor) -> tuple[int, int]:
    rows, cols = mask.nonzero().unbind(1)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("rates,sides", [((2, 4, 8), (3, 7, 15, 31)), ((1, 2, 3), (3, 5, 9, 15)),
                                         ((6, 12, 18), (3, 15, 39, 75))])
def test_field_sizes_follow_the_dilations(rates, sides):
    block = MFEBlock(2, atrous_rates=rates)
    assert branch_dilations(block) == (1, *rates)
    assert receptive_field_sizes(block) == sides
    counts = tap_counts(block)
    assert counts.shape == (4, sides[-1] + 6, sides[-1] + 6)
    for i, side in enumerate(sides):
        assert _extent(counts[i] > 0) == (side, side)


def test_tap_counts_are_the_paths_of_the_linearised_cascade():
    block = MFEBlock(1, atrous_rates=(2, 4, 8))
    counts = tap_counts(block, 41)
    assert torch.equal(counts[0][19:22, 19:22], torch.ones(3, 3)) and counts[0].sum() == 9
    # branch i has 9 × (paths of branch i−1 + 1) paths: each of 9 taps reads y_{i−1} + x
    totals = [int(c.sum()) for c in counts]
    assert totals == [9, 9 * (9 + 1), 9 * (90 + 1), 9 * (819 + 1)]
    # the same numbers from the block itself: unit weights, no BN, no ReLU, one channel
    x = torch.zeros(1, 1, 41, 41)
    x[..., 20, 20] = 1.0
    layers = [getattr(block, f"layer{i}")[0] for i in range(1, 5)]
    y = None
    for conv, expected in zip(layers, counts):
        source = x if y is None else y + x
        y = F.conv2d(source, torch.ones_like(conv.weight), padding=conv.padding, dilation=conv.dilation)
        torch.testing.assert_close(y[0, 0], expected)
    # in the full cascade every pixel of every field is reached (no holes with rates 2, 4, 8)
    for c, side in zip(counts, receptive_field_sizes(block)):
        assert int((c > 0).sum()) == side * side


def test_effective_fields_live_inside_the_fields_and_leave_the_block_untouched():
    torch.manual_seed(0)
    block = MFEBlock(4, atrous_rates=(2, 4, 8))
    block.train()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    erf = effective_receptive_fields(block, 41, samples=4)
    assert erf.shape == (4, 41, 41) and (erf >= 0).all()
    assert block.training, "the block's mode is restored"
    assert all(p.grad is None for p in block.parameters()), "no gradient lands on the parameters"
    for k, v in block.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed (eval mode must not update running statistics)"
    counts = tap_counts(block, 41)
    for i in range(4):
        assert ((erf[i] > 0) <= (counts[i] > 0)).all(), "gradient only where a path exists"
        assert erf[i][20, 20] > 0
    assert _extent(erf[3] > 0) == (31, 31)


def test_effective_fields_of_a_block_with_unit_weights_are_the_tap_counts():
    # unit conv weights, BN = identity plus a large shift: every ReLU passes, the block is linear
    # in x and its gradient counts the paths
    block = MFEBlock(1, atrous_rates=(2, 4, 8)).eval()
    with torch.no_grad():
        for i in range(1, 5):
            getattr(block, f"layer{i}")[0].weight.fill_(1.0)
            getattr(block, f"layer{i}")[1].running_var.fill_(1.0 - 1e-5)  # (x − 0) / sqrt(var + eps) = x
            getattr(block, f"layer{i}")[1].bias.fill_(1000.0)
    erf = effective_receptive_fields(block, 37, samples=2)
    counts = tap_counts(block, 37)
    torch.testing.assert_close(erf, counts)


def test_plot_receptive_fields_shows_both_rows():
    torch.manual_seed(0)
    block = MFEBlock(3, atrous_rates=(2, 4, 8))
    erf = effective_receptive_fields(block, samples=2)
    fig = plot_receptive_fields(block, erf=erf)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 8 and len(fig.axes) == 10  # 8 panels, one colour bar per row
    counts = tap_counts(block)
    for i, ax in enumerate(panels[:4]):
        shown = torch.as_tensor(ax.images[0].get_array().filled(0.0))
        torch.testing.assert_close(shown, counts[i] / counts[i].max())
        taps = ax.lines[0]
        d = branch_dilations(block)[i]
        assert sorted(set(taps.get_xdata())) == [-d, 0, d]
        assert f"field {receptive_field_sizes(block)[i]}×" in ax.get_title()
    for i, ax in enumerate(panels[4:]):
        shown = torch.as_tensor(ax.images[0].get_array().data)
        torch.testing.assert_close(shown, (erf[i] / erf[i].max()).clamp(min=1e-3))
    with pytest.raises(ValueError, match="erf must have shape"):
        plot_receptive_fields(block, erf=erf[:, :5, :5])


def test_functions_refuse_other_blocks_and_bad_sizes():
    with pytest.raises(TypeError, match="block must be an MFEBlock"):
        tap_counts(MSFBlock(3))
    with pytest.raises(ValueError, match="size must be an int ≥ 3"):
        tap_counts(MFEBlock(2), size=2)
    with pytest.raises(ValueError, match="samples must be an int ≥ 1"):
        effective_receptive_fields(MFEBlock(2), samples=0)


# ---------------------------------------------------------------- the trained task and the play panel

from fusionlab.plots.mfe import (  # noqa: E402
    PERIODS,
    StripePeriodNet,
    field_overlay,
    play,
    plot_fields_on_photo,
    plot_scale_weights,
    plot_stripe_periods,
    probe_branches,
    stripe_scenes,
    stripes,
    train_stripe_periods,
)


def test_stripes_have_their_period_and_refuse_odd_ones():
    for period in PERIODS:
        for kind in (0, 1, 2):
            s = stripes(period, 32, kind=kind, phase=1)
            assert set(s.unique().tolist()) == {-1.0, 1.0}
            assert torch.equal(s.roll(period, 0), s) and torch.equal(s.roll(period, 1), s)
            shifted = s.roll(period // 2, 1 if kind == 1 else 0)
            assert torch.equal(shifted, -s)  # half a period flips the sign: the dilation d = period / 2 sees it
    with pytest.raises(ValueError, match="period must be an even int ≥ 2"):
        stripes(3, 8)


def test_stripe_scenes_put_every_period_in_one_quadrant_each():
    images, labels = stripe_scenes(3, 24, seed=4)
    assert images.shape == (3, 1, 24, 24) and labels.shape == (3, 24, 24)
    again, _ = stripe_scenes(3, 24, seed=4)
    assert torch.equal(images, again)
    for n in range(3):
        quadrants = [labels[n, r:r + 12, c:c + 12] for r in (0, 12) for c in (0, 12)]
        assert all(q.unique().numel() == 1 for q in quadrants)
        assert sorted(int(q[0, 0]) for q in quadrants) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="size must be an int between 8 and 256"):
        stripe_scenes(1, 4)


def test_field_overlay_reddens_exactly_the_reached_pixels():
    block = MFEBlock(2, atrous_rates=(2, 4, 8))
    counts = tap_counts(block)[1]  # the 7×7 field of y1
    image = torch.full((1, 1, 20, 20), 0.5)
    rgb = field_overlay(image, counts, (2, 10))  # at the top border: the field's first row is cut
    red = (rgb[..., 0] - rgb[..., 1]) > 0.05
    assert rgb.shape == (20, 20, 3)
    assert _extent(red) == (6, 7) and red[0:6, 7:14].all()
    assert not red[6:].any() and not red[:, :7].any() and not red[:, 14:].any()
    with pytest.raises(ValueError, match="pixel must lie inside the 20×20 image"):
        field_overlay(image, counts, (20, 0))
    fig = plot_fields_on_photo(block, image, (10, 10))
    assert len(fig.axes) == 4 and "field 31×31" in fig.axes[3].get_title()


@pytest.fixture(scope="module")
def small_run():
    return train_stripe_periods(4, steps=3, size=16, batch=2, seed=0)


def test_training_changes_the_model_and_keeps_an_untrained_copy(small_run):
    run = small_run
    assert len(run.losses) == 3 and all(loss > 0 for loss in run.losses)
    assert not run.model.training and not run.untrained.training
    fresh = train_stripe_periods(4, steps=1, size=16, batch=2, seed=0).untrained
    for (key, a), b in zip(run.untrained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), f"{key}: the untrained copy is the seed's initial model"
    changed = [k for k, v in run.model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, run.untrained.state_dict()[k])]
    assert "mfe.layer4.0.weight" in changed and "mfe.SE4.conv.0.weight" in changed
    with pytest.raises(ValueError, match="steps must be an int ≥ 1"):
        train_stripe_periods(steps=0)
    with pytest.raises(ValueError, match="size must be an int between 8 and 256"):
        train_stripe_periods(size=300)
    state = torch.random.get_rng_state()
    train_stripe_periods(2, steps=1, size=8, batch=1)
    assert torch.equal(torch.random.get_rng_state(), state), "the global random stream is untouched"


def test_probes_score_each_view_and_the_pixel_alone_cannot_tell_the_period(small_run):
    model = small_run.model
    fit, test = stripe_scenes(2, 32, seed=1), stripe_scenes(2, 32, seed=2, photos=("chelsea",))
    probes = probe_branches(model, fit, test, iters=20)
    assert probes.names == ("x", "y0", "y1", "y2", "y3", "model")
    assert probes.recall.shape == (6, 4) and probes.maps.shape == (6, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(probes.maps[-1], model(test[0]).argmax(1))
    truth = test[1]
    for v in range(6):
        for k in range(4):
            assert probes.recall[v, k] == (probes.maps[v][truth == k] == k).float().mean()
        assert probes.accuracy[v] == (probes.maps[v] == truth).float().mean()
    # the stem is 1×1: the pixel alone sees ±a of every period alike, so its probe stays near chance
    assert probes.accuracy[0] < 0.45
    assert probes.row("y3")[16] == float(probes.recall[4, 3])
    fig = plot_stripe_periods(*test, probes)
    assert len(fig.axes) == 8 and fig.axes[7].get_title().startswith("trained model")


def test_scale_weights_figure_uses_the_reachable_range():
    before, after = torch.full((4, 3), 0.25), torch.tensor([[0.2, 0.3, 0.25]] * 4)
    fig = plot_scale_weights(before, after)
    image = fig.axes[1].images[0]
    assert image.get_clim() == pytest.approx((0.1092, 0.4754), abs=1e-4)
    assert "[0.20, 0.30]" in fig.axes[1].get_title()
    # the value in every cell, row by row: 4 scales × 3 channels per panel
    assert [t.get_text() for t in fig.axes[1].texts] == ["0.20", "0.30", "0.25"] * 4
    assert len(fig.axes[0].texts) == 12 and fig.axes[0].texts[0].get_text() == "0.25"


def test_play_swaps_the_rates_and_keeps_the_weights(small_run):
    model = small_run.model
    scenes = stripe_scenes(2, 32, seed=3, photos=("chelsea",))
    panel = play(model, scenes)
    assert panel.controls["atrous_rates"][0] == "2, 4, 8" and "6, 12, 18" in panel.controls["atrous_rates"]
    pictures, caption = panel.render()
    with torch.no_grad():
        answer = model(scenes[0]).argmax(1)
    accuracy = (answer == scenes[1]).float().mean()
    assert f"Pixels read right: {accuracy:.0%}" in caption and "fields 3, 7, 15, 31 px" in caption
    with torch.no_grad():  # the caption's weights are those of test scene 0, averaged over channels
        w0 = model.mfe.weights(model.stem(scenes[0][:1]))[0].mean(-1)
    assert "Weights of y0–y3 on test scene 0, mean over channels: " + " ".join(f"{float(v):.2f}" for v in w0) in caption
    assert len(pictures) == 4 and pictures[0].title.startswith("y3: field 31×31")
    pictures, caption = panel.render(atrous_rates="1, 2, 3", branch="y1", pixel="top left")
    assert "fields 3, 5, 9, 15 px" in caption and pictures[0].title.startswith("y1: field 5×5")
    other = StripePeriodNet(4, atrous_rates=(1, 2, 3))
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected = other.eval()(scenes[0]).argmax(1)
    shown = torch.as_tensor(pictures[2].rgb()).float() / 255
    colours = torch.tensor(((0.27, 0.47, 0.82), (0.35, 0.73, 0.38), (0.95, 0.75, 0.2), (0.84, 0.27, 0.3)))
    torch.testing.assert_close(shown, colours[expected[0]], atol=1 / 255, rtol=0)
    for key, values in panel.controls.items():
        for value in values:
            assert panel.render(**{key: value})[1]
