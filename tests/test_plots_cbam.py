"""fusionlab.plots.cbam: M_c and M_s of both CBAM blocks, and the figures drawn from them."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fusionlab import CBAM, CBAMBlock, GatedFusion  # noqa: E402
from fusionlab.cost import cost_growth  # noqa: E402
from fusionlab.plots import photo  # noqa: E402
from fusionlab.plots.cbam import attention_weights, plot_attention_pair, plot_param_growth  # noqa: E402


@pytest.fixture
def blocks():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 6)
    return x, CBAMBlock(channel=16, reduction=4, kernel_size=3, HW=30), CBAM(16, reduction=4, kernel_size=3).eval()


def test_attention_weights_are_what_each_block_multiplies(blocks):
    x, joint, cbam = blocks
    mc, ms = attention_weights(joint, x)
    out_c, out_s = joint(x)
    torch.testing.assert_close(out_c, x * mc)
    torch.testing.assert_close(out_s, x * ms)
    mc, ms = attention_weights(cbam, x)
    assert mc.shape == (2, 16, 1, 1) and ms.shape == (2, 1, 5, 6)
    torch.testing.assert_close(cbam(x), ms * (mc * x))  # CBAM: spatial gate on the channel-refined map
    # M_s is not the spatial gate of the raw input (the order matters)
    assert not torch.allclose(ms, cbam.spatial_weights(x))


def test_attention_weights_reject_other_blocks():
    with pytest.raises(TypeError, match="CBAMBlock or CBAM, got GatedFusion"):
        attention_weights(GatedFusion(4), torch.randn(1, 4, 2, 2))


def test_pair_figure_shows_each_blocks_weights(blocks):
    x, joint, cbam = blocks
    weights = {"joint": attention_weights(joint, x), "cbam": attention_weights(cbam, x)}
    fig = plot_attention_pair(photo("chelsea", 20), weights, sample=1, title="pair")
    assert fig._suptitle.get_text() == "pair"
    bars = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in bars] == ["joint: channel weights M_c", "cbam: channel weights M_c"]
    for ax, (mc, _) in zip(bars, weights.values()):
        assert np.allclose([p.get_height() for p in ax.patches], mc[1, :, 0, 0].numpy())
    maps = [ax for ax in fig.axes if ax.get_title().endswith("spatial weights M_s")]
    for ax, (_, ms) in zip(maps, weights.values()):
        assert np.allclose(ax.images[0].get_array(), ms[1, 0].numpy())
        assert ax.images[0].get_clim() == (float(ms[1, 0].min()), float(ms[1, 0].max()))
    overlays = [ax for ax in fig.axes if ax.get_title() == "M_s over the photo"]
    assert len(overlays) == 2 and all(ax.images[1].get_array().shape == (20, 20) for ax in overlays)


def test_pair_figure_errors(blocks):
    x, joint, _ = blocks
    with pytest.raises(ValueError, match="weights is empty"):
        plot_attention_pair(photo("chelsea", 8), {})
    with pytest.raises(ValueError, match="sample must be in \\[0, 1\\], got 5"):
        plot_attention_pair(photo("chelsea", 8), {"j": attention_weights(joint, x)}, sample=5)
    with pytest.raises(ValueError, match="must be \\(M_c"):
        plot_attention_pair(photo("chelsea", 8), {"j": (torch.rand(1, 4), torch.rand(1, 1, 3, 3))})


def test_param_growth_lines_are_the_counted_parameters():
    sides = (2, 4, 8)
    joint = cost_growth("cbam_joint", sides=sides, sizes={"C": 16}, reduction=4)
    cbam = cost_growth("cbam", sides=sides, sizes={"C": 16}, reduction=4)
    fig = plot_param_growth({"joint": joint, "cbam": cbam}, title="p")
    (ax,) = fig.axes
    assert ax.get_title() == "p" and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    joint_line, cbam_line = ax.get_lines()
    assert list(joint_line.get_xdata()) == [4, 16, 64]
    assert list(joint_line.get_ydata()) == [r["params"] for r in joint]
    # the joint MLP gains 2 · C/r weights per position; CBAM's parameters do not depend on H·W
    assert np.all(np.diff(joint_line.get_ydata()) == 2 * (16 // 4) * np.diff([4, 16, 64]))
    assert len(set(cbam_line.get_ydata())) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["joint", "cbam"]
    with pytest.raises(ValueError, match="growths is empty"):
        plot_param_growth({})
