"""The benchmark anyone can rerun: every registered block against the post's code, on the CPU.

It lives beside the package, not in it: run it from the repository root of a checkout (the post's
classes come from the notebooks' ``original`` cells, see :mod:`fusionlab.original`)::

    python benchmarks/bench.py                # the full bench; writes docs/bench/results.{json,md}
    python benchmarks/bench.py --readme       # ... and regenerates README.md's Performance section
    python benchmarks/bench.py --quick        # small sizes, few repeats: checks correctness, not speed
    python benchmarks/bench.py --notebooks    # also run every notebook (nbclient, fresh kernel), timed
    python benchmarks/bench.py --render       # rewrite results.md and README from results.json, no run

(``python -m benchmarks.bench`` is the same.) Modules: :mod:`benchmarks.measure` (one case),
:mod:`benchmarks.memory` (allocator peak, peak RSS), :mod:`benchmarks.report` (tables, README).

Flags:
    --quick             small maps (H, W ≤ 16), a few rounds, no ``torch.compile``, small memory case;
                        writes nothing unless ``--out`` is given (CI runs it through tests/test_bench.py)
    --threads N         ``torch.set_num_threads(N)`` for every measurement (default: the CPUs this
                        process may use); reported with the results
    --blocks A,B        only these registry names (default: every block in ``fusionlab.BLOCKS``)
    --min-time S        seconds of interleaved timing per case, both implementations together (default 2)
    --no-compile        skip ``torch.compile`` latency
    --no-memory-case    skip the OSRA (1, 64, 128, 128), sr_ratio=1 memory case (the post needs ~16 GiB
                        and about two minutes there)
    --no-panel          skip the widget-panel update timing
    --no-plays          skip the chapters' Play panels (trains each chapter's nets first, about a minute)
    --notebooks         execute notebooks/*.ipynb, each in a fresh kernel, and time them
    --out DIR           where results.json and results.md go (default docs/bench; none with --quick)
    --readme            rewrite the README's Performance section (between ``<!-- bench:start -->`` and
                        ``<!-- bench:end -->``) from this run's results
    --render            no measurement: re-render results.md (and, with --readme, the README) from
                        ``<out>/results.json``

What is measured, per block of ``fusionlab.BLOCKS`` and per case (the post's demo size from
``spec.sizes``, and one realistic size per block, ``spec.realistic``):

* parameters and FLOPs (:func:`fusionlab.count_params`, :func:`fusionlab.count_flops`,
  on ``meta``: 2 × MACs of matmul/conv/attention; element-wise ops count 0);
* correctness first: the post's module is built with a fixed seed, its BatchNorm statistics and
  affine parameters are randomised (:func:`fusionlab.testing.randomize_norms`) (so eval-mode BatchNorm is not an identity), and its
  ``state_dict`` is loaded into fusionlab's block with ``strict=True``; both outputs must agree
  (``torch.testing.assert_close``, float32 defaults) before anything is timed. A mismatch is an
  error and the bench exits with status 1;
* eager CPU latency, eval mode, ``torch.no_grad()``: fusionlab and the post are timed in
  alternating rounds (A B, B A, A B, …; each round repeats the call so that it lasts ≥ 10 ms) for at
  least ``--min-time`` seconds and 9 rounds. Reported: the median time per call of each, and
  post / fusionlab (> 1: fusionlab is faster) as the median of the per-round ratios (each round
  times both back to back, so a change in the machine's load cancels) with a 95 %
  distribution-free confidence interval of that median. The verdict is "faster" or "slower"
  only when that interval excludes 1 and the ratio differs from 1 by at least 2 %; otherwise
  "same". The per-round samples are kept in results.json;
* ``torch.compile`` latency (inductor, static shapes) at the realistic size, both implementations,
  timed the same way after the first (compiling) call, whose time is reported as ``compile_s``;
  the compiled output is checked against the eager post (rtol = atol = 1e-4);
* peak memory of one forward pass: bytes allocated through torch's CPU allocator during the call
  (inputs and weights excluded, the output included), from :mod:`torch.profiler` with
  ``profile_memory=True`` — the running sum of its allocation events, maximised;
* the OSRA memory case, (1, 64, 128, 128) with sr_ratio = 1 (a 16384 × 16384 attention matrix per
  head): each implementation runs one forward in a fresh subprocess, and the process's peak
  resident set size during that call minus its resident size just before is reported (Linux:
  freed heap returned with ``malloc_trim``, the peak counter ``VmHWM`` reset through
  ``/proc/self/clear_refs``; elsewhere the growth of ``ru_maxrss``, a lower bound). The machine is
  shared, so the subprocess's address space is capped at the free memory less 2 GiB: a call that
  needs more is reported as not measured (with the allocator's message), and no other process is
  pushed out of memory;
* widget responsiveness: for each block, :func:`fusionlab.widgets.block_panel`'s W slider (the
  last size slider where there is no W) is moved back and forth between two valid values; the time from setting ``.value`` to
  the panel's new state (meta build, FLOPs, trace, HTML) is reported as a median in ms
  (target < 100 ms);
* the chapters' Play panels (:mod:`benchmarks.plays`): each built as its chapter builds it (the
  chapter's training is setup, untimed), then every move of every control from the defaults, each
  configuration first visited in a fresh panel and then repeated (:func:`fusionlab.play.time_play`,
  PNG encoding included), with one torch thread as on a 2-core machine: median, worst and worst
  first visit in ms per chapter (targets < 150 ms median, < 300 ms worst);
* with ``--notebooks``: the wall time of each notebook run top to bottom in a fresh kernel
  (target: the whole course in < 5 min).

The post's classes print on every call; :mod:`fusionlab.original` replaces ``print`` by a no-op for
them, so their timings include computing what they would print (as the post's code does) but
not the printing itself.

The machine (CPU model, cores, torch version, threads, date, load average before and after) is
written with the results; compare numbers measured together only.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script, python benchmarks/bench.py: import from the repository
    _root = str(Path(__file__).resolve().parent.parent)
    if _root not in sys.path:
        sys.path.insert(0, _root)

import torch  # noqa: E402

from benchmarks.measure import (  # noqa: E402
    MEMORY_CASES, MIN_ROUNDS, ROOT, SAME_WITHIN, SPEEDUP_TARGETS, Case, _quick_sizes, bench_case, build_pair,
    cases_for, check_equal, interleaved, memory_case, panel_update_ms, ratio_stats, run_notebooks,
)
from benchmarks.memory import allocator_peak, rss_growth  # noqa: E402
from benchmarks.plays import play_timings  # noqa: E402
from benchmarks.report import (  # noqa: E402
    COMMAND, README, README_END, README_START, _readme_section, render_markdown, render_text, targets,
    update_readme,
)
from fusionlab.original import NOTEBOOKS  # noqa: E402
from fusionlab.registry import BLOCKS  # noqa: E402

__all__ = [
    "MEMORY_CASES", "SPEEDUP_TARGETS", "Case", "cases_for", "build_pair", "check_equal", "interleaved",
    "ratio_stats", "allocator_peak", "rss_growth", "memory_case", "bench_case", "panel_update_ms",
    "run_notebooks", "play_timings", "machine_info", "run_bench", "targets", "render_markdown", "render_text",
    "update_readme", "main",
]

log = logging.getLogger("benchmarks")

DEFAULT_OUT = ROOT / "docs" / "bench"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": _usable_cpus(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": _load(),
    }


def _load() -> list[float] | None:
    # 1-, 5- and 15-minute load averages: how busy the shared machine was around the run
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def run_bench(
    *,
    blocks: Sequence[str] | None = None,
    quick: bool = False,
    threads: int | None = None,
    min_time: float | None = None,
    compile: bool | None = None,
    memory_cases: bool = True,
    panel: bool = True,
    plays: bool = True,
    notebooks: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the bench and return its results (a JSON-ready dict)."""
    names = list(BLOCKS) if blocks is None else list(blocks)
    unknown = [n for n in names if n not in BLOCKS]
    if unknown:
        raise ValueError(f"bench: unknown block(s) {unknown}; registered: {', '.join(BLOCKS)}.")
    threads = threads or _usable_cpus()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(names, quick=quick, threads=threads, min_time=min_time, compile=compile,
                    memory_cases=memory_cases, panel=panel, plays=plays, notebooks=notebooks, seed=seed)
    finally:
        torch.set_num_threads(previous_threads)


def _run(names: Sequence[str], *, quick: bool, threads: int, min_time: float | None, compile: bool | None,
         memory_cases: bool, panel: bool, plays: bool, notebooks: bool, seed: int) -> dict[str, Any]:
    min_time = min_time if min_time is not None else (0.05 if quick else 2.0)
    compile = (not quick) if compile is None else compile
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine_info(threads),
        "settings": {"quick": quick, "min_time_s": min_time, "compile": compile, "seed": seed,
                     "min_rounds": 3 if quick else MIN_ROUNDS, "same_within": SAME_WITHIN},
        "cases": [], "errors": [], "memory": [], "panel": [], "plays": {}, "notebooks": [],
    }
    for name in names:
        for case in cases_for(BLOCKS[name], quick=quick):
            log.info("%s · %s %s", name, case.label, ", ".join(str(tuple(s)) for s in case.shapes()))
            try:
                record = bench_case(case, seed=seed, min_time=min_time, compile=compile and case.realistic,
                                    quick=quick)
            except Exception as err:  # recorded, reported, and the exit status is 1; the other cases still run
                kind = "outputs differ" if isinstance(err, AssertionError) else type(err).__name__
                text = " ".join(str(err).split())[:500]
                results["errors"].append({"block": name, "case": case.label, "error": f"{kind}: {text}"})
                log.error("%s · %s: %s: %s", name, case.label, kind, text)
                continue
            results["cases"].append(record)
    if memory_cases:
        for name, mc in MEMORY_CASES.items():
            if name not in names:
                continue
            sizes = _quick_sizes(BLOCKS[name], mc["sizes"]) if quick else mc["sizes"]
            case = Case(name, "memory", BLOCKS[name].resolve(sizes), mc.get("hparams", {}))
            results["memory"].append(memory_case(case, threads, seed))
    if panel:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            log.warning("ipywidgets is not installed: no panel timing")
        else:
            for name in names:
                log.info("panel %s …", name)
                try:
                    results["panel"].append({"block": name, **panel_update_ms(name, repeats=2 if quick else 6)})
                except Exception as err:
                    text = f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"
                    results["errors"].append({"block": name, "case": "widget panel", "error": text})
                    log.error("panel %s: %s", name, text)
    if plays:
        try:  # one torch thread, as a notebook on a 2-core machine; repeats=0 (first visits only) when quick
            results["plays"] = play_timings(repeats=0 if quick else 3, seed=seed)
        except Exception as err:
            text = f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"
            results["errors"].append({"block": "plays", "case": "chapter Play panels", "error": text})
            log.error("plays: %s", text)
    if notebooks:
        results["notebooks"] = run_notebooks(sorted(NOTEBOOKS.glob("*.ipynb")))
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["load_after"] = _load()
    return results


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        return round(x, 6) if math.isfinite(x) else None
    return x


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Benchmark every registered block against the post's code (CPU): parameters, FLOPs, "
                    "eager and compiled latency, peak memory, widget-panel update time, notebook run times.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="The methods: the docstring at the top of benchmarks/bench.py.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small maps, few rounds, no compile: checks correctness (equal outputs), not speed")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the usable CPUs)")
    parser.add_argument("--blocks", default=None, help="comma-separated registry names (default: every block)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds of interleaved timing per case (default 2; 0.05 with --quick)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile latency")
    parser.add_argument("--no-memory-case", action="store_true",
                        help="skip the OSRA (1, 64, 128, 128) sr_ratio=1 memory case")
    parser.add_argument("--no-panel", action="store_true", help="skip the widget-panel update timing")
    parser.add_argument("--no-plays", action="store_true",
                        help="skip the chapters' Play panels (every move timed, first visits included)")
    parser.add_argument("--notebooks", action="store_true", help="also execute and time every notebook")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for results.json and results.md (default docs/bench; none with --quick)")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's Performance section")
    parser.add_argument("--render", action="store_true",
                        help="no measurement: re-render results.md (and README with --readme) from results.json")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log each step")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s",
                        stream=sys.stderr)
    out_dir = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    if args.quick and args.readme:
        parser.error("--readme needs a full run (the README shows real timings), not --quick")

    if args.render:
        source = (out_dir or DEFAULT_OUT) / "results.json"
        results = json.loads(source.read_text(encoding="utf-8"))
    else:
        if args.threads is not None and args.threads < 1:
            parser.error(f"--threads must be ≥ 1, got {args.threads}")
        blocks = [b.strip() for b in args.blocks.split(",") if b.strip()] if args.blocks else None
        try:
            results = run_bench(
                blocks=blocks, quick=args.quick, threads=args.threads, min_time=args.min_time,
                compile=False if args.no_compile else None, memory_cases=not args.no_memory_case,
                panel=not args.no_panel, plays=not args.no_plays, notebooks=args.notebooks, seed=args.seed,
            )
        except ValueError as err:
            parser.error(str(err))
        # the command as typed (minus the output folder), so the report says how it was made
        typed = list(argv if argv is not None else sys.argv[1:])
        shown = [a for i, a in enumerate(typed)
                 if not (a in ("--out", "-v", "--verbose") or a.startswith("--out=") or (i and typed[i - 1] == "--out"))]
        results["settings"]["command"] = " ".join([COMMAND, *shown])
        results = _jsonable(results)
        sys.stdout.write(render_text(results))

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not args.render:
            (out_dir / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
        (out_dir / "results.md").write_text("# fusionlab benchmark\n\n" + render_markdown(results),
                                            encoding="utf-8")
    if args.readme:
        update_readme(_readme_section(results))
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())