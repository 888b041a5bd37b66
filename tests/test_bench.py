"""``python -m fusionlab.bench``: its quick mode checks every block against the post, and its
reports have the promised structure. No timing is asserted here (speed is the bench's output)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fusionlab.bench as bench
from fusionlab import BLOCKS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick():
    """One in-process quick run over every registered block (memory case and panel included)."""
    threads = torch.get_num_threads()
    results = bench.run_bench(quick=True)
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


def test_quick_run_measures_the_memory_case_in_subprocesses(quick):
    assert [m["block"] for m in quick["memory"]] == [n for n in bench.MEMORY_CASES if n in BLOCKS]
    for m in quick["memory"]:
        assert set(m["impls"]) == ({"fusionlab", "post"} if BLOCKS[m["block"]].post_class else {"fusionlab"})
        for entry in m["impls"].values():
            assert entry["rss_delta"] >= 0 and entry["seconds"] > 0


def test_quick_run_drives_every_widget_panel(quick):
    assert [p["block"] for p in quick["panel"]] == list(BLOCKS)
    for p in quick["panel"]:
        assert p["ms"] > 0 and p["traced"], p
        assert p["values"][0] != p["values"][1]


def test_unequal_outputs_are_an_error_not_a_timing(monkeypatch):
    real = bench.build_pair

    def broken(case, seed=0):
        ours, post, inputs = real(case, seed=seed)
        with torch.no_grad():
            next(ours.parameters()).add_(0.5)  # fusionlab's copy no longer has the post's weights
        return ours, post, inputs

    monkeypatch.setattr(bench, "build_pair", broken)
    results = bench.run_bench(blocks=["gated_fusion"], quick=True, memory_cases=False, panel=False)
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


def test_memory_subprocess_refuses_a_call_beyond_its_budget():
    # the post's OSRA at 64×64 with sr_ratio=1 holds a (1, 8, 4096, 4096) float32 matrix: 512 MiB
    case = bench.Case("osra", "memory", BLOCKS["osra"].resolve({"H": 64, "W": 64}), {"sr_ratio": 1})
    entry = bench._rss_in_subprocess(case, "post", threads=1, seed=0, budget=128 * 2**20)
    assert "rss_delta" not in entry and "0.1 GiB" in entry["skipped"], entry


def test_every_block_has_a_realistic_size_that_it_accepts():
    for name, spec in BLOCKS.items():
        for case in bench.cases_for(spec):
            with torch.device("meta"):
                block = spec.build(case.sizes, **case.hparams).eval()
            out = block(*spec.example_inputs(case.sizes, device="meta"))
            assert out is not None
        labels = [c.label for c in bench.cases_for(spec)]
        assert labels in (["demo", "realistic"], ["demo = realistic"]), (name, labels)


def test_readme_section_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Course\n\ntext\n\n## Launch anywhere\n\nmore\n", encoding="utf-8")
    bench.update_readme("first table", readme)
    bench.update_readme("second table", readme)
    text = readme.read_text(encoding="utf-8")
    assert text.count(bench.README_START) == text.count(bench.README_END) == 1
    assert "second table" in text and "first table" not in text
    assert text.index("## Performance") < text.index(bench.README_START) < text.index("## Launch anywhere")
    assert text.startswith("# x\n\n## Course\n\ntext\n\n") and text.endswith("## Launch anywhere\n\nmore\n")


def test_cli_quick_writes_json_and_markdown(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fusionlab.bench", "--quick", "--blocks", "gated_fusion,osra", "--no-panel",
         "--no-memory-case", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gated_fusion" in result.stdout and "osra" in result.stdout
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [r["block"] for r in data["cases"]] == ["gated_fusion", "osra"]
    assert {"cpu", "cores", "threads", "torch", "date"} <= set(data["machine"])
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| block | size |" in md and "`osra`" in md and data["machine"]["torch"] in md


def test_help_documents_every_flag():
    result = subprocess.run([sys.executable, "-m", "fusionlab.bench", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0
    for flag in ("--quick", "--threads", "--blocks", "--min-time", "--no-compile", "--no-memory-case",
                 "--no-panel", "--notebooks", "--out", "--readme", "--render"):
        assert flag in result.stdout and flag in bench.__doc__, flag
