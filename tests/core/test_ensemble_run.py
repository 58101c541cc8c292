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
