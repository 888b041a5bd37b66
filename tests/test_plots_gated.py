"""fusionlab.plots.gated: exposures, the gate's training, its curve and the play panel (checked on data)."""
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from fusionlab import GatedFusion  # noqa: E402
from fusionlab.plots.gated import exposures, gate_curve, play, plot_gate_curve, train_gate  # noqa: E402


def _rgb(side=16, seed=0):
    return torch.rand(1, side, side, 3, generator=torch.Generator().manual_seed(seed))


def test_exposures_keep_one_range_each():
    rgb = _rgb()
    x1, x2 = exposures(rgb, clip=0.6, lift=0.4)
    low, high = rgb <= 0.6, rgb >= 0.4
    assert torch.equal(x1[low], rgb[low]) and (x1[~low] == 0.6).all()
    assert torch.equal(x2[high], rgb[high]) and (x2[~high] == 0.4).all()
    with pytest.raises(ValueError, match="clip must be a number between 0 and 1, got 1.5"):
        exposures(rgb, clip=1.5)
    with pytest.raises(ValueError, match=r"channels-last tensor \(..., 3\), got \(1, 3, 4, 4\)"):
        exposures(torch.rand(1, 3, 4, 4))


def test_training_beats_the_plain_average_and_is_reproducible():
    rgb = _rgb(24)
    x1, x2 = exposures(rgb)
    fit = train_gate(x1, x2, rgb, steps=60, record=(10, 30))
    assert sorted(fit.states) == [0, 10, 30, 60] and len(fit.losses) == 60
    with torch.no_grad():
        error = (fit.block(x1, x2) - rgb).square().mean().item()
    average = ((x1 + x2) / 2 - rgb).square().mean().item()
    assert error < average / 5, (error, average)
    assert fit.losses[-1] < fit.losses[0]
    again = train_gate(x1, x2, rgb, steps=60)
    torch.testing.assert_close(again.block.fc1.weight, fit.block.fc1.weight, rtol=0, atol=0)
    # step 0 is the seeded initial block, untouched by training
    torch.manual_seed(0)
    fresh = GatedFusion(3)
    torch.testing.assert_close(fit.states[0]["fc1.weight"], fresh.fc1.weight, rtol=0, atol=0)


def test_training_leaves_the_global_rng_alone():
    rgb = _rgb()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train_gate(*exposures(rgb), rgb, steps=2, pixels=10)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_training_errors_name_the_argument():
    rgb = _rgb()
    with pytest.raises(ValueError, match="steps must be an int ≥ 0, got -1"):
        train_gate(rgb, rgb, rgb, steps=-1)
    with pytest.raises(ValueError, match="pixels must be None"):
        train_gate(rgb, rgb, rgb, pixels=0)
    with pytest.raises(ValueError, match="x2 must be a tensor of the target's shape"):
        train_gate(rgb, rgb[:, :4], rgb)


def test_gate_curve_bins_by_value():
    value = torch.tensor([0.05, 0.1, 0.55, 0.95, 1.0])
    z = torch.tensor([1.0, 0.5, 0.2, 0.0, 0.4])
    centres, mean, count = gate_curve(z, value, bins=4)
    torch.testing.assert_close(centres, torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert count.tolist() == [2, 0, 1, 2]
    assert mean[0].item() == pytest.approx(0.75) and math.isnan(mean[1].item())
    assert mean[2].item() == pytest.approx(0.2) and mean[3].item() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="one shape"):
        gate_curve(z, value[:3])


def test_trained_gate_takes_x1_in_the_shadows_and_x2_in_the_highlights():
    rgb = _rgb(32)
    x1, x2 = exposures(rgb, clip=0.6, lift=0.4)
    fit = train_gate(x1, x2, rgb, steps=100)
    with torch.no_grad():
        z = fit.block.gate(x1, x2)
    _, mean, _ = gate_curve(z, rgb, bins=10)
    assert mean[:3].min() > 0.8 and mean[7:].max() < 0.2, mean  # below lift: x1; above clip: x2
    fig = plot_gate_curve({"trained": (z, rgb)}, clip=0.6, lift=0.4)
    assert len(fig.axes[0].lines) == 1


@pytest.fixture(scope="module")
def panel():
    return play(size=32, pixels=256)


def test_play_moves_change_what_is_drawn(panel):
    pictures, caption = panel.render()
    assert len(pictures) == 5 and "after 50 steps" in caption
    z_of = lambda **move: panel.render(**move)[0][2].data  # the gate map (H, W)
    untrained, trained = z_of(steps=0), z_of()
    assert untrained.std() < trained.std()  # an untrained gate is nearly flat; training spreads it
    assert z_of(bias=4.0).mean() > trained.mean() > z_of(bias=-4.0).mean()  # b pushes every z the same way
    assert "in neither input" in panel.render(clip=0.3, lift=0.7)[1]
    assert "in neither input" not in caption


def test_play_resumed_training_equals_one_run(panel):
    panel.render(steps=25)
    resumed = panel.render(steps=100)[0][3].data  # trained 50 (default) then continued to 100
    fresh = play(size=32, pixels=256).render(steps=100)[0][3].data
    torch.testing.assert_close(resumed, fresh)


def test_play_widget_redraws_on_a_move(panel):
    from fusionlab.play import play_widget

    box = play_widget(panel)
    controls, caption = box.children[1].children, box.children[3]
    before = caption.value
    controls[3].value = 4.0  # the bias slider
    assert caption.value != before and "bias +4" in caption.value
