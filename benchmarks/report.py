"""The bench's reports: the targets table, results.md, the terminal table and README's Performance section."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmarks.measure import ROOT, SAME_WITHIN, SPEEDUP_TARGETS
from benchmarks.plays import MEDIAN_TARGET_MS, WORST_TARGET_MS
from fusionlab.costs import _si as si
from fusionlab.registry import BLOCKS

COMMAND = "python benchmarks/bench.py"  # how the reports name the bench
README = ROOT / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
README_HEADING = "## Performance"
README_BEFORE = "## Launch anywhere"


def _si(n: float | None) -> str:
    return "—" if n is None else si(n)


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
    if results.get("plays"):
        plays = results["plays"]
        slow = max(plays, key=lambda k: plays[k]["median_ms"])
        worst = max(plays, key=lambda k: plays[k]["worst_ms"])
        rows.append({"target": f"chapter Play panels: one move < {MEDIAN_TARGET_MS:.0f} ms (median, every chapter)",
                     "value": f"slowest {slow} {plays[slow]['median_ms']:.0f} ms",
                     "holds": plays[slow]["median_ms"] < MEDIAN_TARGET_MS})
        rows.append({"target": f"chapter Play panels: every move < {WORST_TARGET_MS:.0f} ms, first visits included",
                     "value": f"worst {worst} {plays[worst]['worst_ms']:.0f} ms",
                     "holds": plays[worst]["worst_ms"] < WORST_TARGET_MS})
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
    command = s.get("command") or (COMMAND + (" --quick" if s.get("quick") else ""))
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
    if results.get("plays"):
        out += ["", f"{h}# Chapter Play panels: one move", ""]
        met = {True: "met", False: "**not met**"}
        rows = [[f"`{p['notebook']}`", str(p["moves"]), f"{p['median_ms']:.0f}", f"{p['worst_ms']:.0f}",
                 f"{p['first_visit_worst_ms']:.0f}", _ms(p.get("first_draw_ms")),
                 f"{met[p['median_ms'] < MEDIAN_TARGET_MS]} / {met[p['worst_ms'] < WORST_TARGET_MS]}"]
                for p in results["plays"].values()]
        out.append(_table(["chapter", "moves", "median ms", "worst ms", "worst first visit ms", "first draw ms",
                           f"< {MEDIAN_TARGET_MS:.0f} ms median / < {WORST_TARGET_MS:.0f} ms worst"], rows, "lrrrrrl"))
        threads = {p.get("threads", 1) for p in results["plays"].values()}
        repeats = {p.get("repeats") for p in results["plays"].values()}
        out += ["", "Each panel built as its chapter builds it (the chapter's training is setup, not timed), then every "
                "value of every control set in turn from the defaults: the first pass, in a fresh panel, visits each "
                f"configuration for the first time, then {'/'.join(map(str, sorted(repeats)))} more pass(es) repeat it. "
                "A move: the block's computation and the PNG encoding of every picture, as in the widget; "
                f"{'/'.join(map(str, sorted(threads)))} torch thread(s), as `fusionlab.notebook.setup()` sets on 2 cores. "
                "First draw: the default values, drawn when the cell runs (as `play_widget` does) before any move, "
                "so not a move; it may include one-time costs of the process (imports; the first Adam step, ~1 s, in "
                "chapter 01, whose notebook has trained before)."]
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
    for name, p in results.get("plays", {}).items():
        lines.append(f"play {name}: {p['median_ms']:.0f} ms median, {p['worst_ms']:.0f} ms worst "
                     f"({p['first_visit_worst_ms']:.0f} ms first visit), {p['moves']} moves")
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
        "Rerun it with `" + COMMAND + " --readme` (add `--notebooks` to time the course); the numbers "
        "below are that command's output. `torch.compile` latency, peak memory, the OSRA memory case, "
        "widget-panel update times and notebook run times: [`docs/bench/results.md`](docs/bench/results.md) "
        "(raw: [`results.json`](docs/bench/results.json)).\n\n"
        + render_markdown(results, heading_level=3, brief=True)
    )
