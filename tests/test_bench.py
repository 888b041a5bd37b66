"""The benchmark (``python benchmarks/bench.py``, beside the package): its quick mode checks every
block against the post, and its reports have the promised structure. No timing is asserted here
(speed is the bench's output). Everything runs in this process, except the memory case's own
subprocess (``slow_extra``: ``make test-slow``)."""
import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import bench, measure, memory, plays, report
from fusionlab import BLOCKS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick():
    """One in-process quick run over every registered block (panel included; the memory case,
    a subprocess, and the chapters' Play panels, which train nets, are tested on their own)."""
    threads = torch.get_num_threads()
    results = bench.run_bench(quick=True, memory_cases=False, plays=False)
    assert torch.get_num_threads() == threads, "the bench must restore the thread count"
    return results


def test_quick_run_covers_every_block_and_checks_it_against_the_post(quick):
    assert quick["errors"] == []
    assert [r["block"] for r in quick["cases"]] == list(BLOCKS)
    for r in quick["cases"]:
        spec = BLOCKS[r["block"]]
        assert r["has_post"] == (spec.post_class is not None), r["block"]
        assert [tuple(s) for s in r["shapes"]] == list(spec.shapes(r["sizes"]))
        assert r["params"]["fusionlab"] > 0 and r["flops"]["fusionlab"] > 0
        assert set(r["eager"]["ms"]) == ({"fusionlab", "post"} if r["has_post"] else {"fusionlab"})
        assert all(ms > 0 for ms in r["eager"]["ms"].values())
        assert r["eager"]["rounds"] >= 3
        assert r["peak_bytes"]["fusionlab"] > 0
        if r["has_post"]:
            # same weights, same function: equal outputs, parameter and FLOP counts
            assert r["check"]["equal"] is True and r["check"]["max_abs_diff"] < 1e-4
            assert r["params"]["post"] == r["params"]["fusionlab"]
            assert r["flops"]["post"] > 0
            assert r["eager"]["verdict"] in ("faster", "same", "slower")
            lo, hi = r["eager"]["ratio_ci95"]
            assert lo <= hi and r["eager"]["ratio"] > 0
        else:
            assert "check" not in r and "ratio" not in r["eager"]
    assert quick["machine"]["threads"] >= 1 and quick["machine"]["torch"] == torch.__version__
    assert quick["memory"] == []


def test_quick_run_drives_every_widget_panel(quick):
    assert [p["block"] for p in quick["panel"]] == list(BLOCKS)
    for p in quick["panel"]:
        assert p["ms"] > 0 and p["traced"], p
        assert p["values"][0] != p["values"][1]


def test_pairs_share_weights_and_randomised_norms():
    """build_pair loads the post's weights into fusionlab's block; eval-mode BatchNorm is no identity."""
    for name, spec in BLOCKS.items():
        case = measure.cases_for(spec, quick=True)[0]
        ours, post, _ = measure.build_pair(case)
        assert not ours.training and (post is None or not post.training)
        if post is not None:
            for (k, a), (_, b) in zip(ours.state_dict().items(), post.state_dict().items()):
                assert torch.equal(a, b), (name, k)
        norms = [m for m in ours.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert all(not torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in norms), name


def test_post_choices_decide_whether_the_post_runs():
    for name, spec in BLOCKS.items():
        for key, allowed in spec.post_choices.items():
            for value in spec.choices[key]:
                case = measure.Case(name, "demo", spec.resolve(), {key: value})
                assert measure.has_post(case) == (value in allowed), (name, key, value)


def test_unequal_outputs_are_an_error_not_a_timing(monkeypatch):
    real = measure.build_pair

    def broken(case, seed=0):
        ours, post, inputs = real(case, seed=seed)
        with torch.no_grad():
            next(ours.parameters()).add_(0.5)  # fusionlab's copy no longer has the post's weights
        return ours, post, inputs

    monkeypatch.setattr(measure, "build_pair", broken)
    results = bench.run_bench(blocks=["gated_fusion"], quick=True, memory_cases=False, panel=False, plays=False)
    assert results["cases"] == []
    assert len(results["errors"]) == 1 and "outputs differ" in results["errors"][0]["error"]


def test_verdicts_follow_the_interval():
    slow, fast = [2.0 + 0.01 * (i % 3) for i in range(21)], [1.0 + 0.01 * (i % 5) for i in range(21)]
    assert bench.ratio_stats(slow, fast)["verdict"] == "faster"
    assert bench.ratio_stats(fast, slow)["verdict"] == "slower"
    same = bench.ratio_stats(fast, list(reversed(fast)))
    assert same["verdict"] == "same" and same["ratio_ci95"][0] <= 1 <= same["ratio_ci95"][1]


def test_interleaved_rounds_alternate_and_time_each_function():
    calls = []
    samples, repeat = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                        min_time=0.0, min_rounds=4, round_seconds=0.0)
    assert repeat == 1 and len(samples["a"]) == len(samples["b"]) == 4
    assert calls[6:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # after 2 warm-ups and 1 calibration call each


def test_allocator_peak_sees_the_temporaries_of_a_call():
    x = torch.randn(256, 1024)  # 1 MiB, allocated before the call: not counted

    def two_temporaries():
        y = x * 2  # 1 MiB
        z = y + 1  # 1 MiB, both alive
        return z.sum()

    peak = bench.allocator_peak(two_temporaries)
    assert 2 * 2**20 <= peak < 3 * 2**20


def test_rss_growth_sees_a_known_allocation():
    """The memory case's method, in this process: 64 MiB written during the call, nothing after it."""
    n = 64 * 2**20 // 4  # float32 elements; above glibc's mmap threshold, so fresh pages
    entry = memory.rss_growth(lambda: torch.ones(n).sum())
    if entry["method"] != "VmHWM - VmRSS":
        pytest.skip("peak RSS can be reset on Linux only")
    assert 60 * 2**20 <= entry["rss_delta"] < 96 * 2**20, entry
    assert entry["seconds"] > 0
    idle = memory.rss_growth(lambda: None)
    assert idle["rss_delta"] < 8 * 2**20, idle


def test_rss_growth_refuses_a_call_beyond_its_budget():
    if memory._status_bytes("VmSize") is None:
        pytest.skip("the address-space budget needs /proc/self/status (Linux)")
    # the post's OSRA at 64×64 with sr_ratio=1 holds a (1, 8, 4096, 4096) float32 matrix: 512 MiB
    case = measure.Case("osra", "memory", BLOCKS["osra"].resolve({"H": 64, "W": 64}), {"sr_ratio": 1})
    _, post, inputs = measure.build_pair(case)
    with torch.no_grad():
        entry = memory.rss_growth(lambda: post(*inputs), budget=128 * 2**20)
    assert "rss_delta" not in entry and "0.1 GiB" in entry["skipped"], entry
    assert torch.zeros(2**27).sum() == 0  # the limit is lifted again: 512 MiB can be allocated


@pytest.mark.slow_extra
def test_memory_case_runs_each_implementation_in_a_subprocess():
    names = [n for n in measure.MEMORY_CASES if n in BLOCKS]
    results = bench.run_bench(blocks=names, quick=True, panel=False, plays=False)
    assert [m["block"] for m in results["memory"]] == names
    for m in results["memory"]:
        assert set(m["impls"]) == ({"fusionlab", "post"} if BLOCKS[m["block"]].post_class else {"fusionlab"})
        for entry in m["impls"].values():
            # a quick case is small: measured, well under a GiB, in a fraction of a minute
            assert entry["method"] and entry["rss_delta"] < 2**30 and 0 < entry["seconds"] < 30, entry


def test_every_block_has_a_realistic_size_that_it_accepts():
    for name, spec in BLOCKS.items():
        for case in bench.cases_for(spec):
            with torch.device("meta"):
                block = spec.build(case.sizes, **case.hparams).eval()
            out = block(*spec.example_inputs(case.sizes, device="meta"))
            got = tuple(tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,)))
            assert got == spec.output_shapes(case.sizes, **case.hparams), (name, case.label)
        labels = [c.label for c in bench.cases_for(spec)]
        assert labels in (["demo", "realistic"], ["demo = realistic"]), (name, labels)


def test_readme_section_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Course\n\ntext\n\n## Launch anywhere\n\nmore\n", encoding="utf-8")
    report.update_readme("first table", readme)
    report.update_readme("second table", readme)
    text = readme.read_text(encoding="utf-8")
    assert text.count(report.README_START) == text.count(report.README_END) == 1
    assert "second table" in text and "first table" not in text
    assert text.index("## Performance") < text.index(report.README_START) < text.index("## Launch anywhere")
    assert text.startswith("# x\n\n## Course\n\ntext\n\n") and text.endswith("## Launch anywhere\n\nmore\n")


def test_readme_performance_section_is_the_render_of_the_committed_results():
    """README.md and docs/bench/results.md are what the bench renders from docs/bench/results.json."""
    results = json.loads((ROOT / "docs" / "bench" / "results.json").read_text(encoding="utf-8"))
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(report.README_START, 1)[1].split(report.README_END, 1)[0]
    assert section.strip() == report._readme_section(results).strip()
    md = (ROOT / "docs" / "bench" / "results.md").read_text(encoding="utf-8")
    assert md == "# fusionlab benchmark\n\n" + report.render_markdown(results)


def test_cli_quick_writes_json_and_markdown(tmp_path, capsys):
    code = bench.main(["--quick", "--blocks", "gated_fusion,osra", "--no-panel", "--no-plays",
                       "--no-memory-case", "--out", str(tmp_path)])
    assert code == 0
    assert "gated_fusion" in capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["block"] for r in data["cases"]] == ["gated_fusion", "osra"]
    assert {"cpu", "cores", "threads", "torch", "date"} <= set(data["machine"])
    assert data["settings"]["command"] == "python benchmarks/bench.py --quick --blocks gated_fusion,osra " \
                                          "--no-panel --no-plays --no-memory-case"
    assert data["plays"] == {}
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| block | size |" in md and "`osra`" in md and data["machine"]["torch"] in md


def test_script_help_documents_every_flag(monkeypatch, capsys):
    """``python benchmarks/bench.py --help``, run as a script (as __main__, from its path)."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "bench.py"), "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / "benchmarks" / "bench.py"), run_name="__main__")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python benchmarks/bench.py")
    for flag in ("--quick", "--threads", "--blocks", "--min-time", "--no-compile", "--no-memory-case",
                 "--no-panel", "--no-plays", "--notebooks", "--out", "--readme", "--render"):
        assert flag in out and flag in bench.__doc__, flag


def test_play_timings_move_every_control_of_a_chapter():
    """Chapter 05's panel (no training), one repeat: every value of every control is a move, timed."""
    threads = torch.get_num_threads()
    got = plays.play_timings(["osra"], repeats=1)
    assert torch.get_num_threads() == threads, "play_timings must restore the thread count"
    assert list(got) == ["osra"]
    p = got["osra"]
    from fusionlab.plots.osra import play

    assert p["moves"] == sum(len(v) for v in play().controls.values()) > 1
    assert p["notebook"] == "05_osra_attention" and p["repeats"] == 1 and p["threads"] == 1
    assert 0 < p["median_ms"] <= p["worst_ms"] and 0 < p["first_visit_worst_ms"] <= p["worst_ms"]
    assert p["first_draw_ms"] > 0
    with pytest.raises(ValueError, match="unknown chapter"):
        plays.play_timings(["nope"])
    # the reports: two target rows, a results.md table
    results = {"machine": {"cpu": "x", "cores": 2, "threads": 2, "torch": "t", "python": "p", "date": "d"},
               "settings": {}, "cases": [], "plays": got}
    rows = [t for t in report.targets(results) if "Play panels" in t["target"]]
    assert [r["holds"] for r in rows] == [p["median_ms"] < 150, p["worst_ms"] < 300]
    md = report.render_markdown(results)
    assert "# Chapter Play panels" in md and "`05_osra_attention`" in md
    assert "play osra:" in report.render_text(results)


def test_the_package_holds_no_benchmark():
    import fusionlab

    assert not (Path(fusionlab.__file__).parent / "bench.py").exists()
