"""fusionlab.play: pictures, controls, the widget and the timing helper."""
import numpy as np
import pytest
import torch

from fusionlab.play import Picture, Play, play_widget, time_play


def _play():
    calls = []

    def compute(gain, mode):
        calls.append((gain, mode))
        ramp = torch.linspace(0, 1, 8).repeat(8, 1) * gain
        rgb = torch.stack([ramp / 2, ramp / 2, ramp / 2]) if mode == "rgb" else ramp
        return [Picture("ramp", rgb, vmin=0, vmax=2)], f"gain {gain}, max {ramp.max():.2f}"

    return Play("demo", {"gain": (0.5, 1.0, 2.0), "mode": ("map", "rgb")}, compute, defaults={"gain": 1.0}), calls


def test_picture_colour_maps_and_rgb():
    grey = Picture("g", torch.zeros(4, 5), cmap="gray", vmin=0, vmax=1).rgb()
    assert grey.shape == (4, 5, 3) and grey.dtype == np.uint8 and grey.max() == 0
    rgb = Picture("c", torch.ones(3, 4, 5)).rgb()
    assert rgb.shape == (4, 5, 3) and rgb.min() == 255
    flat = Picture("flat", torch.full((3, 3), 7.0)).rgb()  # a constant map must not divide by zero
    assert np.isfinite(flat).all()
    assert Picture("p", torch.rand(4, 4)).png(scale=3)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="must be"):
        Picture("bad", torch.zeros(2, 2, 2, 2)).rgb()


def test_play_values_and_errors():
    play, calls = _play()
    assert play.values() == {"gain": 1.0, "mode": "map"}
    pictures, caption = play.render(gain=2.0)
    assert caption == "gain 2.0, max 2.00" and calls[-1] == (2.0, "map")
    with pytest.raises(ValueError, match="unknown control 'nope'"):
        play.render(nope=1)
    with pytest.raises(ValueError, match="is not one of"):
        Play("x", {"a": (1, 2)}, lambda a: ([], ""), defaults={"a": 3})


def test_widget_redraws_on_a_move():
    play, calls = _play()
    panel = play_widget(play)
    controls = panel.children[1].children
    caption = panel.children[3]
    before = caption.value
    controls[0].value = 2.0  # a SelectionSlider over the gains
    assert calls[-1] == (2.0, "map") and caption.value != before and "max 2.00" in caption.value
    controls[1].value = "rgb"  # a Dropdown for text values
    assert calls[-1] == (2.0, "rgb")


def test_time_play_counts_every_move():
    result = time_play(lambda: _play()[0], repeats=1)
    assert result["moves"] == 5
    assert 0 < result["median_ms"] <= result["worst_ms"]
    assert result["first_visit_worst_ms"] <= result["worst_ms"]
