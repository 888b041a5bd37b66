"""fusionlab.plots core: the bundled photographs and the figure helpers (Agg backend, checked on data)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402

from fusionlab import cost_growth  # noqa: E402
from fusionlab.plots import PHOTOS, overlay, photo, plot_growth, show_maps, to_numpy_image  # noqa: E402


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


@pytest.mark.parametrize("name", PHOTOS)
def test_photo_shape_range_and_determinism(name):
    x = photo(name, size=48)
    assert x.shape == (1, 3, 48, 48) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05, "a real picture, not a flat image"
    assert torch.equal(x, photo(name, size=48))
    g = photo(name, size=48, gray=True)
    assert g.shape == (1, 1, 48, 48)


def test_photo_full_size_is_the_skimage_array():
    x = photo("astronaut", size=512)  # already 512×512: no crop, no resize
    expected = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255
    assert torch.equal(x[0], expected)
    coffee = photo("coffee", size=None)
    assert coffee.shape == (1, 3, 400, 600)
    assert photo("coffee", size=(40, 60)).shape == (1, 3, 40, 60)


def test_photo_gray_is_luma_and_camera_repeats_its_channel():
    rgb, gray = photo("chelsea", 32), photo("chelsea", 32, gray=True)
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert torch.allclose(gray[:, 0], luma, atol=1e-6)
    cam = photo("camera", 32)
    assert torch.equal(cam[:, 0], cam[:, 1]) and torch.equal(cam[:, 1], cam[:, 2])


def test_photo_rejects_unknown_name_and_bad_size():
    with pytest.raises(ValueError, match="photo: name must be one of astronaut"):
        photo("moon")
    with pytest.raises(ValueError, match="photo: size"):
        photo("camera", size=0)


def test_to_numpy_image_layouts():
    assert to_numpy_image(torch.zeros(1, 3, 5, 7)).shape == (5, 7, 3)
    assert to_numpy_image(torch.zeros(3, 5, 7)).shape == (5, 7, 3)
    assert to_numpy_image(torch.zeros(1, 1, 5, 7)).shape == (5, 7)
    assert to_numpy_image(np.zeros((5, 7, 3))).shape == (5, 7, 3)
    t = torch.arange(6.0, requires_grad=True).view(2, 3) * 2
    assert np.array_equal(to_numpy_image(t), np.arange(6.0).reshape(2, 3) * 2)
    with pytest.raises(ValueError, match="to_numpy_image"):
        to_numpy_image(torch.zeros(4, 5, 7))


def test_show_maps_titles_data_and_colorbars():
    img = photo("astronaut", 16)
    heat = torch.rand(8, 8)
    fig = show_maps([img, heat, heat * 2], ["photo", "a", "b"], suptitle="maps")
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["photo", "a", "b"]
    assert np.allclose(panels[1].images[0].get_array(), heat.numpy())
    assert panels[0].images[0].get_array().shape == (16, 16, 3)
    assert len(_colorbars(fig)) == 2, "one colour bar per heat map, none for the photograph"
    assert all(not ax.axison for ax in panels)
    assert fig._suptitle.get_text() == "maps"


def test_show_maps_shared_scale_and_stack():
    stack = torch.stack([torch.zeros(4, 4), torch.ones(4, 4) * 3, torch.full((4, 4), -1.0)])
    fig = show_maps(stack, ["0", "1", "2"], colorbar="shared", ncols=2)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 and len(_colorbars(fig)) == 1
    assert {ax.images[0].get_clim() for ax in panels} == {(-1.0, 3.0)}
    fig = show_maps({"left": torch.rand(3, 3), "right": torch.rand(3, 3)}, colorbar=False)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["left", "right"] and not _colorbars(fig)


def test_show_maps_errors():
    with pytest.raises(ValueError, match="2 maps but 1 titles"):
        show_maps([torch.rand(3, 3)] * 2, ["one"])
    with pytest.raises(ValueError, match="colorbar must be"):
        show_maps([torch.rand(3, 3)], colorbar="yes")


def test_overlay_resizes_heat_to_image():
    fig = overlay(photo("coffee", 32), torch.rand(4, 4), title="where", alpha=0.4)
    ax = fig.axes[0]
    assert ax.get_title() == "where" and len(ax.images) == 2
    assert ax.images[1].get_array().shape == (32, 32) and ax.images[1].get_alpha() == 0.4
    assert len(_colorbars(fig)) == 1
    with pytest.raises(ValueError, match="alpha"):
        overlay(photo("coffee", 8), torch.rand(4, 4), alpha=2)


def test_plot_growth_axes_and_data():
    growth = cost_growth("gated_fusion", sides=(4, 8, 16), sizes={"C": 4})
    fig = plot_growth(growth)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "H·W" in ax.get_xlabel()
    flops_line, params_line = ax.get_lines()
    assert list(flops_line.get_xdata()) == [16, 64, 256]
    assert list(flops_line.get_ydata()) == [r["flops"] for r in growth]
    assert list(params_line.get_ydata()) == [r["params"] for r in growth]
    assert "gated_fusion" in fig._suptitle.get_text()
    assert any("count 0" in t.get_text() for t in fig.texts), "the FLOPs footnote is on the figure"


def test_plot_growth_with_latency_has_second_axes():
    rows = [{"side": s, "hw": s * s, "params": 10, "flops": s * s * 4, "latency": s * 1e-4} for s in (2, 4)]
    fig = plot_growth(rows, title="t")
    assert len(fig.axes) == 2 and "latency" in fig.axes[1].get_ylabel()
    assert "this machine" in fig.axes[1].get_title()  # a noisy measurement, never a fact about the block
    for ax in fig.axes:  # plain numbers at the data points, no minor-tick labels such as "3×10²"
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_text()]
        assert labels == ["4", "16"], labels
    assert np.allclose(fig.axes[1].get_lines()[0].get_ydata(), [0.2, 0.4])
