"""Chapter 05's figures (fusionlab.plots.osra) and OSRAttention.attention, which they read."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from fusionlab import OSRAttention  # noqa: E402
from fusionlab.blocks.osra import DEFAULT_MAX_ATTN_BYTES  # noqa: E402
from fusionlab.plots.osra import (attention_bytes, colour_features, colour_similarity_block, key_windows,  # noqa: E402
                                  plot_attention_memory, plot_query_attention, plot_reduction_grid,
                                  window_coverage)


def _randomized(block):
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)
    return block.eval()


# ---------------------------------------------------------------- OSRAttention.attention


@pytest.mark.parametrize("sr_ratio, heads, shape", [(2, 4, (2, 16, 7, 9)), (1, 2, (1, 8, 5, 4)), (4, 1, (1, 8, 12, 12))])
def test_attention_rows_are_the_weights_forward_applies(sr_ratio, heads, shape):
    torch.manual_seed(0)
    block = _randomized(OSRAttention(shape[1], num_heads=heads, sr_ratio=sr_ratio))
    x = torch.randn(shape)
    b, c, h, w = shape
    h2, w2 = block.reduced_size(h, w)
    with torch.no_grad():
        attn = block.attention(x)
        _, _, v = block.project(x)
        out = block(x)
    assert attn.shape == (b, heads, h * w, h2 * w2)
    torch.testing.assert_close(attn.sum(-1), torch.ones(b, heads, h * w))
    torch.testing.assert_close((attn @ v).transpose(-1, -2).reshape(b, c, h, w), out)


def test_attention_adds_the_position_bias():
    torch.manual_seed(0)
    block = _randomized(OSRAttention(8, num_heads=2, sr_ratio=2))
    x = torch.randn(1, 8, 6, 6)
    bias = torch.randn(1, 2, 36, 9)
    with torch.no_grad():
        q, k, v = block.project(x)
        expected = ((q * block.scale) @ k.transpose(-1, -2) + bias).softmax(-1)
        torch.testing.assert_close(block.attention(x, bias), expected)
        torch.testing.assert_close((expected @ v).transpose(-1, -2).reshape(1, 8, 6, 6), block(x, bias))
    with pytest.raises(ValueError, match="OSRAttention: x must have 8 channels"):
        block.attention(torch.randn(1, 4, 6, 6))


# ---------------------------------------------------------------- geometry


@pytest.mark.parametrize("sr_ratio, side", [(2, 7), (3, 10), (4, 64), (8, 64), (1, 5)])
def test_key_windows_follow_the_reduction_conv(sr_ratio, side):
    block = OSRAttention(8, num_heads=1, sr_ratio=sr_ratio)
    rows, cols = key_windows(block, side, side + 3)
    h2, w2 = block.reduced_size(side, side + 3)
    assert (len(rows), len(cols)) == (h2, w2)
    kernel = 1 if sr_ratio == 1 else sr_ratio + 3
    assert all(stop - start == kernel for start, stop in rows + cols)
    assert all(b[0] - a[0] == sr_ratio for a, b in zip(rows, rows[1:]))
    if sr_ratio > 1:
        assert rows[0][0] == -((sr_ratio + 3) // 2), "the first window starts in the padding"
        assert rows[0][1] - rows[1][0] == 3, "neighbouring windows share 3 pixels"


@pytest.mark.parametrize("sr_ratio, side", [(2, 7), (3, 10), (4, 64), (8, 64), (1, 5), (2, 2)])
def test_window_coverage_counts_the_windows_over_each_pixel(sr_ratio, side):
    block = OSRAttention(8, num_heads=1, sr_ratio=sr_ratio)
    coverage = window_coverage(block, side, side + 1)
    rows, cols = key_windows(block, side, side + 1)
    brute = torch.zeros(side, side + 1)
    for r0, r1 in rows:
        for c0, c1 in cols:
            brute[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] += 1
    assert torch.equal(coverage, brute)


def test_coverage_finds_the_rows_no_window_reads():
    coverage = window_coverage(OSRAttention(8, num_heads=1, sr_ratio=8), 64, 64)
    assert (coverage.amax(dim=1) == 0).nonzero().flatten().tolist() == [62, 63]
    assert coverage[:62, :62].min() >= 1 and coverage.max() == 4
    assert torch.equal(window_coverage(OSRAttention(8, num_heads=1, sr_ratio=1), 6, 6), torch.ones(6, 6))


# ---------------------------------------------------------------- the hand-set block


@pytest.mark.parametrize("variant, tol", [("blog", 1e-5), ("paper", 1e-3)])
def test_colour_block_attends_by_mean_squared_colour_distance(variant, tol):
    torch.manual_seed(0)
    image = torch.rand(1, 3, 20, 24)
    sharpness, r = 30.0, 4
    block = colour_similarity_block(sr_ratio=r, sharpness=sharpness, variant=variant)
    x = colour_features(image)
    assert not block.training and x.shape == (1, 4, 20, 24)
    k, p = r + 3, (r + 3) // 2
    # padded pixels count as black (c' = 0), exactly as the zero-padded conv sees them
    mean_c = F.avg_pool2d(image, k, r, p, count_include_pad=True).flatten(2)[0]            # (3, keys)
    mean_sq = F.avg_pool2d(image.square().sum(1, keepdim=True), k, r, p, count_include_pad=True).flatten(2)[0, 0]
    with torch.no_grad():
        attn = block.attention(x)[0, 0]                                                       # (HW, keys)
    for row, col in [(0, 0), (10, 12), (19, 23), (5, 17)]:
        c = image[0, :, row, col]
        distance = c.square().sum() - 2 * c @ mean_c + mean_sq                                # mean |c − c'|²
        expected = (-sharpness / 2 * distance).softmax(-1)
        torch.testing.assert_close(attn[row * 24 + col], expected, atol=tol, rtol=0)


def test_colour_block_looks_at_its_own_colour():
    image = torch.zeros(1, 3, 32, 32)
    image[:, 0, :, :16] = 1.0  # red left half
    image[:, 2, :, 16:] = 1.0  # blue right half
    block = colour_similarity_block(sr_ratio=4)
    with torch.no_grad():
        attn = block.attention(colour_features(image))[0, 0].view(32 * 32, 8, 8)
    # key column b reads columns 4b − 3 … 4b + 3: b ≤ 3 lies in the red half (or its padding), b ≥ 5 in the blue
    left_keys = attn[:, :, :4].sum(-1).sum(-1)
    right_keys = attn[:, :, 5:].sum(-1).sum(-1)
    red_query, blue_query = 16 * 32 + 4, 16 * 32 + 28
    assert left_keys[red_query] > 0.9 and right_keys[blue_query] > 0.9


# ---------------------------------------------------------------- figures


def test_plot_reduction_grid_outlines_windows_and_draws_the_coverage():
    block = OSRAttention(4, num_heads=1, sr_ratio=4)
    picture = torch.rand(1, 3, 40, 40)
    fig = plot_reduction_grid(block, picture, keys=[(2, 2), (2, 3), (5, 5)])
    left, right = fig.axes[0], fig.axes[1]
    boxes = [p for p in left.patches if isinstance(p, Rectangle)]
    rows, cols = key_windows(block, 40, 40)
    assert [(b.get_x() + 0.5, b.get_y() + 0.5, b.get_width(), b.get_height()) for b in boxes] == \
        [(cols[c][0], rows[r][0], 7, 7) for r, c in [(2, 2), (2, 3), (5, 5)]]
    np.testing.assert_array_equal(right.get_images()[0].get_array(), window_coverage(block, 40, 40).numpy())
    (dots,) = [line for line in left.get_lines() if line.get_linestyle() == "None"]
    assert len(dots.get_xdata()) == len(rows) * len(cols)
    assert "10×10 keys" in fig._suptitle.get_text()


def test_plot_query_attention_draws_the_query_row_on_the_key_grid():
    torch.manual_seed(0)
    picture = torch.rand(1, 3, 24, 28)
    x = colour_features(picture)
    hand_set = colour_similarity_block(sr_ratio=4)
    untrained = OSRAttention(4, num_heads=1, sr_ratio=4).eval()
    fig = plot_query_attention({"untrained": untrained, "colour": hand_set}, x, (5, 9), picture)
    heat_axes = [ax for ax in fig.axes if len(ax.get_images()) == 2]
    assert len(heat_axes) == 2
    for ax, block in zip(heat_axes, (untrained, hand_set)):
        heat = ax.get_images()[1]
        with torch.no_grad():
            expected = block.attention(x)[0, 0, 5 * 28 + 9].view(*block.reduced_size(24, 28))
        np.testing.assert_allclose(heat.get_array(), expected.numpy(), rtol=1e-6)
        (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
        assert (star.get_xdata()[0], star.get_ydata()[0]) == (9, 5)
        # cells are stride-wide and centred on their windows: key 0's centre is at pixel (k − 1)/2 − p = 0
        left, right, bottom, top = heat.get_extent()
        assert (left, top) == (-2.0, -2.0) and right - left == 4 * 7
    clims = {ax.get_images()[1].get_clim() for ax in heat_axes}
    assert len(clims) == 1, "one shared colour scale by default"
    with pytest.raises(ValueError, match="query must be a \\(row, col\\) inside the 24×28 input"):
        plot_query_attention(hand_set, x, (24, 0), picture)


def test_attention_bytes_and_the_memory_plot():
    assert attention_bytes(7, 7, 2) == 4 * 8 * 49 * 16  # the post's demo: (1, 8, 49, 16) float32
    assert attention_bytes(224, 224, 1, num_heads=1, batch=2) == 4 * 2 * 224**4
    block = OSRAttention(8, sr_ratio=4)
    h2, w2 = block.reduced_size(30, 30)
    assert attention_bytes(30, 30, 4) == 4 * 8 * 900 * h2 * w2
    sides = (7, 14, 28)
    fig = plot_attention_memory(sides, (1, 2), mark={"demo": (7, 2)})
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("sr_ratio")]
    assert [list(line.get_ydata()) for line in lines] == [[attention_bytes(s, s, r) for s in sides] for r in (1, 2)]
    assert list(lines[0].get_xdata()) == [49, 196, 784]
    (budget,) = [line for line in ax.get_lines() if line.get_label().startswith("max_attn_bytes")]
    assert budget.get_ydata()[0] == DEFAULT_MAX_ATTN_BYTES
    (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert star.get_ydata()[0] == attention_bytes(7, 7, 2)
    no_budget = plot_attention_memory(sides, (2,), budget=None).axes[0]
    assert not [line for line in no_budget.get_lines() if line.get_label().startswith("max_attn_bytes")]


# ---------------------------------------------------------------- the Play panel


def test_play_draws_the_query_row_of_the_chosen_block():
    from fusionlab.plots.osra import play

    torch.manual_seed(0)
    picture = torch.rand(1, 3, 24, 28)
    panel = play(picture, sr_ratios=(1, 4), step=2, query=(10, 12))
    assert panel.values() == {"sr_ratio": 4, "row": 10, "col": 12, "weights": "set by hand: colour similarity"}
    for sr_ratio, weights in [(4, "set by hand: colour similarity"), (1, "untrained (random init)")]:
        pictures, caption = panel.render(sr_ratio=sr_ratio, row=6, col=20, weights=weights)
        if weights.startswith("untrained"):
            torch.manual_seed(0)
            block = OSRAttention(4, num_heads=1, sr_ratio=sr_ratio).eval()
        else:
            block = colour_similarity_block(sr_ratio=sr_ratio)
        with torch.no_grad():
            probs = block.attention(colour_features(picture))[0, 0, 6 * 28 + 20]
        h2, w2 = block.reduced_size(24, 28)
        top = int(probs.argmax())
        assert f"attend to {h2}×{w2} = {h2 * w2:,} keys" in caption
        assert f"its top key ({top // w2}, {top % w2}) gets {probs[top].item():.2%}" in caption
        share = probs.sort(descending=True).values[: max(1, round(h2 * w2 / 10))].sum().item()
        assert f"hold {share:.0%} of its attention" in caption
        grid, coverage, means, heat = pictures
        assert torch.equal(coverage.data, window_coverage(block, 24, 28))
        if sr_ratio == 4:
            torch.testing.assert_close(means.data, F.avg_pool2d(picture, 7, 4, 3)[0].clamp(0, 1))
        # the query is red; the top key's own pixel (its window centre) is painted with inferno's top colour
        rgb = heat.rgb().astype(int)
        assert tuple(rgb[6, 20]) == (255, 0, 0) and tuple(grid.rgb()[6, 20]) == (255, 0, 0)
        rows, cols = key_windows(block, 24, 28)
        cy, cx = (sum(rows[top // w2]) - 1) // 2, (sum(cols[top % w2]) - 1) // 2
        if (cy, cx) != (6, 20):
            expected = 0.35 * picture[0, :, cy, cx].numpy() + 0.65 * np.array(matplotlib.colormaps["inferno"](1.0)[:3])
            np.testing.assert_allclose(rgb[cy, cx], expected * 255, atol=1.0)


def test_play_names_the_unread_edge_and_refuses_bad_input():
    from fusionlab.plots.osra import play

    panel = play(torch.rand(1, 3, 64, 64), sr_ratios=(8,), step=8)
    _, caption = panel.render()
    assert "Rows [62, 63] and columns [62, 63] are read by no window." in caption
    assert "64× fewer" in caption  # 4,096 queries, 8×8 = 64 keys
    with pytest.raises(ValueError, match=r"osra.play: image must be one RGB picture of shape \(1, 3, H, W\), got shape \(3, 8, 8\)"):
        play(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="sr_ratios must be positive ints"):
        play(torch.rand(1, 3, 8, 8), sr_ratios=(0,))
