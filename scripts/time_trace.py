"""How long ``fusionlab.trace`` takes per registered block (median after warm-up).

Three timings per block, symbols included:

* same:   the registry's default block and sizes, traced again and again (cache warm);
* sizes:  the same block at other batch and spatial sizes (the cached symbolic pass is
          re-checked against each new shape);
* config: a block rebuilt for another channel count, as a widget does when C moves;
* miss:   one trace with the symbolic cache emptied first (what a block's first trace costs
          after the process is warm, and what a change of structure, e.g. OSRA's sr_ratio, costs).

    python scripts/time_trace.py            # N = 15 per cell
    python scripts/time_trace.py --n 30 --blocks osra safm

The course wants < 100 ms per trace so that widget panels stay live. Times depend on the
machine's load: run it on an idle machine for numbers worth quoting.
"""
from __future__ import annotations

import argparse
import statistics
import time

from fusionlab import BLOCKS, trace
from fusionlab.tracing import symbolic


def _other_sizes(spec, k: int) -> list[dict]:
    """k size variations within the registry's choices (batch and spatial dims, not channels)."""
    out = []
    for i in range(k):
        sizes = dict(spec.sizes)
        for dim, default in spec.sizes.items():
            choices = list(spec.choices.get(dim, ()))
            if dim.startswith("C") or not choices or len(choices) < 2:
                continue
            # walk around the default inside the allowed values
            j = (choices.index(default) if default in choices else 0) + (i % 3) - 1
            sizes[dim] = choices[max(0, min(len(choices) - 1, j))]
        out.append(sizes)
    return out


def _other_configs(spec, k: int) -> list[dict]:
    """k channel-count variations that the block accepts."""
    out = []
    chans = [d for d in spec.sizes if d.startswith("C")]
    for i in range(1, 4 * k):
        if len(out) == k:
            break
        sizes = dict(spec.sizes)
        for d in chans:
            choices = list(spec.choices.get(d, ()))
            if not choices:
                continue
            pos = choices.index(spec.sizes[d]) if spec.sizes[d] in choices else 0
            sizes[d] = choices[(pos + i) % len(choices)]
        try:
            spec.build(sizes=sizes)
            trace(spec.build(sizes=sizes), *spec.shapes(sizes))
        except Exception:
            continue
        out.append(sizes)
    return out


def _median_ms(fn, n: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=15, help="timed traces per cell")
    parser.add_argument("--blocks", nargs="*", default=None, help="registry names (default: all)")
    args = parser.parse_args()

    rows = []
    for name, spec in BLOCKS.items():
        if args.blocks and name not in args.blocks:
            continue
        block = spec.build()
        shapes = spec.shapes()
        same = _median_ms(lambda: trace(block, *shapes), args.n)

        # the same block where its constructor does not depend on these sizes (CBAMBlock's HW does)
        variants = [(block if spec.tie(s) == spec.tie(spec.sizes) else spec.build(sizes=s), spec.shapes(s))
                    for s in _other_sizes(spec, 3)]
        it = iter(range(10**9))

        def sizes_fn():
            b, sh = variants[next(it) % len(variants)]
            trace(b, *sh)

        sizes = _median_ms(sizes_fn, args.n, warmup=len(variants))

        configs = _other_configs(spec, 3)
        built = [(spec.build(sizes=s), spec.shapes(s)) for s in configs]
        it2 = iter(range(10**9))

        def config_fn():
            b, sh = built[next(it2) % len(built)]
            trace(b, *sh)

        config = _median_ms(config_fn, args.n, warmup=len(built)) if built else float("nan")
        def miss_fn():
            symbolic.CACHE.clear()
            trace(block, *shapes)

        miss = _median_ms(miss_fn, max(3, args.n // 5), warmup=1)
        n_rows = len(trace(block, *shapes).rows)
        rows.append((name, n_rows, same, sizes, config, miss))

    print(f"{'block':<14}{'rows':>6}{'same ms':>10}{'sizes ms':>10}{'config ms':>11}{'miss ms':>10}")
    for name, n_rows, same, sizes, config, miss in rows:
        print(f"{name:<14}{n_rows:>6}{same:>10.1f}{sizes:>10.1f}{config:>11.1f}{miss:>10.0f}")


if __name__ == "__main__":
    main()
