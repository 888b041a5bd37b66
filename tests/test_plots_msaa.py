"""fusionlab.plots.msaa: MSAA's intermediate tensors (read by hooks) and the figure drawn from them."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fusionlab import MSAA, GatedFusion  # noqa: E402
from fusionlab.plots import photo  # noqa: E402
from fusionlab.plots.msaa import msaa_internals, plot_msaa_paths  # noqa: E402


@pytest.fixture
def case():
    torch.manual_seed(0)
    block = MSAA(2 + 3 + 4, 32)
    xs = [torch.randn(2, c, 6, 7) for c in (2, 3, 4)]
    return block, xs


def test_internals_are_the_blocks_own_intermediates(case):
    block, xs = case
    parts = msaa_internals(block, *xs)
    fc = block.fusion_conv
    with torch.no_grad():
        f = fc.down(torch.cat(xs, dim=1))
        s = fc.conv_3x3(f) + fc.conv_5x5(f) + fc.conv_7x7(f)
        torch.testing.assert_close(parts["f"], f)
        torch.testing.assert_close(parts["conv_5x5"], fc.conv_5x5(f))
        torch.testing.assert_close(parts["spatial_response"], s)
        torch.testing.assert_close(parts["channel_weights"], fc.channel_attention(f))
        torch.testing.assert_close(parts["spatial_weights"], fc.spatial_attention(s))
        torch.testing.assert_close(parts["out"], block(*xs))
    d = block.inner_channels
    assert parts["channel_weights"].shape == (2, d, 1, 1) and parts["spatial_weights"].shape == (2, 1, 6, 7)
    assert ((parts["spatial_weights"] > 0) & (parts["spatial_weights"] < 1)).all()
    assert not any(parts[k].requires_grad for k in parts)


def test_internals_leave_no_hooks_behind(case):
    block, xs = case
    msaa_internals(block, *xs)
    assert all(not m._forward_hooks for m in block.modules())
    with pytest.raises(ValueError, match="MSAA"):  # the block's own input check still runs, hooks removed after
        msaa_internals(block, xs[0], xs[1], xs[1])
    assert all(not m._forward_hooks for m in block.modules())


def test_internals_reject_other_blocks():
    with pytest.raises(TypeError, match="expected a fusionlab MSAA block, got GatedFusion"):
        msaa_internals(GatedFusion(4), torch.randn(1, 2, 2, 4), torch.randn(1, 2, 2, 4), None)


def test_figure_shows_the_channel_weights_and_the_maps(case):
    block, xs = case
    parts = msaa_internals(block, *xs)
    image = photo("astronaut", size=12)
    fig = plot_msaa_paths(image, parts, sample=1, title="t")
    assert fig._suptitle.get_text() == "t"
    bars = fig.axes[0]
    heights = [p.get_height() for p in bars.patches]
    assert np.allclose(heights, parts["channel_weights"][1, :, 0, 0].numpy())
    assert bars.get_ylim() == (0.0, 1.0) and "CA" in bars.get_ylabel()
    titled = {ax.get_title(): ax for ax in fig.axes if ax.images}
    energy = parts["conv_7x7"][1].abs().mean(0).numpy()
    assert np.allclose(titled["7×7 branch: mean |value|"].images[0].get_array(), energy)
    s_energy = parts["spatial_response"][1].abs().mean(0).numpy()
    assert np.allclose(titled["s = their sum: mean |value|"].images[0].get_array(), s_energy)
    # the four branch maps share one colour scale, topped by the largest of them
    top = max(float(parts[k][1].abs().mean(0).max()) for k in ("conv_3x3", "conv_5x5", "conv_7x7", "spatial_response"))
    clims = {ax.images[0].get_clim() for t, ax in titled.items() if "mean |value|" in t}
    assert clims == {(0.0, top)}
    assert np.allclose(titled["SA(s): one weight per pixel"].images[0].get_array(), parts["spatial_weights"][1, 0].numpy())
    over = titled["SA(s) over the photo"]
    assert len(over.images) == 2 and over.images[1].get_array().shape == (12, 12)


def test_figure_errors(case):
    block, xs = case
    parts = msaa_internals(block, *xs)
    with pytest.raises(ValueError, match="sample must be in \\[0, 1\\], got 2"):
        plot_msaa_paths(photo("astronaut", 8), parts, sample=2)
    with pytest.raises(ValueError, match="lacks \\['spatial_weights'\\]"):
        plot_msaa_paths(photo("astronaut", 8), {k: v for k, v in parts.items() if k != "spatial_weights"})
