"""The chapters' "Play" panels, timed: every move of every control, first visits included.

Each ``chapter_*`` function builds its chapter's :class:`fusionlab.play.Play` exactly as the chapter's
Play cell does (same arguments; the nets trained by the chapter's own functions with its own settings).
It returns ``make_play``: a function that builds a fresh Play (empty caches) around that setup, for
:func:`fusionlab.play.time_play`. Training is setup and is not timed; building a Play is not timed
either (SAFM's trains the two level counts the chapter did not, as the chapter's panel does).

A move is a change from what the panel shows: as :func:`fusionlab.play.play_widget` draws the default
values when the cell runs, each fresh Play draws them once before its moves are timed. That first draw
(which may also pay the process's one-time costs: imports; in chapter 01, whose panel trains on first
visits, the process's first Adam step, ~1 s, which the notebook has paid in its training cell) is reported as
``first_draw_ms``, not counted among the moves.

Timed with one torch thread, as :func:`fusionlab.notebook.setup` sets on a machine with ≤ 2 cores.
Targets: < 150 ms median and < 300 ms worst per move, first visits included.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Sequence

import torch

from fusionlab.play import Play, _scale, time_play

__all__ = ["CHAPTERS", "MEDIAN_TARGET_MS", "WORST_TARGET_MS", "play_timings"]

log = logging.getLogger("benchmarks")

MEDIAN_TARGET_MS, WORST_TARGET_MS = 150.0, 300.0


def chapter_gated() -> Callable[[], Play]:
    """01: ``gated_plots.play()``."""
    from fusionlab.plots import gated

    return lambda: gated.play()


def chapter_msf() -> Callable[[], Play]:
    """02: ``play()``."""
    from fusionlab.plots import msf

    return lambda: msf.play()


def chapter_mfe() -> Callable[[], Play]:
    """03: ``play(run.model, test)`` with ``run = train_stripe_periods(8, steps=200, seed=0)``."""
    from fusionlab.plots import mfe

    run = mfe.train_stripe_periods(8, steps=200, seed=0)
    test = mfe.stripe_scenes(8, 48, seed=2, photos=("chelsea",))
    return lambda: mfe.play(run.model, test)


def chapter_safm() -> Callable[[], Play]:
    """04: ``play(fits={1: only_3x3, 4: safm4})``, the two blocks trained by ``shadow_fit`` on the astronaut."""
    from fusionlab.plots import photo, safm

    picture = photo("astronaut", size=96)
    fits = {1: safm.shadow_fit(picture, n_levels=1), 4: safm.shadow_fit(picture, n_levels=4)}
    return lambda: safm.play(fits=fits)


def chapter_osra() -> Callable[[], Play]:
    """05: ``play()``."""
    from fusionlab.plots import osra

    return lambda: osra.play()


def chapter_msaa() -> Callable[[], Play]:
    """06: ``play(net)`` with ``net, _ = train_cutout(steps=90, lr=1e-2, gate_lr=3e-3, seed=0)``."""
    from fusionlab.plots import msaa

    net, _ = msaa.train_cutout(steps=90, lr=1e-2, gate_lr=3e-3, seed=0)
    return lambda: msaa.play(net)


def chapter_cbam() -> Callable[[], Play]:
    """07: ``play(nets, x, disc)``: ``train_spotlight`` for "cbam" and "cbam_joint", five test pictures."""
    from fusionlab.plots import cbam

    nets = {kind: cbam.train_spotlight(kind)[0] for kind in ("cbam", "cbam_joint")}
    x, disc = cbam.striped_discs(5, 32, generator=torch.Generator().manual_seed(3), backgrounds=("astronaut",))
    return lambda: cbam.play(nets, x, disc)


# chapter name (the block's module in fusionlab.plots) -> (notebook, setup)
CHAPTERS: Mapping[str, tuple[str, Callable[[], Callable[[], Play]]]] = {
    "gated": ("01_gated_fusion", chapter_gated),
    "msf": ("02_msf_selective_fusion", chapter_msf),
    "mfe": ("03_mfe_feature_extraction", chapter_mfe),
    "safm": ("04_safm", chapter_safm),
    "osra": ("05_osra_attention", chapter_osra),
    "msaa": ("06_msaa_aggregation", chapter_msaa),
    "cbam": ("07_cbam_joint_attention", chapter_cbam),
}


def play_timings(chapters: Sequence[str] | None = None, repeats: int = 3, *, threads: int = 1,
                 seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per chapter: ``{"notebook", "name", "median_ms", "worst_ms", "first_visit_worst_ms", "moves",
    "first_draw_ms", "repeats", "setup_s", "threads"}`` from :func:`fusionlab.play.time_play` (``repeats`` passes after the first).

    ``threads`` torch threads during setup and timing (restored after); ``seed`` seeds torch before each
    chapter's setup, as the notebooks' ``setup()`` does at their top.
    """
    names = list(CHAPTERS) if chapters is None else list(chapters)
    unknown = [n for n in names if n not in CHAPTERS]
    if unknown:
        raise ValueError(f"play_timings: unknown chapter(s) {unknown}; chapters: {', '.join(CHAPTERS)}.")
    if repeats < 0:
        raise ValueError(f"play_timings: repeats must be ≥ 0, got {repeats}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, dict[str, Any]] = {}
    try:
        for name in names:
            notebook, setup = CHAPTERS[name]
            log.info("play %s …", name)
            torch.manual_seed(seed)
            start = time.perf_counter()
            make_play = setup()
            setup_s = time.perf_counter() - start
            built: list[Play] = []

            draws: list[float] = []

            def fresh() -> Play:
                play = make_play()
                begin = time.perf_counter()  # the widget's first draw: the defaults, PNGs encoded
                for picture in play.render()[0]:
                    picture.png(_scale(picture, play.size))
                draws.append((time.perf_counter() - begin) * 1e3)
                built.append(play)
                return play

            timing = time_play(fresh, repeats=repeats)
            out[name] = {"notebook": notebook, "name": built[-1].name, **timing, "first_draw_ms": draws[-1], "repeats": repeats,
                         "setup_s": setup_s, "threads": threads}
    finally:
        torch.set_num_threads(previous)
    return out
