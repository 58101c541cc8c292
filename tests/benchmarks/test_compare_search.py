"""The comparison's analysis on hand-made runs: budget cut, full-length filter, time to target."""

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.compare_search import _reach, _timeline

ROOT = Path(__file__).resolve().parents[2]


def _trial(first, scores, step=1.0):
    return {"first_step": first, "reports": [first + step * (i + 1) for i in range(len(scores))],
            "scores": scores, "params": {"optim.lr": first}}


def _summary(launched, trials, max_epochs=3):
    return {"max_epochs": max_epochs, "launched": launched, "trials": trials,
            "util_samples": [[launched + 1, 10.0], [launched + 6, 90.0]]}


def test_timeline_counts_only_full_length_trials_inside_the_budget():
    s = _summary(95.0, [_trial(100.0, [0.5, 0.6, 0.7]),          # full, ends at 3 s
                        _trial(101.0, [0.9]),                     # pruned: never counts as best
                        _trial(102.0, [0.6, 0.8, 0.85]),          # full, ends at 5 s
                        _trial(104.0, [0.7, 0.9, 0.99])])         # full, ends at 7 s: too late
    t = _timeline(s, budget=6.0)
    assert t["startup"] == 5.0
    assert t["curve"] == [(3.0, 0.7), (5.0, 0.85)]
    assert t["final"] == 0.85 and t["full"] == 2
    assert t["best_params"] == {"optim.lr": 102.0}
    assert t["epochs"] == 3 + 1 + 3 + 2  # epochs reported by 6 s
    assert t["configs"] == 4
    assert t["util"] == 90.0  # samples from the first training step on
    assert _reach(t["curve"], 0.8) == 5.0 and _reach(t["curve"], 0.9) is None


def test_analysis_writes_the_table_and_the_plot(tmp_path):
    for method, scores in (("a", [0.6, 0.9, 0.95]), ("c", [0.5, 0.7, 0.8])):
        for seed in (0, 1):
            d = tmp_path / f"{method}-s{seed}"
            d.mkdir()
            (d / "summary.json").write_text(json.dumps(
                _summary(95.0, [_trial(100.0, scores), _trial(100.5, scores[:1])])))
    proc = subprocess.run([sys.executable, "benchmarks/compare_search.py", "--out", str(tmp_path),
                           "--analyse", "--methods", "a,c", "--budget", "10"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    table = (tmp_path / "table.md").read_text()
    assert "target = median final of c = 0.8000" in table
    row_a = next(line for line in table.splitlines() if line.startswith("| a:"))
    assert "0.9500 (0.9500-0.9500)" in row_a and "| 3 (3-3) |" in row_a  # reached 0.8 at 3 s
    assert (tmp_path / "anytime.png").stat().st_size > 10_000


def test_analysis_without_c_targets_the_best_available_baseline_and_says_so(tmp_path):
    finals = {"a": [0.6, 0.9, 0.95], "b": [0.5, 0.6, 0.7], "d": [0.5, 0.7, 0.8]}
    for method, scores in finals.items():
        d = tmp_path / f"{method}-s0"
        d.mkdir()
        (d / "summary.json").write_text(json.dumps(_summary(95.0, [_trial(100.0, scores)])))
    for methods, expected in (("a,b,d", "d (the best available baseline: c was not run) = 0.8000"),
                              ("a,b", "b (the best available baseline: c was not run) = 0.7000"),
                              ("a", "a (no baseline ran; the best: c was not run) = 0.9500")):
        proc = subprocess.run([sys.executable, "benchmarks/compare_search.py", "--out",
                               str(tmp_path), "--analyse", "--methods", methods, "--budget", "10"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"target = median final of {expected}" in (tmp_path / "table.md").read_text()
