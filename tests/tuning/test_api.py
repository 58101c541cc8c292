"""The Python API (tuning.api): one tiny sweep, started by running docs/python-api.md's code
blocks as written, read back and compared with trials.csv and the study."""

import math
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import tuning
from core.config import ConfigError
from tests.tuning.conftest import ROOT, SPACE
from tuning.record import STATUS
from tuning.study import load_study

DOC = ROOT / "docs" / "python-api.md"


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The doc's example, run from a folder that looks like the repository root (its
    search_spaces and configs), so its runs/ land in a temporary directory."""
    work = tmp_path_factory.mktemp("api")
    for name in ("search_spaces", "configs"):
        (work / name).symlink_to(ROOT / name)
    namespace = {"__name__": "__main__"}
    old = os.getcwd()
    os.chdir(work)
    try:
        for block in code_blocks(DOC.read_text()):
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        os.chdir(old)
    return work, namespace


@pytest.mark.slow
def test_doc_example_runs_and_its_sweep_finished(demo):
    work, ns = demo
    sweep = ns["sweep"]
    # the sweep ran all its trials into the storage path the example names
    assert sweep.path == (work / "runs" / "sweeps" / "api-demo").resolve()
    assert len(sweep.trials) == 3 and not sweep.running
    assert set(sweep.trials["status"]) <= {"completed", "pruned", "errored"}
    assert ns["config_file"].is_file() and ns["html"].is_file()


@pytest.mark.slow
def test_trials_equal_trials_csv_and_the_study(demo):
    sweep = demo[1]["sweep"]
    trials = sweep.trials
    # the same rows, columns and dtypes as the file the sweep wrote
    pd.testing.assert_frame_equal(trials, pd.read_csv(sweep.path / "trials.csv"))
    study = load_study(sweep.path)
    frozen = study.get_trials()
    assert list(trials["number"]) == [t.number for t in frozen]
    assert list(trials["status"]) == [STATUS[t.state.name] for t in frozen]
    for (_, row), t in zip(trials.iterrows(), frozen, strict=True):
        values = t.intermediate_values
        assert row["epochs"] == (max(values) if values else 0)
        if values:
            assert row["best_val_accuracy"] == pytest.approx(max(values.values()))
        for key, value in (t.user_attrs.get("params") or t.params).items():
            assert row[f"param:{key}"] == pytest.approx(value) if isinstance(value, float) \
                else str(row[f"param:{key}"]) == str(value)


@pytest.mark.slow
def test_history_has_one_row_per_epoch_equal_to_the_study(demo):
    sweep = demo[1]["sweep"]
    study = load_study(sweep.path)
    for t in study.get_trials():
        history = sweep.history(t.number)
        values = t.intermediate_values
        # unbatched: every epoch the trial ran, in order, with the values the study recorded
        assert list(history["epoch"]) == list(range(1, len(history) + 1))
        recorded = dict(zip(history["epoch"].astype(int), history["val_accuracy"], strict=True))
        assert recorded == pytest.approx(values)
        assert "_dir" not in history.columns
    # a key and a number name the same trial
    pd.testing.assert_frame_equal(sweep.history("t0001"), sweep.history(1))


@pytest.mark.slow
def test_best_is_the_exported_trial_with_its_checkpoint(demo):
    sweep = demo[1]["sweep"]
    best = sweep.best
    trials = sweep.trials
    eligible = trials[trials["status"].isin(["completed", "pruned"])]
    assert best.value == pytest.approx(eligible["best_val_accuracy"].max())
    assert best.metric == "val_accuracy" and best.trial == f"t{best.number:04d}"
    assert sweep.history(best.trial).set_index("epoch").loc[best.epoch, "val_accuracy"] == \
        pytest.approx(best.value)
    # export chose the same trial, and wrote its parameters into the config
    header = demo[1]["config_file"].read_text().splitlines()[1]
    assert header.startswith(f"# trial {best.trial}:")
    assert best.checkpoint is None or os.path.isfile(best.checkpoint)
    cfg = yaml.safe_load(demo[1]["config_file"].read_text())
    assert cfg["optim"]["lr"] == pytest.approx(best.params["optim.lr"])
    with pytest.raises(AttributeError):
        best.value = 0.0  # frozen
    # No confirmation ran: the best is the search's best, and says it is not confirmed.
    assert not best.confirmed and best.confirmed_mean is None and best.confirms is None
    assert sweep.search_best == best


@pytest.mark.slow
def test_doc_run_training_on_arrays(demo):
    result = demo[1]["result"]
    assert len(result.history) == 3 and result.test is not None
    assert 1 <= result.best_epoch <= 3 and math.isfinite(result.best_metric)


@pytest.mark.slow
def test_bad_input_raises_and_writes_nothing(demo, tmp_path):
    sweep = demo[1]["sweep"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPACE.read_text().replace("metric: val_accuracy", "metric: val_nothing"))
    storage = tmp_path / "s"
    with pytest.raises(ConfigError, match="metric"):
        tuning.run_sweep(bad, storage_path=storage, name="x", smoke=True)
    # the same name again: the sweep is there already
    with pytest.raises(tuning.SweepError, match="already holds a sweep"):
        tuning.run_sweep(SPACE, storage_path=sweep.path.parent, name=sweep.name, smoke=True)
    with pytest.raises(TypeError, match="num_sample"):
        tuning.run_sweep(SPACE, storage_path=storage, num_sample=3)
    assert not storage.exists()
    with pytest.raises(tuning.SweepError, match="not a sweep directory"):
        tuning.load_sweep(tmp_path)
    with pytest.raises(KeyError, match="t0042"):
        sweep.history("t0042")


def test_import_tuning_imports_neither_ray_nor_torch():
    code = ("import sys, tuning, core; print(sorted(m for m in ('ray', 'torch', 'optuna', "
            "'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"
