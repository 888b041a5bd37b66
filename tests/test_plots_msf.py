"""fusionlab.plots.msf: the squeeze bounds, the weights they describe, and chapter 02's figures (checked on data)."""
import math

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from fusionlab import MSFBlock  # noqa: E402
from fusionlab.plots import photo  # noqa: E402
from fusionlab.plots.msf import (  # noqa: E402
    photo_scales,
    plot_scale_weights,
    plot_squeeze,
    squeeze_bounds,
    squeezed_weights,
)


def test_squeeze_bounds_closed_form():
    low, high = squeeze_bounds(4)
    assert low == pytest.approx(1 / (1 + 3 * math.e)) and high == pytest.approx(math.e / (math.e + 3))
    assert (round(low, 4), round(high, 4)) == (0.1092, 0.4754)
    two = squeeze_bounds(2)  # two scales: σ(a) − σ(b) ∈ (−1, 1), so the weight is σ of it
    assert two == pytest.approx((1 / (1 + math.e), math.e / (1 + math.e)))
    with pytest.raises(ValueError, match="n_scales must be an int ≥ 2"):
        squeeze_bounds(1)


@pytest.mark.parametrize("variant", ["blog", "paper"])
def test_block_weights_are_softmax_of_sigmoid_of_logits(variant):
    torch.manual_seed(0)
    block = MSFBlock(5, variant=variant).eval()
    xs = [torch.randn(3, 5, 4, 6) for _ in range(4)]
    logits = block.logits(*xs)
    assert logits.shape == (3, 4, 5)
    torch.testing.assert_close(block.weights(*xs), torch.softmax(torch.sigmoid(logits), dim=1))
    torch.testing.assert_close(squeezed_weights(logits), block.weights(*xs))


def test_squeezed_weights_equal_the_block_on_constant_maps():
    # SE_i = identity and constant inputs: GAP(x_i) = the constant, so the block's logits are the constants
    torch.manual_seed(1)
    c = 6
    block = MSFBlock(c).eval()
    with torch.no_grad():
        for se in (block.SE1, block.SE2, block.SE3, block.SE4):
            se.conv[0].weight.copy_(torch.eye(c)[:, :, None, None])
    logits = torch.randn(2, 4, c) * 4
    maps = [logits[:, i, :, None, None].expand(2, c, 3, 3) for i in range(4)]
    torch.testing.assert_close(squeezed_weights(logits), block.weights(*maps))


def test_weights_stay_inside_the_bounds_and_approach_them():
    low, high = squeeze_bounds(4)
    logits = torch.randn(5000, 4, 3, generator=torch.Generator().manual_seed(0)) * 20
    w = squeezed_weights(logits)
    assert (w >= low - 1e-6).all() and (w <= high + 1e-6).all()
    assert w.min() < low + 1e-3 and w.max() > high - 1e-3, "large logits come close to both bounds"
    plain = torch.softmax(logits, dim=1)
    assert plain.max() > 0.99 and plain.min() < 0.01


def test_squeezed_weights_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"logits must be a tensor \(B, S, C\)"):
        squeezed_weights(torch.zeros(4, 3))


def test_photo_scales_keep_size_and_mean_and_blur_more_with_the_factor():
    image = photo("camera", size=64, gray=True)
    scales = photo_scales(image, (1, 2, 4, 8))
    assert len(scales) == 4 and scales[0] is image
    assert all(s.shape == image.shape for s in scales)
    for s in scales:  # factors dividing 64: block averaging and the bilinear resize keep each channel's mean
        torch.testing.assert_close(s.mean(dim=(2, 3)), image.mean(dim=(2, 3)), rtol=0, atol=1e-5)
    detail = [(s[..., 1:, :] - s[..., :-1, :]).abs().mean().item() for s in scales]
    assert detail == sorted(detail, reverse=True), detail  # coarser scale, smaller pixel-to-pixel change
    with pytest.raises(ValueError, match="factors must be ints between 1 and"):
        photo_scales(image, (1, 128))


def test_plot_squeeze_curves_and_histograms():
    fig = plot_squeeze(4, max_gap=12.0, samples=2000)
    ax_gap, ax_hist = fig.axes[:2]
    low, high = squeeze_bounds(4)
    curves = {line.get_label(): line.get_ydata() for line in ax_gap.lines if not line.get_label().startswith("_")}
    assert set(curves) == {"plain softmax, winner", "softmax(σ(·)), winner", "plain softmax, loser",
                           "softmax(σ(·)), loser"}
    for y in curves.values():
        assert y[0] == pytest.approx(0.25)  # no gap: every scale weighs 1/4
    assert curves["plain softmax, winner"][-1] > 0.99 and curves["plain softmax, loser"][-1] < 0.01
    assert curves["softmax(σ(·)), winner"][-1] == pytest.approx(high, abs=0.01)
    assert max(curves["softmax(σ(·)), winner"]) < high
    # the loser's gap pushes the other three up together: its weight tends to 1 / (1 + 3e), the lower bound
    assert curves["softmax(σ(·)), loser"][-1] == pytest.approx(low, abs=0.01)
    bounds = sorted(line.get_xdata()[0] for line in ax_hist.lines)
    assert bounds == pytest.approx([low, high])
    plain_bars, squeezed_bars = ax_hist.patches[0], ax_hist.patches[1]
    xs = squeezed_bars.get_path().vertices[:, 0]
    ys = squeezed_bars.get_path().vertices[:, 1]
    occupied = xs[ys > 0]
    assert occupied.min() >= low - 0.011 and occupied.max() <= high + 0.011  # bins of width 0.01
    assert plain_bars.get_path().vertices[:, 0].max() == pytest.approx(1.0)


def test_plot_scale_weights_draws_the_values_and_frames_the_best_scale():
    torch.manual_seed(0)
    w = torch.softmax(torch.randn(4, 5), dim=0)
    error = torch.rand(4, 5)
    fig = plot_scale_weights({"a": w, "b": w[None].flip(1)}, error=error, channel_labels=list("vwxyz"))
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == ["a", "b", "error of each scale alone (lower is better)"]
    torch.testing.assert_close(torch.as_tensor(panels[0].images[0].get_array().data), w)
    torch.testing.assert_close(torch.as_tensor(panels[1].images[0].get_array().data), w.flip(0))
    texts = [t.get_text() for t in panels[0].texts]
    assert texts == [f"{float(w[s, c]):.2f}" for s in range(4) for c in range(5)]
    best = error.argmin(0)
    for ax in panels:
        framed = sorted((int(p.get_x() + 0.5), int(p.get_y() + 0.5)) for p in ax.patches)
        assert framed == sorted((c, int(best[c])) for c in range(5))
    assert [t.get_text() for t in panels[0].get_xticklabels()] == list("vwxyz")
    # the weight panels share one colour scale from 0 to 1
    assert panels[0].images[0].get_clim() == (0.0, 1.0) == panels[1].images[0].get_clim()


def test_plot_scale_weights_rejects_mismatched_panels():
    with pytest.raises(ValueError, match="every panel must have one shape"):
        plot_scale_weights({"a": torch.rand(4, 3), "b": torch.rand(4, 2)})
    with pytest.raises(ValueError, match="error must have the weights' shape"):
        plot_scale_weights({"a": torch.rand(4, 3)}, error=torch.rand(3, 4))
    with pytest.raises(ValueError, match="weights is empty"):
        plot_scale_weights({})


def test_noisy_scene_is_deterministic_and_the_best_scale_follows_the_noise():
    from fusionlab.plots.msf import noisy_scene

    a, b = noisy_scene(size=32, seed=3), noisy_scene(size=32, seed=3)
    torch.testing.assert_close(a.noisy, b.noisy)
    assert a.clean.shape == (1, 8, 32, 32) and len(a.scales) == 4
    torch.testing.assert_close(a.noisy[:, 0], a.clean[:, 0])  # channel 0 has σ = 0
    best = a.scale_errors().argmin(0)  # (C,)
    assert best[0] == 0 and best[-1] > 0, best  # the clean channel wants the sharp scale, the noisiest a blurred one
    with pytest.raises(ValueError, match="channels must be an int ≥ 1"):
        noisy_scene(channels=0)


def test_fit_squeezes_trains_only_the_squeezes_and_lowers_the_error():
    from fusionlab.blocks.msf import select_scales
    from fusionlab.plots.msf import fit_squeezes, noisy_scene

    scene = noisy_scene(size=24)
    torch.manual_seed(0)
    block = MSFBlock(8)
    project = {k: v.clone() for k, v in block.project.state_dict().items()}
    with torch.no_grad():
        before = (select_scales(scene.scales, block.weights(*scene.scales)) - scene.clean).square().mean().item()
    after = fit_squeezes(block, scene.scales, scene.clean, steps=30)
    assert after < before
    for k, v in block.project.state_dict().items():
        torch.testing.assert_close(v, project[k])  # the projection is left alone
    with pytest.raises(ValueError, match="must have squeeze layers"):
        fit_squeezes(torch.nn.Linear(2, 2), scene.scales, scene.clean)


def test_weight_bars_draw_each_weight_at_its_height():
    from fusionlab.plots.msf import weight_bars

    img = weight_bars(torch.tensor([1.0, 0.0, 0.5, 0.25]), torch.tensor([0.0, 1.0, 0.25, 0.5]), height=101)
    assert img.shape == (101, 96, 3)
    red = (img[..., 0] > 0.8) & (img[..., 2] < 0.3)
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.3)
    heights = lambda mask, col: int(mask[:, col].sum())  # noqa: E731
    assert [heights(red, 24 * i + 4) for i in range(4)] == [101, 1, 51, 26]  # bar of weight v: 100·v + 1 rows
    assert [heights(blue, 24 * i + 14) for i in range(4)] == [1, 101, 26, 51]


def test_play_shows_the_squeeze_on_the_photo():
    from fusionlab.plots.msf import play

    p = play(size=32)
    low, high = squeeze_bounds(4)
    pictures, caption = p.render(gap=0.0, winner=0, noise=0.0)
    fused_msf, fused_plain = pictures[1].data, pictures[2].data
    torch.testing.assert_close(fused_msf, fused_plain)  # no gap: both are the plain average
    pictures, caption = p.render(gap=12.0, winner=2, noise=0.2)
    w = squeezed_weights(torch.tensor([[-6.0], [-6.0], [6.0], [-6.0]])[None])[0, :, 0]
    assert f"scale 2 gets {w[2]:.3f} from MSF" in caption and "and 1.000 from a plain softmax" in caption
    assert w[2] < high
    from fusionlab.plots.msf import photo_scales

    clean = photo("astronaut", size=32)
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    scale2 = photo_scales(noisy)[2][0]
    torch.testing.assert_close(pictures[2].data, scale2, atol=1e-4, rtol=0)  # the plain softmax picks scale 2
    assert (pictures[1].data - scale2).abs().max() > 0.05  # MSF still mixes in the others


def test_play_moves_are_fast_enough_for_a_slider():
    from fusionlab.play import time_play
    from fusionlab.plots.msf import play

    timing = time_play(play, repeats=1)
    # the course target is 150 ms median on 2 cores; a loose bound keeps a busy CI machine from failing
    assert timing["median_ms"] < 300 and timing["first_visit_worst_ms"] < 1000, timing
