"""Export and reproduction: the exported config retrains the trial exactly (CPU)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.config import load_config
from core.tasks import metric_names
from tests.tuning.conftest import run_sweep
from tuning import export, sweep
from tuning.record import LOCK_FILE, trial_history
from tuning.study import load_study

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr")


@pytest.mark.slow
def test_exported_best_config_reproduces_the_trial_exactly(smoke, tmp_path):
    exp, proc = smoke
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "best.yaml"
    assert export.main([str(exp), "--out", str(out)]) == 0
    header = out.read_text().splitlines()
    key = header[1].split()[2].rstrip(":")
    cfg = load_config(out)
    # The file is complete and typed: ints stay ints, floats stay floats, the trial's epochs.
    assert cfg.training.epochs == 4 and isinstance(cfg.optim.lr, float)
    assert isinstance(cfg.model.hidden_size, int) and cfg.experiment.num_threads == 1
    assert header[0].startswith("# Exported from sweep s") and "val_accuracy" in header[1]

    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "core.train", "--config", str(out),
                            "--output-dir", str(run), "--quiet"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    standalone = list(csv.DictReader((run / "metrics.csv").open()))
    trial = trial_history(exp, key)
    assert len(standalone) == len(trial) == 4
    for s, t in zip(standalone, trial, strict=True):
        for col in COLUMNS:
            # Identical on CPU: same loop, same data, same seed, same thread count.
            assert float(s[col]) == float(t[col]), (key, col, s[col], t[col])
    # The best epoch agrees everywhere: the export's header, trials.csv and the retrain's
    # best.pt (the sweep's metric is the checkpoint metric; ties go to the lower val_loss).
    epoch = int(header[1].split(" at epoch ")[1].split()[0])
    with (exp / "trials.csv").open() as f:
        row = next(r for r in csv.DictReader(f) if r["trial"] == key)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["checkpoint_metric"] == "val_accuracy"
    assert int(row["best_epoch"]) == epoch == summary["best_epoch"]


@pytest.mark.slow
def test_export_a_chosen_trial_and_errors(smoke, tmp_path, capsys):
    exp, _ = smoke
    out = tmp_path / "t.yaml"
    assert export.main([str(exp), "--trial", "t0000", "--out", str(out)]) == 0
    params = load_study(exp).trials[0].user_attrs["params"]
    raw = yaml.safe_load(out.read_text())
    assert raw["optim"]["lr"] == params["optim.lr"]
    assert export.main([str(exp), "--trial", "t9999", "--out", str(out)]) == 2
    assert "no trial 't9999'" in capsys.readouterr().err
    assert export.main([str(tmp_path), "--out", str(out)]) == 2


@pytest.mark.slow
def test_holdout_sweep_exports_a_refit_on_request_and_refuses_an_ensemble(smoke, tmp_path,
                                                                          capsys):
    exp, _ = smoke
    plain, refit = tmp_path / "plain.yaml", tmp_path / "refit.yaml"
    assert export.main([str(exp), "--out", str(plain)]) == 0  # holdout: no refit by default
    assert export.main([str(exp), "--out", str(refit), "--refit"]) == 0
    before, after = load_config(plain), load_config(refit)
    assert before.data.val_fraction > 0 and after.data.val_fraction == 0.0
    epoch = int(plain.read_text().split(" at epoch ")[1].split()[0])
    assert after.training.epochs == max(1, round(epoch * (1 - before.data.val_fraction)))
    assert "refit: trains on every non-test sequence" in refit.read_text()
    out = tmp_path / "ens.yaml"
    assert export.main([str(exp), "--out", str(out), "--ensemble", "2"]) == 2
    assert "needs a cross-validated sweep" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_export_refuses_a_running_sweep_unless_partial(smoke_copy, tmp_path, capsys):
    exp, _ = smoke_copy  # its lock file is written
    # A live process holding the sweep's lock looks like a running driver.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    lock = exp / LOCK_FILE
    try:
        import socket

        lock.write_text(f"{holder.pid} {socket.gethostname()}\n")
        out = tmp_path / "p.yaml"
        assert export.main([str(exp), "--out", str(out)]) == 2
        assert "still running" in capsys.readouterr().err and not out.exists()
        assert export.main([str(exp), "--out", str(out), "--allow-partial"]) == 0
        # Resuming a sweep whose driver is alive is refused as well.
        assert sweep.main(["--resume", str(exp)]) == 2
    finally:
        lock.unlink(missing_ok=True)
        holder.kill()
    assert os.path.exists(out)


# One smoke sweep per task type on the shipped space, scored by a metric of its own: binary with
# --metric (overriding the space's val_auroc), multilabel and regression with the space's metric,
# whose mode the space leaves out (val_rmse improves downwards: the direction is inferred).
TASK_SWEEPS = [
    ("binary", ["--metric", "val_average_precision"], "val_average_precision", "max"),
    ("multilabel", [], "val_map", "max"),
    ("regression", [], "val_rmse", "min"),
]


@pytest.mark.parametrize(("task_type", "flags", "metric", "mode"), TASK_SWEEPS,
                         ids=[t[0] for t in TASK_SWEEPS])
@pytest.mark.slow
def test_task_sweep_on_its_own_metric_exports_the_best_trial_that_retrains_exactly(
        tmp_path, task_type, flags, metric, mode):
    space = ROOT / "search_spaces" / f"{task_type}.yaml"
    proc = run_sweep(["--space", str(space), "--smoke", "--num-samples", "3", "--max-epochs",
                      "3", *flags, "--storage-path", str(tmp_path), "--name", "s"])
    exp = tmp_path / "s"
    assert proc.returncode == 0, proc.stderr[-2000:]
    with (exp / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert f"best_{metric}" in rows[0]
    out = tmp_path / "best.yaml"
    assert export.main([str(exp), "--out", str(out)]) == 0
    header = out.read_text().splitlines()
    key = header[1].split()[2].rstrip(":")
    assert metric in header[1] and load_config(out).task.type == task_type
    if task_type == "binary":
        # The refit has no validation split: it carries the trial's decision threshold, its
        # val_threshold (F1-optimal on validation) at the best epoch, as task.threshold.
        refit = tmp_path / "refit.yaml"
        assert export.main([str(exp), "--out", str(refit), "--refit"]) == 0
        epoch = int(header[1].split(" at epoch ")[1].split()[0])
        row = next(r for r in trial_history(exp, key) if int(r["epoch"]) == epoch)
        assert load_config(refit).task.threshold == pytest.approx(row["val_threshold"])
        assert "binary decision threshold: task.threshold" in refit.read_text()

    # The export names the trial whose best epoch is best in the metric's direction (the
    # earlier trial on a tie), among the trials that did not error.
    pick = max if mode == "max" else min
    best = {r["trial"]: pick(float(e[metric]) for e in trial_history(exp, r["trial"]))
            for r in rows if r["status"] != "errored"}
    assert len(set(best.values())) > 1, best  # else the direction would not matter
    assert key == next(k for k, v in best.items() if v == pick(best.values())), (key, best)

    run = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "core.train", "--config", str(out),
                            "--output-dir", str(run), "--quiet"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert train.returncode == 0, train.stderr[-2000:]
    with (run / "metrics.csv").open() as f:
        standalone = list(csv.DictReader(f))
    trial = trial_history(exp, key)
    # The export trains the sweep's full trial length; a trial ASHA stopped earlier is its prefix.
    assert len(standalone) == 3 and 2 <= len(trial) <= 3
    columns = [c for c in standalone[0] if c == "train_loss" or c.startswith("val_")]
    assert {f"val_{m}" for m in metric_names(task_type)} <= set(columns)
    for s, t in zip(standalone, trial, strict=False):
        for col in columns:
            # Identical on CPU: same loop, same data, same seed, same thread count.
            assert float(s[col]) == float(t[col]), (key, s["epoch"], col, s[col], t[col])


@pytest.mark.slow
def test_export_and_report_to_an_unwritable_place_exit_2_naming_the_flag(smoke, tmp_path,
                                                                        capsys):
    from tuning import export, report

    exp, _ = smoke
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    assert export.main([str(exp), "--out", str(in_the_way / "best.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out: cannot write {in_the_way / 'best.yaml'}: ")
    assert report.main([str(exp), "--out", str(in_the_way / "report")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out: cannot write {in_the_way / 'report'}: Not a directory" in err
    assert "Traceback" not in err and in_the_way.read_text() == ""
