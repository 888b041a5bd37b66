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
    assert list(bars.get_xticks()) == list(range(len(heights)))  # integer channel indices, one per bar
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


# --------------------------------------------------------------- the chapter's task and play panel
from fusionlab.plots.msaa import (  # noqa: E402
    GATE_CHOICES, CutOut, disc_batch, gate_reading, msaa_parts, place_discs, play, train_cutout,
)


def test_disc_batch_pastes_stripes_inside_the_mask_only():
    backgrounds = torch.rand(2, 3, 50, 50)
    x, mask = disc_batch(4, 40, generator=torch.Generator().manual_seed(0), backgrounds=backgrounds)
    assert x.shape == (4, 3, 40, 40) and mask.shape == (4, 1, 40, 40)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    area = mask.mean(dim=(1, 2, 3))
    assert ((area > 0.02) & (area < 0.2)).all()  # radius 10–22 % of the side
    inside = x.permute(1, 0, 2, 3)[:, mask[:, 0].bool()]
    assert torch.equal(inside[0], inside[1]) and torch.equal(inside[1], inside[2])  # grey stripes: R = G = B
    again, _ = disc_batch(4, 40, generator=torch.Generator().manual_seed(0), backgrounds=backgrounds)
    assert torch.equal(x, again)
    with pytest.raises(ValueError, match="size=60 is larger than the backgrounds"):
        disc_batch(1, 60, generator=torch.Generator(), backgrounds=backgrounds)


def test_place_discs_and_its_errors():
    image = photo("astronaut", size=32)
    x, mask = place_discs(image, [(8, 8), (24, 24)], radius=4)
    assert mask[0, 0, 8, 8] == 1 and mask[0, 0, 24, 24] == 1 and mask[0, 0, 16, 16] == 0
    assert torch.equal(x * (1 - mask), image * (1 - mask))
    with pytest.raises(ValueError, match="one square RGB picture"):
        place_discs(torch.rand(1, 3, 8, 9), [(4, 4)])


@pytest.fixture(scope="module")
def trained():
    state = torch.random.get_rng_state()
    net, losses = train_cutout(steps=3, size=16, batch=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global random state is left alone
    return net, losses


def test_msaa_parts_defaults_equal_the_block_and_switches_act(case):
    block, xs = case
    parts = msaa_parts(block, *xs)
    with torch.no_grad():
        torch.testing.assert_close(parts["out"], block(*xs))
    hooked = msaa_internals(block, *xs)
    torch.testing.assert_close(parts["spatial_weights"], hooked["spatial_weights"])
    fc = block.fusion_conv
    only3 = msaa_parts(block, *xs, kernels=(3,))
    with torch.no_grad():
        torch.testing.assert_close(only3["spatial_response"], fc.conv_3x3(hooked["f"]))
    no_x2 = msaa_parts(block, *xs, scales=("x1", "x4"))
    with torch.no_grad():
        f = fc.down(torch.cat([xs[0], torch.zeros_like(xs[1]), xs[2]], dim=1))
    torch.testing.assert_close(no_x2["f"], f)
    assert (msaa_parts(block, *xs, gates=GATE_CHOICES[1])["spatial_weights"] == 1).all()
    assert (msaa_parts(block, *xs, gates=GATE_CHOICES[2])["channel_weights"] == 0.5).all()
    with pytest.raises(ValueError, match="kernels must be a non-empty subset"):
        msaa_parts(block, *xs, kernels=(9,))
    with pytest.raises(ValueError, match="gates must be one of"):
        msaa_parts(block, *xs, gates="off")
    with pytest.raises(TypeError, match="expected a fusionlab MSAA block"):
        msaa_parts(GatedFusion(4), *xs)


def test_train_cutout_runs_and_validates(trained):
    net, losses = trained
    assert isinstance(net, CutOut) and not net.training and len(losses) == 3
    assert all(l > 0 for l in losses)
    with pytest.raises(ValueError, match="size must be divisible by 4"):
        train_cutout(steps=1, size=18)
    with pytest.raises(ValueError, match="steps must be an int ≥ 1, got 0"):
        train_cutout(steps=0)


def test_gate_reading_numbers_match_the_parts(trained):
    net, _ = trained
    x, mask = disc_batch(3, 16, generator=torch.Generator().manual_seed(2))
    r = gate_reading(net, x, mask)
    parts = msaa_parts(net.msaa, *net.scales(x))
    sa = parts["spatial_weights"]
    assert r["sa_inside"] == pytest.approx(sa[mask.bool()].mean().item())
    assert r["sa_outside"] == pytest.approx(sa[~mask.bool()].mean().item())
    with torch.no_grad():
        assert r["error"] == pytest.approx(torch.nn.functional.mse_loss(net(x), x * mask).item(), rel=1e-5)
    assert r["error_erase_nothing"] == pytest.approx((x * mask).pow(2).mean().item())
    assert 0 < r["ca_min"] <= r["ca_max"] < 1


def test_play_moves_change_the_pictures(trained):
    net, _ = trained
    panel = play(net, side=32, radius=4)
    pictures, caption = panel.render()
    assert [p.title.split(":")[0] for p in pictures] == ["input", "SA(s)", "CA(f)", "output"]
    assert "SA mean on the disc" in caption
    moved, _ = panel.render(disc="flag")
    assert not torch.equal(moved[0].data, pictures[0].data) and not torch.equal(moved[1].data, pictures[1].data)
    opened, caption_open = panel.render(gates=GATE_CHOICES[1])
    assert (opened[1].data == 1).all() and caption_open != caption
    one, _ = panel.render(kernels="7×7 only")
    assert not torch.equal(one[3].data, pictures[3].data)


@pytest.mark.slow_extra
def test_one_learning_rate_collapses_the_gate():
    """Chapter 06, section 4.2: with one learning rate for everything the spatial gate shuts (SA < 0.02)
    nearly everywhere, the disc included, and the error stays near the all-black answer's; the chapter's
    own learning rate for the gate keeps it open. Two full trainings, so `make test-slow` runs it."""
    from fusionlab.plots import photo

    # the chapter's held-out pictures: discs on the astronaut, which training never sees
    x, mask = disc_batch(64, 80, generator=torch.Generator().manual_seed(1), backgrounds=photo("astronaut", size=128))
    collapsed = gate_reading(train_cutout(gate_lr=None, seed=0)[0], x, mask)
    kept = gate_reading(train_cutout(seed=0)[0], x, mask)
    assert collapsed["closed_inside"] > 0.99 and collapsed["closed_outside"] > 0.99, collapsed
    assert collapsed["error"] > 0.5 * collapsed["error_erase_nothing"], collapsed
    assert kept["closed_inside"] < 0.5 and collapsed["error"] > 2 * kept["error"], (kept, collapsed)
