"""The benchmark anyone can rerun: every registered block against the post's code, on the CPU.

Run from a checkout of the course (the post's classes come from the notebooks' ``original``
cells, see :mod:`fusionlab.original`)::

    python -m fusionlab.bench                 # the full bench; writes docs/bench/results.{json,md}
    python -m fusionlab.bench --readme        # ... and regenerates README.md's Performance section
    python -m fusionlab.bench --quick         # small sizes, few repeats: checks correctness, not speed
    python -m fusionlab.bench --notebooks     # also run every notebook (nbclient, fresh kernel), timed
    python -m fusionlab.bench --render        # rewrite results.md and README from results.json, no run

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
    --notebooks         execute notebooks/*.ipynb, each in a fresh kernel, and time them
    --out DIR           where results.json and results.md go (default docs/bench; none with --quick)
    --readme            rewrite the README's Performance section (between ``<!-- bench:start -->`` and
                        ``<!-- bench:end -->``) from this run's results
    --render            no measurement: re-render results.md (and, with --readme, the README) from
                        ``<out>/results.json``

What is measured, per block of ``fusionlab.BLOCKS`` and per case (the post's demo size from
``spec.sizes``, and one realistic size per block, ``spec.realistic``):

* parameters and FLOPs (:func:`fusionlab.cost.count_params`, :func:`fusionlab.cost.count_flops`,
  on ``meta``: 2 × MACs of matmul/conv/attention; element-wise ops count 0);
* correctness first: the post's module is built with a fixed seed, its BatchNorm statistics and
  affine parameters are randomised (so eval-mode BatchNorm is not an identity), and its
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
import contextlib
import datetime
import inspect
import json
import logging
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .cost import count_flops, count_params
from .registry import BLOCKS, BlockSpec

__all__ = [
    "MEMORY_CASES",
    "SPEEDUP_TARGETS",
    "Case",
    "cases_for",
    "post_kwargs",
    "build_pair",
    "check_equal",
    "interleaved",
    "ratio_stats",
    "allocator_peak",
    "memory_case",
    "bench_case",
    "panel_update_ms",
    "run_notebooks",
    "machine_info",
    "run_bench",
    "targets",
    "render_markdown",
    "render_text",
    "update_readme",
    "main",
]

log = logging.getLogger("fusionlab.bench")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "bench"
README = ROOT / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
README_HEADING = "## Performance"
README_BEFORE = "## Launch anywhere"

# Memory-only cases (one forward each, in a fresh process), keyed by block name.
MEMORY_CASES: dict[str, dict[str, Any]] = {
    # sr_ratio=1 keeps the full grid: a (1, 8, 16384, 16384) float32 attention matrix is 8 GiB
    "osra": {"sizes": {"B": 1, "C": 64, "H": 128, "W": 128}, "hparams": {"sr_ratio": 1}},
}

QUICK_SIDE = 16  # --quick caps H and W at this
MIN_ROUNDS = 9
ROUND_SECONDS = 0.01  # one round repeats the call until it lasts about this long
MAX_ROUNDS = 400
SAME_WITHIN = 0.02  # |ratio − 1| below this is "same" whatever the interval says
SPEEDUP_TARGETS = {"osra": 1.4}  # block -> least post / fusionlab ratio promised at its realistic size
MEMORY_HEADROOM = 2 * 2**30  # free memory a memory-case subprocess leaves to the machine's other users


# ----------------------------------------------------------------------------------------
# cases and the pair of modules
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One benchmark point: a block at given sizes and hyperparameters."""

    block: str
    label: str  # "demo", "realistic" or "demo = realistic"
    sizes: Mapping[str, int]
    hparams: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> BlockSpec:
        return BLOCKS[self.block]

    @property
    def realistic(self) -> bool:
        return "realistic" in self.label

    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.spec.shapes(self.sizes)


def _quick_sizes(spec: BlockSpec, sizes: Mapping[str, int]) -> dict[str, int]:
    out = dict(spec.resolve(sizes))
    for dim in ("H", "W"):
        if dim in out:
            out[dim] = min(out[dim], QUICK_SIDE)
    return out


def cases_for(spec: BlockSpec, *, quick: bool = False) -> list[Case]:
    """The demo case and, if ``spec.realistic`` names another size, the realistic one."""
    demo = spec.resolve()
    if quick:
        return [Case(spec.name, "demo (quick)", _quick_sizes(spec, demo))]
    realistic = spec.resolve(spec.realistic)
    if realistic == demo:
        return [Case(spec.name, "demo = realistic", demo)]
    return [Case(spec.name, "demo", demo), Case(spec.name, "realistic", realistic)]


def _randomise_batchnorm(module: nn.Module, gen: torch.Generator) -> None:
    # fresh BatchNorm layers are an identity in eval mode (mean 0, var 1, weight 1, bias 0), which
    # would hide a wrong order of operations; random statistics make every layer count
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.running_mean is not None:
                    m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def post_kwargs(post_cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """The post's constructor arguments: fusionlab's config entries its ``__init__`` accepts by name.

    fusionlab keeps the post's argument names (``dim``, ``in_channels``, ``atrous_rates``, ``HW`` …);
    extra fusionlab options (``variant``, ``max_attn_bytes``) are left out. A mismatch would show
    as a failed ``load_state_dict(strict=True)`` or unequal outputs, never as a silent pass.
    """
    params = inspect.signature(post_cls.__init__).parameters
    return {k: v for k, v in config.items() if k in params and k != "self"}


def has_post(case: Case) -> bool:
    spec = case.spec
    config = spec.config(case.sizes, **case.hparams)
    return spec.post_class is not None and config.get("variant", "blog") == "blog"


def build_pair(case: Case, *, seed: int = 0) -> tuple[nn.Module, nn.Module | None, tuple[torch.Tensor, ...]]:
    """(fusionlab block, the post's module or None, inputs), eval mode, the same weights.

    The post's module is built first (seeded), its BatchNorms randomised, and its state_dict
    loaded into fusionlab's block with ``strict=True``.
    """
    from .original import original_class

    spec = case.spec
    config = spec.config(case.sizes, **case.hparams)
    torch.manual_seed(seed)
    ours = spec.cls(**config)
    post = None
    if has_post(case):
        post_cls = original_class(case.block)
        torch.manual_seed(seed)
        post = post_cls(**post_kwargs(post_cls, config))
        _randomise_batchnorm(post, torch.Generator().manual_seed(seed + 1))
        ours.load_state_dict(post.state_dict(), strict=True)
        post.eval()
    else:
        _randomise_batchnorm(ours, torch.Generator().manual_seed(seed + 1))
    ours.eval()
    inputs = spec.example_inputs(case.sizes, seed=seed)
    return ours, post, inputs


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    raise TypeError(f"bench: a block returned {type(out).__name__}; expected a tensor or a tuple of tensors.")


def check_equal(got: Any, expected: Any, *, rtol: float | None = None, atol: float | None = None) -> float:
    """Assert two outputs (tensors or tuples of them) agree; return the largest absolute difference."""
    a, b = _tensors(got), _tensors(expected)
    if len(a) != len(b):
        raise AssertionError(f"bench: {len(a)} output tensor(s) against the post's {len(b)}.")
    worst = 0.0
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)
        worst = max(worst, float((x - y).abs().max()) if x.numel() else 0.0)
    return worst


# ----------------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------------


def interleaved(
    fns: Mapping[str, Callable[[], Any]],
    *,
    min_time: float = 2.0,
    min_rounds: int = MIN_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    round_seconds: float = ROUND_SECONDS,
) -> tuple[dict[str, list[float]], int]:
    """Seconds per call of each function, measured in alternating rounds.

    Each function is warmed up twice, then each round calls every function ``repeat`` times in
    a row (``repeat`` chosen so the slowest lasts ≥ ``round_seconds``), in forward order on
    even rounds and reverse order on odd ones, until ``min_time`` seconds have passed and at
    least ``min_rounds`` rounds are done. Returns ({name: per-round seconds per call}, repeat).
    """
    names = list(fns)
    for name in names:
        fns[name]()
        fns[name]()
    slowest = 0.0
    for name in names:
        start = time.perf_counter()
        fns[name]()
        slowest = max(slowest, time.perf_counter() - start)
    repeat = max(1, min(1000, math.ceil(round_seconds / max(slowest, 1e-9))))
    samples: dict[str, list[float]] = {n: [] for n in names}
    begin = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds or time.perf_counter() - begin < min_time):
        order = names if rounds % 2 == 0 else names[::-1]
        for name in order:
            fn = fns[name]
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            samples[name].append((time.perf_counter() - start) / repeat)
        rounds += 1
    return samples, repeat


def _median_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """Distribution-free ~95 % confidence interval of the median (binomial order statistics)."""
    v = sorted(values)
    n = len(v)
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)) - 1)
    return v[lo], v[max(lo, hi)]


def ratio_stats(post: Sequence[float], ours: Sequence[float]) -> dict[str, Any]:
    """post / fusionlab per round (both measured back to back, so a change of machine load cancels):
    the median of those ratios, its ~95 % interval, the ratio of the two medians, and a verdict."""
    paired = [p / o for p, o in zip(post, ours)]
    ratio = statistics.median(paired)
    lo, hi = _median_interval(paired)
    if lo > 1 and ratio >= 1 + SAME_WITHIN:
        verdict = "faster"
    elif hi < 1 and ratio <= 1 - SAME_WITHIN:
        verdict = "slower"
    else:
        verdict = "same"
    return {"ratio": ratio, "ratio_ci95": [lo, hi], "verdict": verdict,
            "ratio_of_medians": statistics.median(post) / statistics.median(ours)}


# ----------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_stderr():
    # torch's profiler (kineto) writes two "USDT: profiler_start/stop" lines to the C-level stderr
    # on every use; the profiled call has already run once without it, so nothing else is hidden
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def allocator_peak(fn: Callable[[], Any]) -> int | None:
    """Peak bytes allocated through torch's CPU allocator while ``fn()`` runs (tensors alive
    before the call, e.g. inputs and weights, are not counted; what ``fn`` returns is).

    From :mod:`torch.profiler` with ``profile_memory=True``: the running sum of its allocation
    and free events in time order, maximised. None if this torch build does not expose them.
    """
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch._C._profiler import _EventType
    except ImportError:  # pragma: no cover - very old torch
        return None
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
    del out
    events: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            events.append((node.start_time_ns, int(node.extra_fields.alloc_size)))
        stack.extend(node.children)
    if not events:
        return 0
    live = peak = 0
    for _, size in sorted(events):
        live += size
        peak = max(peak, live)
    return peak


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _status_bytes(field: str) -> int | None:
    """A size from /proc/self/status (``VmSize``, ``VmRSS``, ``VmHWM``), in bytes; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Give freed heap memory back to the system and restart the peak-RSS counter (Linux ≥ 4.0)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: freed memory would otherwise be reused unseen
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset VmHWM to the current RSS
    except OSError:
        return False
    return True


def _rss_child(request: str) -> None:
    """Subprocess entry: one forward of one implementation; writes a JSON line to stdout."""
    req = json.loads(request)
    torch.set_num_threads(req["threads"])
    case = Case(req["block"], "memory", req["sizes"], req["hparams"])
    ours, post, inputs = build_pair(case, seed=req["seed"])
    module = ours if req["impl"] == "fusionlab" else post
    del ours, post
    # start the thread pool and oneDNN once on small tensors, so the delta below is the call's own
    with torch.no_grad():
        torch.nn.functional.conv2d(torch.randn(1, 8, 16, 16), torch.randn(8, 8, 3, 3), padding=1).softmax(-1)
        (torch.randn(64, 64) @ torch.randn(64, 64)).sum()
    # the machine is shared: the call may not take more than the free memory less a margin; past
    # that, torch's allocator fails cleanly here instead of the kernel killing someone's process
    vsize = _status_bytes("VmSize")
    if req.get("budget") and vsize is not None:
        resource.setrlimit(resource.RLIMIT_AS, (vsize + req["budget"], resource.RLIM_INFINITY))
    # peak RSS during the call minus RSS just before it; where the peak counter cannot be reset,
    # the growth of ru_maxrss (a lower bound: memory freed earlier may be reused unseen)
    exact = _reset_peak_rss() and _status_bytes("VmHWM") is not None
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    before = _status_bytes("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    start = time.perf_counter()
    try:
        with torch.no_grad():
            out = module(*inputs)
    except (RuntimeError, MemoryError) as err:
        message = " ".join(str(err).split())[:300]
        sys.stdout.write(json.dumps({"skipped": f"more than {req['budget'] / 2**30:.1f} GiB, the free memory "
                                                f"less {MEMORY_HEADROOM / 2**30:.0f} GiB ({message})"}) + "\n")
        return
    seconds = time.perf_counter() - start
    after = _status_bytes("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    del out
    sys.stdout.write(json.dumps({"rss_delta": max(after - before, 0), "seconds": seconds,
                                 "method": "VmHWM - VmRSS" if exact else "ru_maxrss growth"}) + "\n")


def _rss_in_subprocess(case: Case, impl: str, threads: int, seed: int, *, budget: int | None = None,
                       timeout: float = 900) -> dict[str, Any]:
    """Run :func:`_rss_child` in a fresh interpreter; ``budget`` bytes (default: the free memory less
    :data:`MEMORY_HEADROOM`) is the most the call may add to the address space."""
    if budget is None:
        available = _mem_available()
        budget = max(available - MEMORY_HEADROOM, 0) if available is not None else None
    request = json.dumps({"block": case.block, "sizes": dict(case.sizes), "hparams": dict(case.hparams),
                          "impl": impl, "threads": threads, "seed": seed, "budget": budget})
    code = "import sys; from fusionlab.bench import _rss_child; _rss_child(sys.argv[1])"
    result = subprocess.run([sys.executable, "-c", code, request], capture_output=True, text=True,
                            timeout=timeout, cwd=str(ROOT))
    if result.returncode != 0:
        raise RuntimeError(f"memory subprocess for {case.block} ({impl}) failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_case(case: Case, threads: int, seed: int) -> dict[str, Any]:
    """Peak RSS growth of one forward, each implementation in its own fresh process."""
    record: dict[str, Any] = {"block": case.block, "sizes": dict(case.sizes), "hparams": dict(case.hparams),
                              "shapes": [list(s) for s in case.shapes()], "impls": {}}
    for impl in ("fusionlab", "post") if has_post(case) else ("fusionlab",):
        log.info("memory case %s (%s): one forward in a subprocess …", case.block, impl)
        entry = _rss_in_subprocess(case, impl, threads, seed)
        if "skipped" in entry:
            log.warning("memory case %s (%s) not measured: needs %s", case.block, impl, entry["skipped"])
        record["impls"][impl] = entry
    return record


# ----------------------------------------------------------------------------------------
# one case
# ----------------------------------------------------------------------------------------


def _timed_pair(ours: Callable, post: Callable | None, min_time: float, round_seconds: float,
                min_rounds: int) -> dict[str, Any]:
    fns = {"fusionlab": ours}
    if post is not None:
        fns["post"] = post
    samples, repeat = interleaved(fns, min_time=min_time, round_seconds=round_seconds, min_rounds=min_rounds)
    out: dict[str, Any] = {
        "ms": {k: 1e3 * statistics.median(v) for k, v in samples.items()},
        "rounds": len(samples["fusionlab"]),
        "calls_per_round": repeat,
        "samples_ms": {k: [1e3 * t for t in v] for k, v in samples.items()},  # per round, in order
    }
    if post is not None:
        out.update(ratio_stats(samples["post"], samples["fusionlab"]))
    return out


def _compiled(ours: nn.Module, post: nn.Module | None, inputs, min_time: float, round_seconds: float,
              min_rounds: int) -> dict[str, Any]:
    import torch._dynamo

    record: dict[str, Any] = {"compile_s": {}}
    calls: dict[str, Callable] = {}
    reference = None
    with torch.no_grad():
        if post is not None:
            reference = post(*inputs)
        for impl, module in (("fusionlab", ours), ("post", post)):
            if module is None:
                continue
            torch._dynamo.reset()
            compiled = torch.compile(module, dynamic=False)
            start = time.perf_counter()
            out = compiled(*inputs)
            record["compile_s"][impl] = time.perf_counter() - start
            expected = reference if reference is not None else ours(*inputs)
            record.setdefault("max_abs_diff", {})[impl] = check_equal(out, expected, rtol=1e-4, atol=1e-4)
            calls[impl] = (lambda c: (lambda: c(*inputs)))(compiled)
        timing = _timed_pair(calls["fusionlab"], calls.get("post"), min_time, round_seconds, min_rounds)
    torch._dynamo.reset()
    record.update(timing)
    return record


def bench_case(case: Case, *, seed: int = 0, min_time: float = 2.0, compile: bool = False,
               quick: bool = False) -> dict[str, Any]:
    """Everything measured for one case; raises AssertionError if the outputs differ."""
    spec = case.spec
    shapes = case.shapes()
    ours, post, inputs = build_pair(case, seed=seed)
    record: dict[str, Any] = {
        "block": case.block,
        "title": spec.title,
        "case": case.label,
        "sizes": dict(case.sizes),
        "hparams": dict(spec.config(case.sizes, **case.hparams)),
        "shapes": [list(s) for s in shapes],
        "params": {"fusionlab": count_params(ours), "post": count_params(post) if post is not None else None},
        "flops": {"fusionlab": count_flops(ours, *shapes),
                  "post": count_flops(post, *shapes) if post is not None else None},
        "has_post": post is not None,
    }
    with torch.no_grad():
        got = ours(*inputs)
        if post is not None:
            expected = post(*inputs)
            record["check"] = {"equal": True, "max_abs_diff": check_equal(got, expected)}
        del got
    round_seconds = ROUND_SECONDS / 5 if quick else ROUND_SECONDS
    min_rounds = 3 if quick else MIN_ROUNDS
    with torch.no_grad():
        record["eager"] = _timed_pair(lambda: ours(*inputs), (lambda: post(*inputs)) if post is not None else None,
                                      min_time, round_seconds, min_rounds)
        record["peak_bytes"] = {
            "fusionlab": allocator_peak(lambda: ours(*inputs)),
            "post": allocator_peak(lambda: post(*inputs)) if post is not None else None,
        }
    if compile:
        record["compiled"] = _compiled(ours, post, inputs, min_time, round_seconds, min_rounds)
    return record


# ----------------------------------------------------------------------------------------
# widget panel and notebooks
# ----------------------------------------------------------------------------------------


def _slider_values(options: Sequence, current: Any) -> tuple[Any, Any]:
    options = list(options)
    i = options.index(current)
    other = options[i + 1] if i + 1 < len(options) else options[i - 1]
    return other, current


def panel_update_ms(name: str, *, repeats: int = 6) -> dict[str, Any]:
    """Median ms from setting the panel's first size slider's ``.value`` to its redrawn state."""
    from .widgets import block_panel

    spec = BLOCKS[name]
    panel = block_panel(name)
    # the width slider W where there is one (every image block), else the last size slider: moving
    # it rebuilds, re-traces and re-counts the whole block
    sliders = [n for n in panel.controls if n in spec.sizes and hasattr(panel.controls[n], "min")]
    control = "W" if "W" in sliders else (sliders[-1] if sliders else next(iter(panel.controls)))
    widget = panel.controls[control]
    options = range(widget.min, widget.max + 1, widget.step) if hasattr(widget, "min") else \
        [v for _, v in widget.options]
    values = _slider_values(options, widget.value)
    times = []
    for i in range(repeats):
        value = values[i % 2]
        start = time.perf_counter()
        widget.value = value
        state = panel.state
        times.append(time.perf_counter() - start)
        if state is None or state.values[control] != value:
            raise AssertionError(f"bench: {name}'s panel did not redraw for {control} = {value!r}.")
        if not state.ok:
            raise AssertionError(f"bench: {name}'s panel refused {control} = {value!r}: {state.error}")
    return {"control": control, "values": list(values), "ms": 1e3 * statistics.median(times),
            "max_ms": 1e3 * max(times), "repeats": repeats, "traced": panel.state.trace is not None}


def run_notebooks(paths: Sequence[Path], *, timeout: int = 900) -> list[dict[str, Any]]:
    """Execute each notebook top to bottom in a fresh kernel (nbclient); wall time and status each."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        log.info("notebook %s …", path.name)
        start = time.perf_counter()
        error = None
        try:
            client.execute()
        except Exception as err:  # the bench records a failing notebook and goes on
            error = " ".join(str(err).split())[:300]
        rows.append({"notebook": path.name, "seconds": time.perf_counter() - start, "ok": error is None,
                     "error": error})
    return rows


# ----------------------------------------------------------------------------------------
# the whole run
# ----------------------------------------------------------------------------------------


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
                    memory_cases=memory_cases, panel=panel, notebooks=notebooks, seed=seed)
    finally:
        torch.set_num_threads(previous_threads)


def _run(names: Sequence[str], *, quick: bool, threads: int, min_time: float | None, compile: bool | None,
         memory_cases: bool, panel: bool, notebooks: bool, seed: int) -> dict[str, Any]:
    min_time = min_time if min_time is not None else (0.05 if quick else 2.0)
    compile = (not quick) if compile is None else compile
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine_info(threads),
        "settings": {"quick": quick, "min_time_s": min_time, "compile": compile, "seed": seed,
                     "min_rounds": 3 if quick else MIN_ROUNDS, "same_within": SAME_WITHIN},
        "cases": [], "errors": [], "memory": [], "panel": [], "notebooks": [],
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
    if notebooks:
        from .original import NOTEBOOKS

        results["notebooks"] = run_notebooks(sorted(NOTEBOOKS.glob("*.ipynb")))
    results["wall_s"] = time.perf_counter() - started
    results["machine"]["load_after"] = _load()
    return results


# ----------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------


def _si(n: float | None) -> str:
    if n is None:
        return "—"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}"
    return f"{n:g}"


def _ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _mib(n: int | None) -> str:
    if n is None:
        return "—"
    mib = n / 2**20
    return f"{mib:.3g}" if mib < 1000 else f"{mib:,.0f}"


def _ratio(entry: Mapping[str, Any] | None) -> str:
    if not entry or "ratio" not in entry:
        return "—"
    lo, hi = entry["ratio_ci95"]
    return f"{entry['ratio']:.2f}× ({lo:.2f}–{hi:.2f}) {entry['verdict']}"


def _shape_text(shapes: Sequence[Sequence[int]]) -> str:
    distinct = []
    for s in shapes:
        t = "(" + ", ".join(map(str, s)) + ")"
        distinct.append(t)
    if len(set(distinct)) == 1 and len(distinct) > 1:
        return f"{distinct[0]} ×{len(distinct)}"
    return " ".join(distinct)


def _hparam_text(record: Mapping[str, Any]) -> str:
    # the hyperparameters that are not tied to the sizes (and that differ between blocks)
    spec = BLOCKS.get(record["block"])
    keys = list(spec.hparams) if spec is not None else []
    shown = {k: v for k, v in record["hparams"].items() if k in keys and k != "variant" and v is not None}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def targets(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The project's performance targets, each with the measured value and whether it holds
    (None: not measured in this run)."""
    rows: list[dict[str, Any]] = []
    compared = [r for r in results["cases"] if "ratio" in r["eager"]]
    slower = [f"{r['block']} ({r['case']}) {r['eager']['ratio']:.2f}×" for r in compared
              if r["eager"]["verdict"] == "slower"]
    rows.append({"target": "fusionlab never slower than the post, eager, beyond noise",
                 "value": "slower: " + ", ".join(slower) if slower else f"none of {len(compared)} cases",
                 "holds": (not slower) if compared else None})
    for name, minimum in SPEEDUP_TARGETS.items():
        hits = [r for r in compared if r["block"] == name and r["case"] == "realistic"]
        for r in hits:
            e = r["eager"]
            rows.append({"target": f"{name} at {_shape_text(r['shapes'])}, {_hparam_text(r)}: ≥ {minimum}× faster",
                         "value": f"{e['ratio']:.2f}× (interval {e['ratio_ci95'][0]:.2f}–{e['ratio_ci95'][1]:.2f})",
                         "holds": e["ratio"] >= minimum and e["ratio_ci95"][0] >= 1})
    for mc in results.get("memory", []):
        impls = mc["impls"]
        if "rss_delta" in impls.get("fusionlab", {}) and "rss_delta" in impls.get("post", {}):
            ours, post = impls["fusionlab"]["rss_delta"], impls["post"]["rss_delta"]
            hp = ", ".join(f"{k}={v}" for k, v in mc["hparams"].items())
            rows.append({"target": f"{mc['block']} at {_shape_text(mc['shapes'])}, {hp}: less peak memory than the post",
                         "value": f"{_mib(ours)} MiB vs the post's {_mib(post)} MiB",
                         "holds": ours < post})
    if results.get("panel"):
        worst = max(results["panel"], key=lambda p: p["ms"])
        rows.append({"target": "widget panel update < 100 ms (median, every block)",
                     "value": f"slowest {worst['block']} {worst['ms']:.0f} ms",
                     "holds": worst["ms"] < 100})
    if results.get("notebooks"):
        total = sum(n["seconds"] for n in results["notebooks"])
        ok = all(n["ok"] for n in results["notebooks"])
        rows.append({"target": "whole course (every notebook, fresh kernels) < 5 min",
                     "value": f"{total / 60:.1f} min for {len(results['notebooks'])} notebooks"
                              + ("" if ok else ", some failed"),
                     "holds": total < 300 and ok})
    return rows


def render_markdown(results: Mapping[str, Any], *, heading_level: int = 2, brief: bool = False) -> str:
    """The results as Markdown: machine line, targets, latency, compile/memory, panel and notebook tables
    (``brief``: up to the eager latency table only)."""
    h = "#" * heading_level
    m = results["machine"]
    s = results["settings"]
    load = ""
    if m.get("load_before") and m.get("load_after"):
        load = (f" The machine is shared: 1-minute load average {m['load_before'][0]:g} before the run, "
                f"{m['load_after'][0]:g} after")
        if max(m["load_before"][0], m["load_after"][0]) > m["cores"]:
            load += (f", more runnable processes than its {m['cores']} cores: absolute times are inflated and "
                     "noisy; the ratios, measured in alternating rounds, are what to read")
        load += "."
    command = s.get("command") or ("python -m fusionlab.bench" + (" --quick" if s.get("quick") else ""))
    command = " ".join(a for a in command.split() if a not in ("-v", "--verbose"))  # logging only
    out = [
        f"Measured by `{command}` on {m['date']}: "
        f"{m['cpu']}, {m['cores']} cores, {m['threads']} torch thread{'s' if m['threads'] != 1 else ''}, "
        f"torch {m['torch']}, "
        f"Python {m['python']}; the bench took {results.get('wall_s', 0) / 60:.1f} min.{load}",
        "",
        _table(["target", "measured", "holds"],
               [[t["target"], t["value"], {True: "yes", False: "**no**", None: "—"}[t["holds"]]]
                for t in targets(results)], "llc"),
        "",
        f"{h}# Latency, eager",
        "",
        "Eval mode, no autograd, float32. fusionlab and the post's code run with the same weights (outputs "
        "checked equal first) in alternating rounds; times are medians per call. **post / fusionlab** is the "
        "median of the per-round ratios (> 1: fusionlab is faster), in brackets its 95 % interval; "
        f"\"same\" when it includes 1 or the difference is under {100 * s.get('same_within', SAME_WITHIN):.0f} %.",
        "",
    ]
    rows = []
    for r in results["cases"]:
        eager = r["eager"]
        hp = _hparam_text(r)
        rows.append([
            f"`{r['block']}`", r["case"], _shape_text(r["shapes"]) + (f"; {hp}" if hp else ""),
            f"{r['params']['fusionlab']:,}", _si(r["flops"]["fusionlab"]),
            _ms(eager["ms"].get("post")), _ms(eager["ms"]["fusionlab"]), _ratio(eager),
        ])
    out.append(_table(["block", "size", "inputs; hyperparameters", "params", "FLOPs*", "post ms", "fusionlab ms",
                       "post / fusionlab"], rows, "lllrrrrl"))
    out += [
        "",
        "\\* FLOPs = 2 × multiply–accumulates of matmul, convolution and attention, counted on the meta "
        "device; element-wise ops count 0. `—`: the post has no code for this block (MSAA, CBAM).",
    ]
    if brief:
        return "\n".join(out) + "\n"
    out += [
        "",
        f"{h}# `torch.compile` and peak memory",
        "",
    ]
    rows = []
    for r in results["cases"]:
        comp = r.get("compiled")
        peak = r.get("peak_bytes", {})
        cs = comp["compile_s"] if comp else {}
        rows.append([
            f"`{r['block']}`", r["case"],
            _ms(comp["ms"].get("post")) if comp else "—", _ms(comp["ms"]["fusionlab"]) if comp else "—",
            _ratio(comp) if comp else "—",
            " / ".join(f"{cs[k]:.0f}" if k in cs else "—" for k in ("post", "fusionlab")) if comp else "—",
            _mib(peak.get("post")), _mib(peak.get("fusionlab")),
        ])
    out.append(_table(["block", "size", "compiled post ms", "compiled fusionlab ms", "post / fusionlab",
                       "first call s (post / fusionlab)", "peak MiB post", "peak MiB fusionlab"],
                      rows, "llrrlrrr"))
    out += [
        "",
        "Compiled: `torch.compile` (inductor, static shapes) at the realistic size, timed like eager after "
        "the first call (which compiles; inductor's on-disk cache makes a rerun's first call take seconds "
        "where a cold one takes 10–40 s here); outputs checked against the eager post. Peak MiB: bytes allocated "
        "by torch's CPU allocator during one eager forward (inputs and weights excluded, output included), "
        "from `torch.profiler` with `profile_memory=True`.",
    ]
    if results.get("errors"):
        out += ["", f"{h}# Failures", ""]
        out += [f"- `{e['block']}` ({e['case']}): {e['error']}" for e in results["errors"]]
    if results.get("memory"):
        out += ["", f"{h}# Memory: one forward in a fresh process", ""]
        rows = []
        for mc in results["memory"]:
            hp = ", ".join(f"{k}={v}" for k, v in mc["hparams"].items())
            for impl, e in mc["impls"].items():
                measured = _mib(e.get("rss_delta")) if "rss_delta" in e else f"skipped ({e.get('skipped')})"
                rows.append([f"`{mc['block']}`", _shape_text(mc["shapes"]) + (f"; {hp}" if hp else ""), impl,
                             measured, f"{e['seconds']:.1f}" if "seconds" in e else "—"])
        out.append(_table(["block", "input; hyperparameters", "code", "peak RSS growth MiB", "s, one call"],
                          rows, "lllrr"))
        out += ["", "Peak RSS growth: the process's peak resident memory during the call minus its resident "
                "memory just before (`VmHWM` reset through `/proc/self/clear_refs` after `malloc_trim`), in a fresh "
                "subprocess that had imported torch, built the block and its input, and run a small warm-up. "
                "The seconds are of that single call (not a median)."]
    if results.get("panel"):
        out += ["", f"{h}# Widget panel: one update", ""]
        rows = [[f"`{p['block']}`", f"{p['control']}: {p['values'][1]} ↔ {p['values'][0]}", f"{p['ms']:.0f}",
                 f"{p['max_ms']:.0f}"] for p in results["panel"]]
        out.append(_table(["block", "slider moved", "median ms", "max ms"], rows, "llrr"))
        out += ["", "From setting the slider's `.value` to the panel's new state: the block built on the meta "
                "device, its FLOPs counted, its shapes traced (symbolically) and the HTML redrawn; no browser."]
    if results.get("notebooks"):
        total = sum(n["seconds"] for n in results["notebooks"])
        out += ["", f"{h}# Notebooks: each run top to bottom in a fresh kernel (nbclient)", ""]
        rows = [[f"`{n['notebook']}`", f"{n['seconds']:.1f}", "ok" if n["ok"] else f"failed: {n['error']}"]
                for n in results["notebooks"]]
        rows.append(["**total**", f"**{total:.1f}**", ""])
        out.append(_table(["notebook", "seconds", "status"], rows, "lrl"))
    return "\n".join(out) + "\n"


def render_text(results: Mapping[str, Any]) -> str:
    """A plain-text table for the terminal."""
    headers = ["block", "size", "params", "FLOPs", "post ms", "ours ms", "post/ours", "verdict",
               "cmp post", "cmp ours", "MiB post", "MiB ours"]
    rows = []
    for r in results["cases"]:
        e, c = r["eager"], r.get("compiled")
        pk = r.get("peak_bytes", {})
        rows.append([r["block"], r["case"], f"{r['params']['fusionlab']:,}", _si(r["flops"]["fusionlab"]),
                     _ms(e["ms"].get("post")), _ms(e["ms"]["fusionlab"]),
                     f"{e['ratio']:.2f}" if "ratio" in e else "—", e.get("verdict", "—"),
                     _ms(c["ms"].get("post")) if c else "—", _ms(c["ms"]["fusionlab"]) if c else "—",
                     _mib(pk.get("post")), _mib(pk.get("fusionlab"))])
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(headers, widths))]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    m = results["machine"]
    lines.append(f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads, torch {m['torch']}, {m['date']}; "
                 f"wall {results.get('wall_s', 0):.0f} s")
    for mc in results.get("memory", []):
        for impl, entry in mc["impls"].items():
            got = _mib(entry.get("rss_delta")) if "rss_delta" in entry else "skipped"
            lines.append(f"memory {mc['block']} {mc['shapes']} {mc['hparams']} {impl}: peak RSS growth {got} MiB")
    for p in results.get("panel", []):
        lines.append(f"panel {p['block']}: {p['ms']:.0f} ms median ({p['control']})")
    for n in results.get("notebooks", []):
        lines.append(f"notebook {n['notebook']}: {n['seconds']:.1f} s {'ok' if n['ok'] else 'FAILED'}")
    for err in results.get("errors", []):
        lines.append(f"ERROR {err['block']} ({err['case']}): {err['error']}")
    return "\n".join(lines) + "\n"


def update_readme(markdown: str, path: Path = README) -> None:
    """Replace the README's text between the bench markers (adding heading and markers before
    ``## Launch anywhere`` the first time)."""
    text = path.read_text(encoding="utf-8")
    body = f"{README_START}\n{markdown.rstrip()}\n{README_END}"
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        text = head + body + tail
    elif README_BEFORE in text:
        text = text.replace(README_BEFORE, f"{README_HEADING}\n\n{body}\n\n{README_BEFORE}", 1)
    else:
        text = text.rstrip() + f"\n\n{README_HEADING}\n\n{body}\n"
    path.write_text(text, encoding="utf-8")


def _readme_section(results: Mapping[str, Any]) -> str:
    return (
        "How fast and how big each block is, fusionlab against the post's own code with the same weights. "
        "Rerun it with `python -m fusionlab.bench --readme` (add `--notebooks` to time the course); the numbers "
        "below are that command's output. `torch.compile` latency, peak memory, the OSRA memory case, "
        "widget-panel update times and notebook run times: [`docs/bench/results.md`](docs/bench/results.md) "
        "(raw: [`results.json`](docs/bench/results.json)).\n\n"
        + render_markdown(results, heading_level=3, brief=True)
    )


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
        prog="python -m fusionlab.bench",
        description="Benchmark every registered block against the post's code (CPU): parameters, FLOPs, "
                    "eager and compiled latency, peak memory, widget-panel update time, notebook run times.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (python -c 'import fusionlab.bench as b; help(b)') for the methods.",
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
                panel=not args.no_panel, notebooks=args.notebooks, seed=args.seed,
            )
        except ValueError as err:
            parser.error(str(err))
        # the command as typed (minus the output folder), so the report says how it was made
        typed = list(argv if argv is not None else sys.argv[1:])
        shown = [a for i, a in enumerate(typed)
                 if not (a in ("--out", "-v", "--verbose") or a.startswith("--out=") or (i and typed[i - 1] == "--out"))]
        results["settings"]["command"] = " ".join(["python -m fusionlab.bench", *shown])
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
