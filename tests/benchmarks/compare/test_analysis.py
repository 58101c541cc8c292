"""benchmarks.compare.analysis: the pure functions over the runs' summaries, called directly
(the command's analysis of hand-made directories: tests/benchmarks/test_compare_search.py)."""

from pathlib import Path

import pytest

from benchmarks.compare.analysis import (
    format_cell,
    method_stats,
    retrain_dir,
    score_run,
    stats,
    table_lines,
    target_method,
)


def _run(seed, final, curve=(), confirmation=None, **choices):
    return {"seed": seed, "final": final, "curve": list(curve), "startup": 5.0, "configs": 4,
            "full": 2, "epochs": 9, "util": 50.0, "covered": 12.0, "origin": 100.0,
            "last_report": 7.0, "choices": {"final": {"params": {"optim.lr": 0.1}}, **choices},
            "confirmation": confirmation}


def test_format_cell_gives_median_range_and_what_is_missing():
    assert format_cell([]) == "-" and format_cell([None]) == "-"
    assert format_cell([0.5, 0.7, None], ".2f") == "0.60 (0.50-0.70), 1 missing"
    assert format_cell([1, 2], "d") == "1.5 (1-2)"  # an even count's median keeps its half
    assert format_cell([-0.02, 0.01], "+.2f") == "-0.01 (-0.02 to +0.01)"
    assert format_cell([None, 3.0], ".0f", missing="never") == "3 (3-3), 1 never"


def test_stats_count_the_missing_values():
    assert stats([0.2, None, 0.4]) == {"median": pytest.approx(0.3), "min": 0.2, "max": 0.4,
                                       "n": 2, "missing": 1, "values": [0.2, None, 0.4]}
    assert stats([None])["median"] is None


@pytest.mark.parametrize("mode,expected", [("max", "d"), ("min", "b")])
def test_target_is_c_else_the_best_baseline_in_the_metrics_direction(mode, expected):
    runs = {"a": [_run(0, 0.9)], "b": [_run(0, 0.5), _run(1, 0.6)], "d": [_run(0, 0.7)]}
    assert target_method(runs, mode)[0] == expected
    assert target_method({**runs, "c": [_run(0, 0.1)]}, mode) == ("c", "c")
    # no baseline with a full-length trial: the best method that ran, said so
    only_a = {"a": [_run(0, 0.9)], "b": [_run(0, None)]}
    assert target_method(only_a, mode) == ("a", "a (no baseline ran; the best: c was not run)")
    with pytest.raises(SystemExit, match="no runs to analyse"):
        target_method({"b": [_run(0, None)]}, mode)


def test_retrain_dir_is_named_by_the_parameters_digest():
    one = retrain_dir(Path("a-s0"), {"optim.lr": 0.1, "model.hidden_size": 64}, 100)
    same = retrain_dir(Path("a-s0"), {"model.hidden_size": 64, "optim.lr": 0.1}, 100)
    other = retrain_dir(Path("a-s0"), {"optim.lr": 0.2, "model.hidden_size": 64}, 100)
    assert one == same and one != other and one.name.endswith("-s100")
    assert one.parent == Path("a-s0")


def test_score_run_of_a_peer_takes_its_choice_at_the_budget_and_notes_missing_retrains():
    notes = []
    row = score_run("d", _run(0, 0.8, curve=[(3.0, 0.7), (5.0, 0.85)]), None, 0.5, 10.0, 0.8,
                    "max", notes)
    assert row["final_at"] == 10.0 and row["time_to_target"] == 5.0
    assert row["test_search_best"] is None and row["search_best"] is None  # a's alone
    assert row["confirmation_gain"] is None and row["confirmation"] is None
    assert notes == ["d seed 0: final choice not retrained"]
    notes = []
    score_run("b", {**_run(1, None), "choices": {"final": None}}, None, None, 10.0, 0.8, "max",
              notes)
    assert notes == ["b seed 1: no final choice by the budget"]


def test_score_run_of_a_measures_the_confirmations_gain_and_share():
    c = {"top_k": 2, "ran": True, "winner": 0, "search_end": 103.5, "end": 108.0}
    row = score_run("a", _run(0, 0.9, confirmation=c), 0.90, 0.86, 10.0, 0.8, "max", [])
    assert row["confirmation_gain"] == pytest.approx(0.04)
    assert row["final_at"] == pytest.approx(8.0)  # the confirmation's end after the first step
    assert row["confirmation_share"] == pytest.approx(4.5 / 8.0)
    # confirmation asked for but nothing finished: the search's end, and a note
    notes = []
    row = score_run("a", _run(0, 0.9, confirmation={"top_k": 2, "ran": False}), 0.9, 0.9, 10.0,
                    0.8, "max", notes)
    assert row["final_at"] == 7.0 and row["confirmation_share"] is None
    assert "no confirmation run finished inside the budget" in notes[0]


def test_method_stats_and_table_keep_as_own_columns_to_a():
    c = {"top_k": 2, "ran": True, "winner": 0, "search_end": 103.5, "end": 108.0}
    rows = {"a": [score_run("a", _run(0, 0.9, confirmation=c), 0.90, 0.86, 10.0, 0.8, "max",
                            [])],
            "d": [score_run("d", _run(0, 0.8), 0.8, None, 10.0, 0.8, "max", [])]}
    stats_ = method_stats(rows)
    assert stats_["a"]["confirmation_gain"]["median"] == pytest.approx(0.04)
    assert "test_search_best" not in stats_["d"] and stats_["d"]["seeds"] == [0]
    lines = table_lines(rows, heading="Task t.", metric="val_accuracy",
                        test_metric="test_accuracy", confirm="2,1", notes=["a note"])
    assert lines[0] == "Task t. Each cell: median (range) over the seeds run, a: 1 seed; d: 1 seed."
    row_a = next(line for line in lines if line.startswith("| a:"))
    row_d = next(line for line in lines if line.startswith("| d:"))
    assert "| 0.9000 (0.9000-0.9000) | 0.8600 (0.8600-0.8600) | 56 (56-56) | 8 (8-8) |" in row_a
    assert row_d.startswith("| d: Optuna TPE + SH pruner, processes | 0.8000 (0.8000-0.8000) | "
                            "- | - | 10 (10-10) |")
    assert any(line.startswith("Confirmation gain") and "+0.0400" in line and "--confirm 2,1"
               in line for line in lines)
    assert lines[-2:] == ["Notes:", "- a note"]
