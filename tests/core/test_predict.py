"""core.predict: a run's predictions on new files reproduce its test metrics; files without
targets work; files that do not fit the run exit 2 naming the file and what differs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.predict import main, predict
from core.run import run_training

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def _train(tmp_path, name, overrides, folds=0):
    cfg = ROOT / "benchmarks" / "real" / f"{name}.yaml"
    sets = [f"data.path={DATA / (name + '.npz')}", "training.epochs=2", "model.hidden_size=8",
            "experiment.device=cpu", *overrides]
    if folds:
        sets.append(f"data.cv_folds={folds}")
    return run_training(cfg, run_dir=tmp_path / "run", overrides=sets, quiet=True)


def _test_file(tmp_path, name, labels=True, **change):
    with np.load(DATA / f"{name}.npz") as f:
        arrays = {k: f[k] for k in f.files}
    test = arrays["split"] == "test"
    out = {k: v[test] for k, v in arrays.items() if k != "split"}
    out["ids"] = np.flatnonzero(test)
    if not labels:
        out.pop("y")
    out.update(change)
    path = tmp_path / f"{name}-test{'' if labels else '-unlabelled'}.npz"
    np.savez(path, **out)
    return path


def test_binary_predictions_reproduce_the_test_metrics_and_need_no_labels(tmp_path):
    run = _train(tmp_path, "italy_power_demand", ["training.batch_size=16"])
    labelled = predict(run.run_dir, _test_file(tmp_path, "italy_power_demand"))
    assert labelled.metrics == pytest.approx(run.test, rel=1e-5, abs=1e-6)
    frame = labelled.frame
    assert len(frame) == 1029 and list(frame.columns) == ["sequence_id", "prob_2",
                                                          "predicted_label", "threshold", "label"]
    # The binary accuracy metric thresholds the probability at 0.5; the predicted label uses the
    # threshold chosen on validation (summary.json's val_threshold).
    acc = ((frame["prob_2"] >= 0.5).map({True: "2", False: "1"}) == frame["label"]).mean()
    assert acc == pytest.approx(run.test["test_accuracy"], abs=1e-6)
    import json

    threshold = json.loads((run.run_dir / "summary.json").read_text())["val_threshold"]
    assert frame["threshold"].iloc[0] == pytest.approx(threshold)
    assert (frame["predicted_label"] == np.where(frame["prob_2"] >= threshold, "2", "1")).all()
    bare = predict(run.run_dir, _test_file(tmp_path, "italy_power_demand", labels=False))
    assert bare.metrics is None and "label" not in bare.frame
    assert np.allclose(bare.frame["prob_2"], frame["prob_2"])
    # The run's own file, train rows too: every row is predicted, the metrics score only its
    # test split (the split array), so they are summary.json's, not flattered by train rows.
    whole = predict(run.run_dir, DATA / "italy_power_demand.npz")
    assert len(whole.frame) == 1096 and len(whole.scored) == 1029
    assert whole.metrics == pytest.approx(run.test, rel=1e-5, abs=1e-6)


def test_cross_validated_multiclass_run_predicts_with_its_fold_models(tmp_path):
    run = _train(tmp_path, "japanese_vowels", ["training.batch_size=32"], folds=3)
    out = predict(run.run_dir, _test_file(tmp_path, "japanese_vowels"))
    assert out.metrics == pytest.approx(run.test, rel=1e-5, abs=1e-6)
    frame = out.frame
    probs = frame[[c for c in frame if c.startswith("prob_")]].to_numpy()
    assert probs.shape == (370, 9) and np.allclose(probs.sum(1), 1.0)
    acc = (frame["predicted_label"] == frame["label"]).mean()
    assert acc == pytest.approx(run.test["test_accuracy"], abs=1e-6)


def test_regression_predictions_are_in_original_units(tmp_path):
    run = _train(tmp_path, "covid3month", ["training.batch_size=16"])
    out = predict(run.run_dir, _test_file(tmp_path, "covid3month"))
    assert out.metrics == pytest.approx(run.test, rel=1e-5, abs=1e-6)
    (pred,) = [c for c in out.frame if c.startswith("pred_")]
    rmse = float(np.sqrt(((out.frame[pred] - out.frame["label"]) ** 2).mean()))
    with np.load(DATA / "covid3month.npz") as f:
        assert np.allclose(out.frame["label"], f["y"][f["split"] == "test"])
    assert rmse == pytest.approx(run.test["test_rmse"], rel=1e-5)


def test_cli_writes_csv_and_parquet_and_refuses_files_that_do_not_fit(tmp_path, capsys):
    run = _train(tmp_path, "italy_power_demand", ["training.batch_size=16"])
    good = _test_file(tmp_path, "italy_power_demand")
    for out in (tmp_path / "p.csv", tmp_path / "p.parquet"):
        assert main(["--run", str(run.run_dir), "--data", str(good), "--out", str(out)]) == 0
        read = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
        assert len(read) == 1029 and "prob_2" in read
    with np.load(good) as f:
        x = f["X"]
    cases = {"channels": ({"X": np.concatenate([x, x], axis=2)}, "2 channels"),
             "length": ({"X": x[:, :20]}, "exactly 24 steps")}
    for name, (change, words) in cases.items():
        bad = _test_file(tmp_path, "italy_power_demand", **change).rename(tmp_path / name)
        bad = bad.rename(bad.with_suffix(".npz"))
        out = tmp_path / f"{name}.csv"
        code = main(["--run", str(run.run_dir), "--data", str(bad), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and str(bad) in err and words in err, err
        assert not out.exists()
    code = main(["--run", str(tmp_path / "nowhere"), "--data", str(good), "--out",
                 str(tmp_path / "x.csv")])
    assert code == 2 and "not a run directory" in capsys.readouterr().err


def test_long_table_features_are_checked_by_name(tmp_path, capsys):
    rows = [{"sequence_id": s, "time": t, "a": float(s * t % 7), "b": float(s % 3 == 0),
             "label": s % 2} for s in range(60) for t in range(6)]
    csv = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    run = run_training({"data": {"source": "csv", "path": str(csv)},
                        "model": {"hidden_size": 8}, "experiment": {"device": "cpu"},
                        "training": {"epochs": 1, "batch_size": 16}},
                       run_dir=tmp_path / "run", quiet=True)
    new = pd.DataFrame(rows).drop(columns=["label"]).rename(columns={"b": "c"})
    path = tmp_path / "new.csv"
    new.to_csv(path, index=False)
    code = main(["--run", str(run.run_dir), "--data", str(path), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "'b'" in err, err
    unlabelled = pd.DataFrame(rows).drop(columns=["label"])
    unlabelled.to_csv(path, index=False)
    out = predict(run.run_dir, path)
    assert out.metrics is None and len(out.frame) == 60 and "predicted_label" in out.frame


@pytest.mark.parametrize("trial_threshold", [0.42, None], ids=["carried", "none"])
def test_a_refit_labels_and_scores_at_the_threshold_it_carries(tmp_path, trial_threshold):
    """A refit has no validation split to choose a threshold on: it carries its trial's
    (tuning.final sets task.threshold), and both predicted_label and test_f1_best apply it;
    a refit without one uses 0.5 for both (never a threshold chosen on the test split)."""
    import json

    from sklearn.metrics import f1_score

    from core.config import config_to_dict, load_config
    from tuning.final import refit_config

    trial = config_to_dict(load_config(ROOT / "benchmarks" / "real" / "italy_power_demand.yaml", [
        f"data.path={DATA / 'italy_power_demand.npz'}", "model.hidden_size=8",
        "training.batch_size=8", "optim.lr=1e-2", "experiment.device=cpu"]))
    refit, _ = refit_config(trial, 8, trial_threshold)  # 6 epochs on train + val
    run = run_training(refit, run_dir=tmp_path / "run", quiet=True)
    t = 0.5 if trial_threshold is None else trial_threshold
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["threshold"] == t and summary["val_threshold"] is None
    assert summary["threshold_from"] == ("default" if trial_threshold is None else
                                         "task.threshold")
    out = predict(run.run_dir, _test_file(tmp_path, "italy_power_demand"))
    assert out.metrics == pytest.approx(run.test, rel=1e-5, abs=1e-6)
    p, frame = out.frame["prob_2"].to_numpy(), out.frame
    assert (frame["threshold"] == t).all()
    assert (frame["predicted_label"] == np.where(p >= t, "2", "1")).all()
    if trial_threshold is not None:
        # Sequences between the carried threshold and 0.5 are positive: the labels flip there.
        assert ((p >= t) & (p < 0.5)).sum() >= 10
    # test_f1_best is the F1 of exactly these labels.
    assert run.test["test_f1_best"] == pytest.approx(
        f1_score(frame["label"] == "2", frame["predicted_label"] == "2"), abs=1e-6)
