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


def test_labels_show_words_but_compute_gets_the_values():
    play, calls = _play()
    labelled = Play("demo", play.controls, play.compute, defaults={"gain": 1.0}, labels={"mode": {"rgb": "彩色"}})
    panel = play_widget(labelled)
    dropdown = panel.children[1].children[1]
    assert list(dropdown.options) == [("map", "map"), ("彩色", "rgb")]
    dropdown.value = "rgb"
    assert calls[-1] == (1.0, "rgb")
    with pytest.raises(ValueError, match="labels for unknown control 'nope'"):
        Play("x", {"a": (1, 2)}, lambda a: ([], ""), labels={"nope": {1: "一"}})


# --- every chapter's Play speaks the course's language (fusionlab.i18n) --------------------------------------------

import re  # noqa: E402

from fusionlab import i18n  # noqa: E402

_CJK = re.compile(r"[\u4e00-\u9fff]")
CHAPTERS = ("gated", "msf", "mfe", "safm", "osra", "msaa", "cbam")


@pytest.fixture(scope="module")
def chapter_plays():
    """chapter -> (its plots module, a function that builds a fresh Play on small, untrained inputs)."""
    import importlib

    from fusionlab.plots import photo

    mods = {name: importlib.import_module(f"fusionlab.plots.{name}") for name in CHAPTERS}
    with torch.random.fork_rng(devices=[]):  # the untrained nets below: seeded, the global RNG left alone
        torch.manual_seed(0)
        stripe_net = mods["mfe"].StripePeriodNet(4).eval()
        cutout = mods["msaa"].CutOut().eval()
    scenes = mods["mfe"].stripe_scenes(1, 16, seed=3, photos=("chelsea",))
    picture = photo("astronaut", size=16)
    fits = {n: mods["safm"].shadow_fit(picture, n, steps=1) for n in (1, 2, 3, 4)}
    nets = {k: mods["cbam"].train_spotlight(k, size=16, steps=1, batch=2, channels=8, reduction=2)[0]
            for k in ("cbam", "cbam_joint")}
    gen = torch.Generator().manual_seed(4)
    x, mask = mods["cbam"].striped_discs(3, 16, generator=gen, backgrounds=torch.rand(1, 3, 20, 20, generator=gen))
    osra_image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    makers = {
        "gated": lambda: mods["gated"].play(size=16, pixels=64),
        "msf": lambda: mods["msf"].play(size=16),
        "mfe": lambda: mods["mfe"].play(stripe_net, scenes),
        "safm": lambda: mods["safm"].play(size=16, fits=fits),
        "osra": lambda: mods["osra"].play(osra_image, sr_ratios=(1, 4, 8), step=4, query=(6, 6)),
        "msaa": lambda: mods["msaa"].play(cutout, side=32, radius=4),
        "cbam": lambda: mods["cbam"].play(nets, x, mask),
    }
    return {name: (mods[name], makers[name]) for name in CHAPTERS}


def _words(play, **move):
    pictures, caption = play.render(**move)
    return play.name, [p.title for p in pictures], caption


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_play_follows_the_course_language(chapter_plays, chapter):
    module, make = chapter_plays[chapter]
    table = module.PLAY_TEXT
    assert set(table["zh"]) == set(table["en"]), "every sentence has its Chinese (no silent English fallback)"
    with i18n.language("en"):
        english = make()
        name, titles, caption = _words(english)
        assert name == table["en"]["name"]
        for text in (name, *titles, caption):
            assert not _CJK.search(text), text
        assert not any(english.labels.values()), "the English dropdowns show the values themselves"
    with i18n.language("zh"):
        chinese = make()
        assert chinese.controls == english.controls and chinese.values() == english.values()  # same values, other words
        name, titles, caption = _words(chinese)
        for text in (name, *titles, caption):
            assert _CJK.search(text), text
        for key, words in chinese.labels.items():
            assert set(words) <= set(chinese.controls[key]) and all(_CJK.search(w) for w in words.values())
        defaults = chinese.values()
        for key, options in chinese.controls.items():  # a move of each control speaks Chinese, none fails
            value = options[0] if options[0] != defaults[key] else options[-1]  # the cheapest other value
            assert _CJK.search(_words(chinese, **{key: value})[2])
    assert i18n.current() == "en"
