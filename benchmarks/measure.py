"""What the bench measures for one case: the pair of modules, equal outputs, interleaved timing,
``torch.compile`` latency, peak memory, the memory case in a subprocess, panel and notebook times.

The methods are described in :mod:`benchmarks.bench`'s docstring.
"""
from __future__ import annotations

import inspect
import json
import logging
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from benchmarks.memory import allocator_peak, mem_available, rss_growth
from fusionlab import count_flops, count_params
from fusionlab.original import original_class
from fusionlab.registry import BLOCKS, BlockSpec
from fusionlab._torch_internals import dynamo_reset
from fusionlab.testing import randomize_norms

log = logging.getLogger("benchmarks")

ROOT = Path(__file__).resolve().parent.parent  # the repository

# ----------------------------------------------------------------------------------------
# the bench's configuration (what it measures beyond each registry entry's demo and realistic size)
# ----------------------------------------------------------------------------------------

# Memory-only cases (one forward each, in a fresh process), keyed by block name.
MEMORY_CASES: dict[str, dict[str, Any]] = {
    # sr_ratio=1 keeps the full grid: a (1, 8, 16384, 16384) float32 attention matrix is 8 GiB
    "osra": {"sizes": {"B": 1, "C": 64, "H": 128, "W": 128}, "hparams": {"sr_ratio": 1}},
}
SPEEDUP_TARGETS = {"osra": 1.4}  # block -> least post / fusionlab ratio promised at its realistic size

QUICK_SIDE = 16  # --quick caps H and W at this
MIN_ROUNDS = 9
ROUND_SECONDS = 0.01  # one round repeats the call until it lasts about this long
MAX_ROUNDS = 400
SAME_WITHIN = 0.02  # |ratio − 1| below this is "same" whatever the interval says
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
    # the post's class exists and runs for this configuration (see BlockSpec.post_choices)
    return (spec.post_class is not None and config.get("variant", "blog") == "blog"
            and all(config[k] in allowed for k, allowed in spec.post_choices.items()))


def build_pair(case: Case, *, seed: int = 0) -> tuple[nn.Module, nn.Module | None, tuple[torch.Tensor, ...]]:
    """(fusionlab block, the post's module or None, inputs), eval mode, the same weights.

    The post's module is built first (seeded), its BatchNorms randomised, and its state_dict
    loaded into fusionlab's block with ``strict=True``
    (:func:`fusionlab.testing.randomize_norms`: eval-mode BatchNorm is then no identity).
    """
    spec = case.spec
    config = spec.config(case.sizes, **case.hparams)
    torch.manual_seed(seed)
    ours = spec.cls(**config)
    post = None
    if has_post(case):
        post_cls = original_class(case.block)
        torch.manual_seed(seed)
        post = post_cls(**post_kwargs(post_cls, config))
        randomize_norms(post, seed + 1)
        ours.load_state_dict(post.state_dict(), strict=True)
        post.eval()
    else:
        randomize_norms(ours, seed + 1)
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
# the memory case: one forward in a fresh process
# ----------------------------------------------------------------------------------------


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

    def call():
        with torch.no_grad():
            return module(*inputs)

    entry = rss_growth(call, budget=req["budget"], why=f", the free memory less {MEMORY_HEADROOM / 2**30:.0f} GiB")
    sys.stdout.write(json.dumps(entry) + "\n")


def _rss_in_subprocess(case: Case, impl: str, threads: int, seed: int, *, budget: int | None = None,
                       timeout: float = 900) -> dict[str, Any]:
    """Run :func:`_rss_child` in a fresh interpreter; ``budget`` bytes (default: the free memory less
    :data:`MEMORY_HEADROOM`) is the most the call may add to the address space."""
    if budget is None:
        available = mem_available()
        budget = max(available - MEMORY_HEADROOM, 0) if available is not None else None
    request = json.dumps({"block": case.block, "sizes": dict(case.sizes), "hparams": dict(case.hparams),
                          "impl": impl, "threads": threads, "seed": seed, "budget": budget})
    code = "import sys; from benchmarks.measure import _rss_child; _rss_child(sys.argv[1])"
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
    record: dict[str, Any] = {"compile_s": {}}
    calls: dict[str, Callable] = {}
    reference = None
    with torch.no_grad():
        if post is not None:
            reference = post(*inputs)
        for impl, module in (("fusionlab", ours), ("post", post)):
            if module is None:
                continue
            dynamo_reset()
            compiled = torch.compile(module, dynamic=False)
            start = time.perf_counter()
            out = compiled(*inputs)
            record["compile_s"][impl] = time.perf_counter() - start
            expected = reference if reference is not None else ours(*inputs)
            record.setdefault("max_abs_diff", {})[impl] = check_equal(out, expected, rtol=1e-4, atol=1e-4)
            calls[impl] = (lambda c: (lambda: c(*inputs)))(compiled)
        timing = _timed_pair(calls["fusionlab"], calls.get("post"), min_time, round_seconds, min_rounds)
    dynamo_reset()
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
    from fusionlab.widgets import block_panel

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
