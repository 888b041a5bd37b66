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
