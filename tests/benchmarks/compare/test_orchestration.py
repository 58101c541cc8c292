"""benchmarks.compare.orchestration: a final choice of a cross-validated task retrained with
core.train (its fold models, scored on the test split) and read by the analysis."""

import json
from types import SimpleNamespace

from benchmarks.compare.analysis import retrain_dir
from benchmarks.compare.orchestration import retrain
from benchmarks.compare.results import analyse

PARAMS = {"model.name": "fcn", "model.filters": 16, "training.batch_size": 64,
          "optim.lr": 3.0e-3}


def test_a_cv_choice_is_retrained_as_its_fold_models_and_analysed(tmp_path):
    run = tmp_path / "d-s0"
    run.mkdir()
    # a run of d whose one COMPLETE trial (4 epochs: the smoke's) is its final choice
    trial = {"first_step": 100.0, "reports": [101.0, 102.0, 103.0, 104.0],
             "scores": [1.5, 1.0, 0.8, 0.7], "params": PARAMS, "state": "COMPLETE",
             "value": 0.7}
    (run / "summary.json").write_text(json.dumps({
        "max_epochs": 4, "launched": 95.0, "ended": 105.0, "task": "tsc", "metric": "val_loss",
        "mode": "min", "trials": [trial]}))
    args = SimpleNamespace(out=tmp_path, task="tsc", smoke=True, sets=[], methods=["d"],
                           budget=10.0, retrain_seeds=[100], retrain_parallel=1)
    assert retrain(args, say=print) == 1
    summary = json.loads((retrain_dir(run, PARAMS, 100) / "summary.json").read_text())
    assert summary["cv_folds"] == 2  # the smoke's 2 folds, trained again
    # the test split scored by the fold models' mean prediction at the best fold-mean epoch
    test = summary["test"]["test_accuracy"]
    assert 0.0 <= test <= 1.0
    analyse(args, quiet=True)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["task"] == "tsc" and res["metric"] == "val_loss"
    assert res["methods"]["d"]["test_final"]["values"] == [test]
