"""core.ensemble_run (python -m core.train --ensemble): members trained, the ensemble's test
metrics are those of the members' weighted mean probabilities; core.predict --ensemble agrees."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.config import config_to_dict, load_config
from core.predict import main as predict_main
from core.predict import predict, predict_ensemble
from core.train import main as train_main
from tests.core.test_predict import _test_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def _member(seed, hidden):
    cfg = load_config(ROOT / "benchmarks" / "real" / "japanese_vowels.yaml", [
        f"data.path={DATA / 'japanese_vowels.npz'}", "data.val_fraction=0", "training.epochs=2",
        f"model.hidden_size={hidden}", f"experiment.seed={seed}", "experiment.device=cpu",
        "training.batch_size=32"])
    return config_to_dict(cfg)


def test_ensemble_metrics_are_the_weighted_mean_of_its_members(tmp_path):
    file = tmp_path / "ens.yaml"
    file.write_text(yaml.safe_dump({"members": [
        {"trial": "t0001", "weight": 0.75, "config": _member(0, 8)},
        {"trial": "t0004", "weight": 0.25, "config": _member(1, 16)}]}))
    out = tmp_path / "ens"
    assert train_main(["--ensemble", str(file), "--output-dir", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [m["weight"] for m in summary["members"]] == [0.75, 0.25]
    test_file = _test_file(tmp_path, "japanese_vowels")
    # Independently: each member's probabilities on the test split (core.predict), averaged.
    frames = [predict(out / f"member-{i}", test_file).frame for i in range(2)]
    cols = [c for c in frames[0] if c.startswith("prob_")]
    probs = 0.75 * frames[0][cols].to_numpy() + 0.25 * frames[1][cols].to_numpy()
    names = np.array([c.removeprefix("prob_") for c in cols], dtype=object)
    acc = float((names[probs.argmax(1)] == frames[0]["label"].to_numpy()).mean())
    assert summary["test"]["test_accuracy"] == pytest.approx(acc, abs=1e-6)
    for i, m in enumerate(summary["members"]):
        member = json.loads((out / f"member-{i}" / "summary.json").read_text())
        assert m["test"] == member["test"] and member["epochs_run"] == 2
    # core.predict --ensemble: the same numbers from the data file.
    ens = predict_ensemble(out, test_file)
    assert ens.metrics == pytest.approx(summary["test"], rel=1e-5, abs=1e-6)
    assert np.allclose(ens.frame[cols].to_numpy(), probs, atol=1e-5)
    assert predict_main(["--ensemble", str(out), "--data", str(test_file),
                         "--out", str(tmp_path / "p.csv")]) == 0


def test_a_bad_ensemble_file_exits_2_naming_the_key_with_nothing_trained(tmp_path, capsys):
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({"members": [{"weight": -1, "config": _member(0, 8)}]}))
    out = tmp_path / "ens"
    assert train_main(["--ensemble", str(file), "--output-dir", str(out)]) == 2
    assert "members[0].weight" in capsys.readouterr().err and not out.exists()


def _binary_member(seed, threshold=None):
    sets = [f"data.path={DATA / 'italy_power_demand.npz'}", "data.val_fraction=0",
            "training.epochs=6", "model.hidden_size=8", "optim.lr=1e-2", "training.batch_size=8",
            f"experiment.seed={seed}", "experiment.device=cpu"]
    if threshold is not None:
        sets.append(f"task.threshold={threshold}")
    return config_to_dict(load_config(ROOT / "benchmarks" / "real" / "italy_power_demand.yaml",
                                      sets))


def test_a_binary_ensemble_labels_and_scores_at_its_own_threshold(tmp_path):
    """The file's threshold (tuning.export: F1-optimal on the ensemble's out-of-fold prediction)
    is the ensemble's: its test f1_best and core.predict --ensemble's labels apply it; each
    member keeps its own (a refit's task.threshold, else 0.5) for its own metrics."""
    from sklearn.metrics import f1_score

    file = tmp_path / "ens.yaml"
    file.write_text(yaml.safe_dump({"threshold": 0.45, "members": [
        {"trial": "t0001", "weight": 0.6, "config": _binary_member(0, threshold=0.3)},
        {"trial": "t0002", "weight": 0.4, "config": _binary_member(1)}]}))
    out = tmp_path / "ens"
    assert train_main(["--ensemble", str(file), "--output-dir", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["threshold"] == 0.45
    own = [json.loads((out / f"member-{i}" / "summary.json").read_text())["threshold"]
           for i in range(2)]
    assert own == [0.3, 0.5]
    test_file = _test_file(tmp_path, "italy_power_demand")
    frames = [predict(out / f"member-{i}", test_file).frame for i in range(2)]
    p = 0.6 * frames[0]["prob_2"].to_numpy() + 0.4 * frames[1]["prob_2"].to_numpy()
    positive = frames[0]["label"].to_numpy() == "2"
    assert ((p >= 0.45) & (p < 0.5)).sum() >= 10  # labels that 0.5 would call negative
    assert summary["test"]["test_f1_best"] == pytest.approx(f1_score(positive, p >= 0.45),
                                                            abs=1e-6)
    ens = predict_ensemble(out, test_file)
    assert ens.metrics == pytest.approx(summary["test"], rel=1e-5, abs=1e-6)
    assert (ens.frame["threshold"] == 0.45).all()
    assert (ens.frame["predicted_label"] == np.where(ens.frame["prob_2"] >= 0.45, "2", "1")).all()


@pytest.mark.parametrize("threshold,words", [(1.5, "a number in (0, 1)"), ("high", "(0, 1)"),
                                             (0.4, "applies to binary tasks, not multiclass")])
def test_a_bad_ensemble_threshold_exits_2_naming_it_with_nothing_trained(tmp_path, capsys,
                                                                         threshold, words):
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump({"threshold": threshold,
                                    "members": [{"weight": 1, "config": _member(0, 8)}]}))
    out = tmp_path / "ens"
    assert train_main(["--ensemble", str(file), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{file}: threshold: " in err and words in err and not out.exists(), err
