"""Chapter 04's figures (fusionlab.plots.safm) and the SAFM methods they read (pyramid, levels, attention)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from fusionlab import SAFM  # noqa: E402
from fusionlab.plots.safm import plot_modulation, plot_pyramid  # noqa: E402


def _images(fig):
    """Every AxesImage's data, axes in creation order (colour-bar axes hold none)."""
    return [(ax, im.get_array()) for ax in fig.axes for im in ax.get_images()]


@pytest.mark.parametrize("n_levels, shape", [(4, (2, 12, 32, 24)), (3, (1, 6, 9, 13)), (1, (1, 3, 5, 5))])
def test_pyramid_is_each_group_max_pooled_to_its_level_size(n_levels, shape):
    torch.manual_seed(0)
    block = SAFM(shape[1], n_levels=n_levels)
    x = torch.randn(shape)
    h, w = shape[-2:]
    groups = x.chunk(n_levels, dim=1)
    pooled = block.pyramid(x)
    assert len(pooled) == n_levels
    assert torch.equal(pooled[0], groups[0])
    for i in range(1, n_levels):
        assert pooled[i].shape == (shape[0], shape[1] // n_levels, h // 2**i, w // 2**i)
        torch.testing.assert_close(pooled[i], F.adaptive_max_pool2d(groups[i], (h // 2**i, w // 2**i)))
    # levels = DW conv of the pyramid, brought back to H×W; the block's output fuses them
    levels = block.levels(x)
    for i, (p, s) in enumerate(zip(pooled, levels)):
        expected = block.mfr[i](p)
        if i:
            expected = F.interpolate(expected, size=(h, w), mode="nearest")
        torch.testing.assert_close(s, expected)
    torch.testing.assert_close(block(x), F.gelu(block.aggr(torch.cat(levels, 1))) * x)


def test_pyramid_checks_its_input_like_forward():
    with pytest.raises(ValueError, match="SAFM: x has spatial size 7×7"):
        SAFM(36).pyramid(torch.randn(1, 36, 7, 7))


def test_plot_pyramid_draws_the_blocks_own_maps():
    torch.manual_seed(0)
    picture = torch.rand(1, 3, 32, 32)
    x = picture.repeat(1, 4, 1, 1)  # four RGB groups
    block = SAFM(12)
    fig = plot_pyramid(block, x)
    images = _images(fig)
    assert len(images) == 8  # 4 pooled maps + 4 levels
    pooled, levels = images[:4], images[4:]
    with torch.no_grad():
        expected_pooled = block.pyramid(x)
        expected_levels = block.levels(x)
    for i, (ax, data) in enumerate(pooled):
        side = 32 // 2**i
        assert data.shape == (side, side, 3), "an RGB group is drawn in colour at its own size"
        np.testing.assert_allclose(data, expected_pooled[i][0].permute(1, 2, 0).clamp(0, 1).numpy(), atol=1e-6)
        assert f"{side}×{side}" in ax.get_title()
    for i, (ax, data) in enumerate(levels):
        assert data.shape == (32, 32)
        np.testing.assert_allclose(data, expected_levels[i][0].mean(0).numpy(), atol=1e-6)
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 4, "one colour bar per level map, none on RGB pictures"


def test_plot_pyramid_averages_groups_that_are_not_rgb():
    torch.manual_seed(0)
    block = SAFM(8, n_levels=4)  # groups of 2 channels
    x = torch.randn(1, 8, 16, 16)
    fig = plot_pyramid(block, x)
    (_, top0), (_, top1) = _images(fig)[:2]
    with torch.no_grad():
        pooled = block.pyramid(x)
    np.testing.assert_allclose(top1, pooled[1][0].mean(0).numpy(), atol=1e-6)
    assert top0.shape == (16, 16) and top1.shape == (8, 8)


def test_plot_modulation_shows_input_gain_output_and_target():
    torch.manual_seed(0)
    block = SAFM(12)
    x = torch.rand(1, 12, 16, 16)
    target = torch.rand(1, 12, 16, 16)
    fig = plot_modulation(block, x, target=target)
    images = _images(fig)
    assert len(images) == 4
    with torch.no_grad():
        gain, out = block.attention(x)[0], block(x)[0]
    np.testing.assert_allclose(images[0][1], x[0, :3].permute(1, 2, 0).numpy(), atol=1e-6)
    np.testing.assert_allclose(images[1][1], gain.mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(images[2][1], out[:3].clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-6)
    np.testing.assert_allclose(images[3][1], target[0, :3].permute(1, 2, 0).numpy(), atol=1e-6)
    assert "modulation" in images[1][0].get_title() and "target" in images[3][0].get_title()
    assert len(_images(plot_modulation(block, x))) == 3


# ---------------------------------------------------------------- the shadow task and the play

from fusionlab.plots import photo  # noqa: E402
from fusionlab.plots import safm as safm_plots  # noqa: E402
from fusionlab.plots.safm import play, plot_restoration, shading_map, shadow_fit  # noqa: E402


def test_shading_map_is_a_soft_diagonal_shadow():
    s = shading_map(20, 30, darkest=0.25)
    assert s.shape == (20, 30)
    expected = lambda r, c: 0.25 + 0.75 * torch.sigmoid(torch.tensor((r + c - 25) / 6.0))  # noqa: E731
    torch.testing.assert_close(s[0, 0], expected(0, 0))  # the darkest corner, upper left
    torch.testing.assert_close(s[-1, -1], expected(19, 29))  # the lightest, lower right
    assert s[0, 0] < 0.27 and s[-1, -1] > 0.98
    assert torch.all(s[:, 1:] >= s[:, :-1]) and torch.all(s[1:] >= s[:-1])  # brighter to the right and down
    assert torch.equal(shading_map(20, 30, shadow="lower right"), shading_map(20, 30).flip(0, 1))
    assert torch.equal(shading_map(5, 7, shadow="none"), torch.ones(5, 7))
    with pytest.raises(ValueError, match="shadow must be one of 'upper left', 'lower right', 'none'; got 'left'"):
        shading_map(4, 4, shadow="left")
    with pytest.raises(ValueError, match="darkest must be in"):
        shading_map(4, 4, darkest=0.0)


def test_shadow_fit_trains_one_block_per_level_count_on_rgb_groups():
    picture = photo("astronaut", size=24)
    fit = shadow_fit(picture, 3, steps=25)
    assert fit.n_levels == 3 and fit.block.dim == 9
    shadowed = picture * shading_map(24, 24)
    for group in fit.x.chunk(3, dim=1):  # every group is the shadowed photo itself
        torch.testing.assert_close(group, shadowed)
    torch.testing.assert_close(fit.target, picture.repeat(1, 3, 1, 1))
    assert len(fit.losses) == 25 and fit.losses[-1] < fit.losses[0]
    assert fit.error_after < 0.6 * fit.error_before, "25 Adam steps undo part of the shadow"
    again = shadow_fit(picture, 3, steps=25)  # same seed: same weights
    for a, b in zip(fit.block.state_dict().values(), again.block.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"picture must be an RGB tensor \(1, 3, H, W\), got \(1, 1, 8, 8\)"):
        shadow_fit(torch.rand(1, 1, 8, 8))


def test_plot_restoration_draws_input_each_output_and_target():
    picture = photo("coffee", size=16)
    fits = {"3×3 only": shadow_fit(picture, 1, steps=3), "SAFM": shadow_fit(picture, 2, steps=3)}
    fig = plot_restoration(fits)
    images = _images(fig)
    assert len(images) == 4
    np.testing.assert_allclose(images[0][1], fits["SAFM"].x[0, :3].permute(1, 2, 0).numpy(), atol=1e-6)
    with torch.no_grad():
        out = fits["SAFM"].block(fits["SAFM"].x)[0, :3].clamp(0, 1)
    np.testing.assert_allclose(images[2][1], out.permute(1, 2, 0).numpy(), atol=1e-6)
    assert f"{fits['SAFM'].error_after:.4f}" in images[2][0].get_title()
    np.testing.assert_allclose(images[3][1], picture[0].permute(1, 2, 0).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="at least one"):
        plot_restoration({})


def _fits(size=32, steps=2):
    picture = photo("astronaut", size=size)
    return {n: shadow_fit(picture, n, steps=steps) for n in (1, 2, 3, 4)}


def test_play_draws_the_blocks_own_pyramid_gain_and_output(monkeypatch):
    fits = _fits()
    monkeypatch.setattr(safm_plots, "shadow_fit", lambda *a, **k: pytest.fail("given fits must not be retrained"))
    p = play(size=32, fits=fits)
    assert p.values() == {"n_levels": 4, "photo": "astronaut", "shadow": "upper left"}
    for n in (1, 2, 3, 4):
        for shadow in ("upper left", "none"):
            pictures, caption = p.render(n_levels=n, photo="coffee", shadow=shadow)
            assert len(pictures) == n + 2  # level 0 = x, the n − 1 pooled groups, the gain, the output
            x = (photo("coffee", size=32) * shading_map(32, 32, shadow=shadow)).repeat(1, n, 1, 1)
            block = fits[n].block
            with torch.no_grad():
                pooled, gain = block.pyramid(x), block.attention(x)
            torch.testing.assert_close(torch.as_tensor(pictures[0].data), x[0, :3].clamp(0, 1))
            for i in range(1, n):
                torch.testing.assert_close(torch.as_tensor(pictures[i].data), pooled[i][0].clamp(0, 1))
                side = 32 // 2**i
                assert f"{side}×{side}" in pictures[i].title
            torch.testing.assert_close(torch.as_tensor(pictures[n].data), gain[0].mean(0))
            assert (pictures[n].vmin, pictures[n].vmax) == (0.0, 5.0)
            torch.testing.assert_close(torch.as_tensor(pictures[n + 1].data), (gain * x)[0, :3].clamp(0, 1))
            target = photo("coffee", size=32).repeat(1, n, 1, 1)
            err = ((gain * x) - target).square().mean().item()
            assert f"output {err:.4f} (trained on astronaut)" in caption
            assert ("no shadow" in caption) == (shadow == "none")


def test_play_trains_only_the_missing_level_counts(monkeypatch):
    fits = _fits(size=16, steps=1)
    trained = []
    real = safm_plots.shadow_fit

    def counting(picture, n, **kwargs):
        trained.append(n)
        return real(picture, n, **kwargs)

    monkeypatch.setattr(safm_plots, "shadow_fit", counting)
    p = play(size=16, steps=1, fits={n: fits[n] for n in (1, 4)})
    assert sorted(trained) == [2, 3]
    pictures, caption = p.render(n_levels=2)
    assert len(pictures) == 4 and "brightened" in caption


def test_shadow_fit_trains_a_given_variant_from_the_same_start():
    picture = photo("astronaut", size=16)

    class AvgSAFM(SAFM):  # a learner's modification: average pooling for the coarse levels
        @staticmethod
        def _pool(part, size):
            return F.adaptive_avg_pool2d(part, size)

    torch.manual_seed(0)
    variant = AvgSAFM(6, n_levels=2)
    plain = shadow_fit(picture, 2, steps=0)
    for a, b in zip(variant.state_dict().values(), plain.block.state_dict().values()):
        assert torch.equal(a, b), "seeding before building gives SAFM's initial weights"
    fit = shadow_fit(picture, block=variant, steps=3, n_levels=4)  # the block's n_levels wins
    assert fit.block is variant and fit.x.shape == (1, 6, 16, 16) and len(fit.losses) == 3
    with pytest.raises(ValueError, match="block must have an int attribute n_levels"):
        shadow_fit(picture, block=torch.nn.Identity())
