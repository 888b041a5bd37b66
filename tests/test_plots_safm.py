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
