"""The small-data benchmark: the commands it runs are what a user types, and its table."""

import json
from pathlib import Path

from benchmarks.small_data import commands, main, summarise


def _flags(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_cv_method_runs_the_shipped_space_then_best_refit_and_ensemble():
    steps = commands("ItalyPowerDemand", Path("/d"), Path("/s/tsc.yaml"), Path("/sw"),
                     Path("/r"), 2, "cv")
    assert [label for label, _ in steps] == ["sweep", "cv_best", "cv_refit", "cv_ensemble"]
    sweep = steps[0][1]
    # nothing but the data file and the task the base config asks for, and the seed
    assert sorted(_flags(sweep, "--set")) == sorted([
        "data.path=/d/italy_power_demand.npz", "data.source=npz", "task.type=binary",
        "task.positive_class=2", "experiment.seed=2", "data.split_seed=2"])
    assert _flags(sweep, "--space") == ["/s/tsc.yaml"]
    assert _flags(steps[1][1], "--config") == ["/sw/ItalyPowerDemand-cv-2/best_config.yaml"]
    assert _flags(steps[2][1], "--config") == ["/sw/ItalyPowerDemand-cv-2/final_config.yaml"]
    assert _flags(steps[3][1], "--ensemble") == ["/sw/ItalyPowerDemand-cv-2/ensemble.yaml"]


def test_holdout_method_turns_cross_validation_off():
    steps = commands("PLAID", Path("/d"), Path("/s.yaml"), Path("/sw"), Path("/r"), 0,
                     "holdout", ["--num-samples", "4"])
    assert [label for label, _ in steps] == ["sweep", "holdout"]
    assert "data.cv_folds=0" in _flags(steps[0][1], "--set")
    assert _flags(steps[0][1], "--num-samples") == ["4"]


def test_table_gives_mean_and_range_per_method_and_gpu_minutes(tmp_path, capsys):
    rows = []
    for seed, (gru, refit, ens) in enumerate([(0.95, 0.96, 0.97), (0.93, 0.98, 0.99)]):
        base = {"set": "ItalyPowerDemand", "seed": seed, "metric": "accuracy"}
        rows += [{**base, "method": "gru", "value": gru, "seconds": 5},
                 {**base, "method": "cv_refit", "value": refit, "seconds": 30,
                  "sweep_seconds": 120 + 60 * seed},
                 {**base, "method": "cv_ensemble", "value": ens, "seconds": 90,
                  "sweep_seconds": 120 + 60 * seed}]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["--table", str(tmp_path)]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("| ItalyPower")][0]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "0.940 (0.930-0.950)"           # hand-written GRU
    assert cells[4] == "-" and cells[5] == "-"          # holdout, CV best: not run
    assert cells[6] == "0.970 (0.960-0.980)"
    assert cells[8] == "4.5 (4.0-5.0)"                 # (120+30+90)/60 and (180+30+90)/60


def test_summarise_says_when_one_seed_ran():
    assert summarise([0.0412], 4) == "0.0412 (1 seed)"
    assert summarise([], 3) == "-"
