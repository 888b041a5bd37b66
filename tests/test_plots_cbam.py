"""fusionlab.plots.cbam: M_c and M_s of both CBAM blocks, and the figures drawn from them."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from fusionlab import CBAM, CBAMBlock, GatedFusion  # noqa: E402
from fusionlab import cost_growth  # noqa: E402
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


# --- the spotlight task, its readings and the play -----------------------------------------------------------------

from fusionlab.play import time_play  # noqa: E402
from fusionlab.plots.cbam import (Spotlight, mask_reading, play, plot_masks_across, position_templates,  # noqa: E402
                                  striped_discs, train_spotlight)


def test_striped_discs_paste_stripes_inside_the_mask_only():
    bg = torch.rand(2, 3, 40, 40)
    x, mask = striped_discs(6, 24, generator=torch.Generator().manual_seed(0), backgrounds=bg)
    assert x.shape == (6, 3, 24, 24) and mask.shape == (6, 1, 24, 24)
    assert set(mask.unique().tolist()) == {0.0, 1.0} and (mask.sum(dim=(1, 2, 3)) > 0).all()
    inside = mask.expand_as(x).bool()
    gray = x[:, 0:1].expand_as(x)
    assert torch.equal(x[inside], gray[inside])  # the disc is gray stripes, the same in R, G, B
    assert x.min() >= 0 and x.max() <= 1
    again, _ = striped_discs(6, 24, generator=torch.Generator().manual_seed(0), backgrounds=bg)
    assert torch.equal(x, again)
    with pytest.raises(ValueError, match="size must be an int in \\[8, 40\\]"):
        striped_discs(1, 64, generator=torch.Generator(), backgrounds=bg)


def test_train_spotlight_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    net, losses = train_spotlight("cbam_joint", size=16, steps=3, batch=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert isinstance(net, Spotlight) and not net.training and len(losses) == 3
    assert train_spotlight("cbam_joint", size=16, steps=3, batch=2)[1] == losses
    with pytest.raises(ValueError, match="kind must be 'cbam_joint' or 'cbam', got 'se'"):
        train_spotlight("se")


def test_mask_reading_and_templates_of_a_known_joint_mask():
    torch.manual_seed(0)
    block = CBAMBlock(8, reduction=2, kernel_size=3, HW=16 * 16)
    net = Spotlight(block, 8).eval()
    x, mask = striped_discs(4, 16, generator=torch.Generator().manual_seed(1), backgrounds=torch.rand(1, 3, 20, 20))
    # M_s is σ of a non-negative mix of the templates, with the hidden activations h as weights
    f, _, ms = net.gates(x)
    a = torch.cat([block.ChannelAttention.logits(f), block.SpatialAttention.logits(f).flatten(1)], 1)
    h = torch.relu(a @ block.MLP[0].weight[:, :, 0, 0].T)  # (B, C/r)
    templates = position_templates(block, (16, 16))
    assert templates.shape == (4, 16, 16)
    torch.testing.assert_close(ms[:, 0], torch.sigmoid(torch.einsum("bj,jhw->bhw", h, templates)))
    with torch.no_grad():
        block.MLP[2].weight.zero_()  # every gate σ(0) = 0.5, for every input
    reading = mask_reading(net, x, mask)
    assert reading["spread"] == 0 and reading["inside"] == reading["outside"] == 0.5
    assert reading["error_zero"] == pytest.approx((x * mask).pow(2).mean().item())
    with pytest.raises(ValueError, match="size 8×8 = 64 positions, but the block was built for HW=256"):
        position_templates(block, (8, 8))


def test_masks_across_draws_each_mask_with_its_spread():
    x, mask = striped_discs(3, 16, generator=torch.Generator().manual_seed(2), backgrounds=torch.rand(1, 3, 20, 20))
    same = torch.rand(1, 1, 16, 16).expand(3, -1, -1, -1)
    fig = plot_masks_across(x, {"fixed": same, "moving": mask}, disc=mask, title="m")
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels[0] == "fixed\nM_s (spread 0.000)"
    assert labels[1] == f"moving\nM_s (spread {mask.std(0, unbiased=False).mean():.3f})"
    with pytest.raises(ValueError, match="must be \\(N, 1, H, W\\) with N = 3"):
        plot_masks_across(x, {"bad": same[:2]})


def test_play_defaults_are_the_trained_gates_and_controls_change_them():
    nets = {kind: train_spotlight(kind, size=16, steps=2, batch=2, channels=8, reduction=2)[0]
            for kind in ("cbam", "cbam_joint")}
    x, mask = striped_discs(3, 16, generator=torch.Generator().manual_seed(4), backgrounds=torch.rand(1, 3, 20, 20))
    p = play(nets, x, mask)
    assert p.controls["reduction"] == (2, 4, 8) and p.controls["kernel_size"] == (7, 5, 3, 1)
    pictures, caption = p.render(picture=2)
    for name, picture in (("cbam", pictures[1]), ("cbam_joint", pictures[2])):
        torch.testing.assert_close(picture.data, nets[name].gates(x)[2][1, 0])
    assert caption.startswith("4 hidden unit(s) per MLP, 7×7 kernel")
    cut = p.render(picture=2, kernel_size=1)[0]
    assert not torch.allclose(cut[1].data, pictures[1].data)
    assert p.render(reduction=8)[1].startswith("1 hidden unit(s)")
    timing = time_play(lambda: play(nets, x, mask), repeats=1)
    assert timing["moves"] == 3 + 3 + 4


def test_spotlight_and_play_reject_wrong_arguments():
    with pytest.raises(TypeError, match="block must be a fusionlab CBAMBlock or CBAM, got GatedFusion"):
        Spotlight(GatedFusion(4), 4)
    with pytest.raises(ValueError, match="channels=8, but the block was built for 16 channels; pass channels=16"):
        Spotlight(CBAM(16, reduction=4), 8)
    with pytest.raises(ValueError, match="nets must have the keys 'cbam' and 'cbam_joint'"):
        play({"cbam": None}, torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16))
