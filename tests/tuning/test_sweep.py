"""End-to-end sweeps on CPU: real Ray, real Optuna, tiny data (tuning.sweep --smoke)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from core.config import load_config
from tests.tuning.conftest import held, kill_when
from tests.tuning.conftest import run_sweep as _sweep
from tuning import sweep
from tuning.study import load_study

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "search_spaces" / "gru.yaml"
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(exp):
    return load_study(exp)


@pytest.mark.slow
def test_smoke_sweep_finishes_with_truthful_study(smoke):
    exp, proc = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = _study(exp).get_trials()
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    # ASHA stopped some trials: Optuna records them as PRUNED with their per-epoch values.
    assert pruned and all(t.intermediate_values for t in pruned)
    assert all(max(t.intermediate_values) < 4 for t in pruned)
    # Trials that ran all 4 epochs are COMPLETE with their best epoch's value.
    assert complete and all(sorted(t.intermediate_values) == [1, 2, 3, 4] for t in complete)
    assert all(t.value == max(t.intermediate_values.values()) for t in complete)


@pytest.mark.slow
def test_nan_trial_is_fail_and_never_best(smoke):
    exp, _ = smoke
    t2 = _study(exp).trials[2]
    assert t2.state == TrialState.FAIL and t2.user_attrs["failure_kind"] == "non-finite loss"
    assert "training loss became NaN or inf" in t2.user_attrs["failure"]
    header = (exp / "best_config.yaml").read_text().splitlines()[1]
    assert "t0002" not in header


@pytest.mark.slow
def test_trial_that_raised_once_resumed_from_its_checkpoint(smoke):
    exp, _ = smoke
    results = [json.loads(line) for line in
               (exp / "tune" / "run-0" / "t0001" / "result.json").read_text().splitlines()]
    # After the injected error the retried trial started at epoch 1, not from scratch.
    assert any(r.get("start_epoch", 0) >= 1 for r in results)
    assert [r["epoch"] for r in results] == sorted({r["epoch"] for r in results})
    assert _study(exp).trials[1].state != TrialState.FAIL


@pytest.mark.slow
def test_artifacts_trials_csv_checkpoints_and_best_config(smoke):
    exp, _ = smoke
    rows = list(csv.DictReader((exp / "trials.csv").open()))
    assert [r["trial"] for r in rows] == [f"t{i:04d}" for i in range(8)]
    assert {r["status"] for r in rows} <= {"completed", "pruned", "errored"}
    for r in rows:
        if r["status"] != "errored":
            assert Path(r["checkpoint"]).is_file(), r
    cfg = load_config(exp / "best_config.yaml")
    assert cfg.training.epochs == 4
    for name in ("sweep.yaml", "study.db", "sweep.log"):
        assert (exp / name).is_file()


@pytest.mark.slow
def test_resume_with_a_different_space_is_refused(smoke, tmp_path, capsys):
    exp, _ = smoke
    other = tmp_path / "other.yaml"
    other.write_text(SPACE.read_text().replace("num_samples: 48", "num_samples: 49")
                     .replace("../configs/gru.yaml", str(ROOT / "configs" / "gru.yaml")))
    code = sweep.main(["--resume", str(exp), "--space", str(other)])
    assert code == 2 and "differs from the space" in capsys.readouterr().err


def test_bad_space_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base_config: {ROOT / 'configs' / 'gru.yaml'}\n"
                   "params:\n  optim.lr: {type: float, low: 0.1, high: 0.01}\n")
    storage = tmp_path / "store"
    assert sweep.main(["--space", str(bad), "--storage-path", str(storage)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: params.optim.lr.low" in err and not storage.exists()


def test_param_that_breaks_the_config_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base_config: {ROOT / 'configs' / 'gru.yaml'}\n"
                   "params:\n  model.hidden_size: {type: categorical, choices: [64, big]}\n")
    assert sweep.main(["--space", str(bad), "--storage-path", str(tmp_path / "s")]) == 2
    assert "params.model.hidden_size: value 'big'" in capsys.readouterr().err


def test_metric_the_task_does_not_produce_exits_2_listing_the_ones_it_does(tmp_path, capsys):
    storage = tmp_path / "store"
    args = ["--space", str(ROOT / "search_spaces" / "regression.yaml"), "--storage-path",
            str(storage)]
    assert sweep.main(args + ["--metric", "val_auroc"]) == 2
    err = capsys.readouterr().err
    assert "--metric: regression tasks do not produce 'val_auroc'" in err
    assert "val_rmse, val_mae, val_r2" in err and not storage.exists()
    # the space's own metric is checked against the task after --set, too
    binary = ROOT / "search_spaces" / "binary.yaml"
    assert sweep.main(["--space", str(binary), "--storage-path", str(storage), "--set",
                       "task.type=multilabel", "--set", "training.checkpoint_metric=null"]) == 2
    err = capsys.readouterr().err
    # the --set that made it wrong is named, and the fix
    assert f"{binary} (with --set): metric: multilabel tasks do not produce 'val_auroc'" in err
    assert "set metric: in the space to one of them, or give --metric" in err
    assert not storage.exists()


def test_unwritable_storage_fails_before_any_trial(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", str(blocker / "x")])
    assert code == 2 and "--storage-path: cannot write" in capsys.readouterr().err


MOMENTS = {
    # early: a first epoch is reported, nothing has finished
    "early": lambda ts: any(t.intermediate_values for t in ts),
    "mid": lambda ts: sum(t.state.is_finished() for t in ts) >= 3,
    # late: 5 of 8 (with 6, the last trials could finish between two polls of the study)
    "late": lambda ts: sum(t.state.is_finished() for t in ts) >= 5,
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(MOMENTS))
def test_killed_driver_resumes_to_exactly_num_samples(tmp_path, moment):
    exp = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE),
                             "--smoke", "--storage-path", str(tmp_path), "--name", "k"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **held(tmp_path / "faults", "t0006", "t0007")},
                            start_new_session=True)
    kill_when(exp, proc, MOMENTS[moment])
    trials = _study(exp).get_trials()
    finished = {t.number: dict(t.intermediate_values) for t in trials if t.state.is_finished()}
    running = {t.number: dict(t.intermediate_values) for t in trials if not t.state.is_finished()}
    assert len(finished) < 8, "the kill should land before the end"
    damaged = []
    if moment == "mid":
        # Bit-flip the newest checkpoint of every running trial: resume must fall back to an
        # older verified checkpoint, never restart silently.
        for number in running:
            ckpts = sorted((exp / "tune" / "run-0").glob(f"t{number:04d}/checkpoint_*/*.pt"))
            if len(ckpts) >= 2:
                data = bytearray(ckpts[-1].read_bytes())
                data[len(data) // 2] ^= 0xFF
                ckpts[-1].write_bytes(bytes(data))
                damaged.append(ckpts[-1])

    resumed = _sweep(["--resume", str(exp)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _study(exp).get_trials()
    # Exactly num_samples trials, all finished, none left RUNNING.
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    for number, values in finished.items():
        # A trial finished before the kill kept its results and did not run again.
        assert trials[number].intermediate_values == values
        assert not list((exp / "tune").glob(f"run-1/t{number:04d}"))
    for number, values in running.items():
        # Progress never goes backwards: what a running trial had reported is kept.
        after = trials[number].intermediate_values
        assert all(after[e] == v for e, v in values.items()), (number, values, after)
    log = (exp / "sweep.log").read_text()
    for path in damaged:
        assert f"skipping damaged checkpoint: {path}" in log
    # Every configuration is distinct, and the study agrees with trials.csv.
    params = [json.dumps(t.user_attrs["params"], sort_keys=True) for t in trials]
    assert len(set(params)) == 8
    rows = list(csv.DictReader((exp / "trials.csv").open()))
    assert len(rows) == 8 and "running" not in {r["status"] for r in rows}


@pytest.mark.slow
def test_sigint_exits_130_prints_resume_and_resumes(tmp_path):
    exp = tmp_path / "i"
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE),
                             "--smoke", "--storage-path", str(tmp_path), "--name", "i"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **held(tmp_path / "faults", "t0006", "t0007")},
                            text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        time.sleep(1.0)
        try:
            trials = _study(exp).get_trials()
        except Exception:
            continue
        if any(t.state.is_finished() for t in trials):
            break
    proc.send_signal(signal.SIGINT)
    # Ctrl-C ends the sweep (a generous bound guards against a hang, not a speed check).
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and f"--resume {exp}" in err, (proc.returncode, err[-3000:])
    assert "Tuner.restore" not in err  # Tune's own hint would bypass the study
    assert not (exp / "best_config.yaml").exists()  # no best config for a partial sweep
    # The report reads an unfinished sweep from disk.
    from tuning import report

    assert report.main([str(exp), "--out", str(tmp_path / "partial")]) == 0
    assert (tmp_path / "partial" / "report.html").exists()
    resumed = _sweep(["--resume", str(exp)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _study(exp).get_trials()
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    assert (exp / "best_config.yaml").exists()
    # A resumed sampler does not replay the first start's draws: every config is distinct.
    assert len({json.dumps(t.user_attrs["params"], sort_keys=True) for t in trials}) == 8


@pytest.mark.slow
def test_study_opens_by_url_as_optuna_dashboard_does(smoke):
    exp, _ = smoke
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{exp / 'study.db'}")
    rows = {r["trial"]: r for r in csv.DictReader((exp / "trials.csv").open())}
    states = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
              "errored": TrialState.FAIL}
    assert len(study.trials) == len(rows) == 8
    for t in study.trials:
        row = rows[f"t{t.number:04d}"]
        # Every trial has the state trials.csv reports, and one intermediate value per epoch.
        assert t.state == states[row["status"]]
        assert len(t.intermediate_values) == int(row["epochs"])


@pytest.mark.slow
def test_trials_report_their_start_latency_and_tune_share(smoke):
    exp, _ = smoke
    rows = [json.loads(line) for line in
            (exp / "tune" / "run-0" / "t0005" / "result.json").read_text().splitlines()]
    # Suggestion to first training batch: positive, and the same number in every epoch's row.
    assert 0 < rows[0]["launch_to_first_step_s"] < 120
    assert len({r["launch_to_first_step_s"] for r in rows}) == 1
    assert 0 <= rows[0]["setup_s"] < rows[0]["launch_to_first_step_s"]
    # Seconds in checkpoint writes and tune.report, accumulated over the epochs before each row.
    spent = [r["report_s"] for r in rows]
    assert spent[0] == 0 and spent == sorted(spent) and spent[-1] > 0


@pytest.mark.slow
def test_sweep_log_says_where_the_start_up_went(smoke):
    exp, proc = smoke
    line = next(ln for ln in (exp / "sweep.log").read_text().splitlines() if "start-up" in ln)
    assert line.split(" ", 1)[1] in proc.stderr  # on the console too
    driver, worker = line.split("start-up (s after the command): ", 1)[1].split("; first trial: ")
    marks = {}
    for part in [*driver.split(", "), *worker.split(", ")]:
        name, seconds = part.rsplit(" ", 1)
        marks[name] = float(seconds)
    # the driver's steps, then the first trial's, in the order they happen
    chain = ["imports", "pre-flight", "study", "Ray", "Tuner", "trainable", "data", "fit",
             "first step", "first epoch", "report at the driver"]
    assert [marks[name] for name in chain] == sorted(marks[name] for name in chain), marks
    assert 0 <= marks["imports"] and marks["report at the driver"] < 300
    # the worker that ran it: started by Ray (idle, preloaded) before the trainable's entry
    assert marks["worker process"] <= marks["its imports"] <= marks["trainable"]


def _tiny_space(tmp_path, **top):
    """The shipped space on smoke-sized data, with ``top`` replacing its top-level keys."""
    import yaml

    raw = yaml.safe_load(SPACE.read_text())
    raw.pop("cpu", None)  # the sizes the test gives, on any machine
    raw.update(base_config=str((SPACE.parent / raw["base_config"]).resolve()),
               resources={"trials_per_gpu": 1, "cpus_per_trial": 1}, **top)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(raw))
    args = ["--space", str(space), "--storage-path", str(tmp_path)]
    from core.train import SMOKE_OVERRIDES

    for o in SMOKE_OVERRIDES + ["data.synthetic.num_samples=200"]:
        args += ["--set", o]
    return args


@pytest.mark.slow
def test_time_budget_ends_the_sweep_normally(tmp_path):
    """A time budget cuts a sweep short: running trials are closed, nothing stays running.
    (What is asserted holds however fast the machine is.)"""
    # More trials than 30 s can run (since the driver reads the study from memory, 60 tiny
    # trials could all finish inside 20 s on the 2-core CI machine). The budget is also a
    # margin for load: the sweep ends normally only if some trial reported an epoch within it;
    # with 10 s a loaded machine had started no trial (exit 3, "never trained"), and with 20 s
    # one (load average 7 on 2 cores) had not either.
    samples = 400
    args = _tiny_space(tmp_path, num_samples=samples, max_epochs=6,
                       scheduler={"grace_period": 2, "reduction_factor": 3})
    proc = _sweep(args + ["--time-budget", "30", "--name", "b"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp = tmp_path / "b"
    trials = _study(exp).get_trials()
    assert 0 < len(trials) < samples
    assert all(t.state.is_finished() for t in trials)
    cut = [t for t in trials if t.user_attrs.get("stopped") == "time budget"]
    assert cut and all(t.state in (TrialState.PRUNED, TrialState.FAIL) for t in cut)
    with open(exp / "trials.csv") as f:
        rows = {r["trial"]: r for r in csv.DictReader(f)}
    assert all(r["status"] != "running" for r in rows.values())


@pytest.mark.slow
def test_batched_reports_reach_the_study_and_tensorboard_every_epoch(tmp_path):
    """Epochs between ASHA's rungs are batched into the next report; the study, trials.csv and
    each trial's TensorBoard folder still have every epoch (issue 16 §5)."""
    from tuning.record import read_scalars

    # Checkpoints only at the last epoch and no time-driven reports: Tune gets exactly the
    # rungs (2 and 6), whatever the machine's load.
    args = _tiny_space(tmp_path, num_samples=3, max_epochs=6, checkpoint_interval_s=3600,
                       scheduler={"grace_period": 2, "reduction_factor": 3})
    proc = _sweep(args + ["--name", "tb"], env={"SEQTUNE_REPORT_INTERVAL_S": "3600"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp = tmp_path / "tb"
    trials = _study(exp).get_trials()
    with open(exp / "trials.csv") as f:
        rows = {r["trial"]: r for r in csv.DictReader(f)}
    assert any(t.state == TrialState.COMPLETE for t in trials)
    for t in trials:
        key = f"t{t.number:04d}"
        stored = [json.loads(line) for line in
                  (exp / "tune" / "run-0" / key / "result.json").read_text().splitlines()]
        epochs = sorted(t.intermediate_values)
        assert epochs == list(range(1, epochs[-1] + 1))
        # Tune saw the rungs only; the study and TensorBoard have every epoch.
        assert [r["epoch"] for r in stored] == [e for e in (2, 6) if e <= epochs[-1]]
        assert rows[key]["epochs"] == str(epochs[-1])
        scalars = read_scalars(exp / "tensorboard" / key)
        # Every metric of the task (the user check: val_auroc and val_balanced_accuracy were
        # left out) and the step's timings.
        assert set(scalars) == {"train_loss", "val_loss", "val_accuracy", "val_balanced_accuracy",
                                "val_macro_f1", "val_auroc", "lr", "epoch_time_s",
                                "samples_per_s"}
        for tag in scalars:
            assert sorted(scalars[tag]) == epochs, (key, tag)
        assert scalars["val_accuracy"] == pytest.approx(t.intermediate_values)


def test_resume_refuses_flags_it_cannot_honour_before_anything(tmp_path, capsys):
    # Issue 16 §2: these were accepted and silently ignored.
    code = sweep.main(["--resume", str(tmp_path / "s"), "--num-samples", "12", "--max-epochs",
                       "6", "--set", "training.batch_size=64"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot honour --max-epochs, --set" in err, err
    assert "--num-samples extends it" in err
    assert list(tmp_path.iterdir()) == []


def test_warm_start_from_no_sweep_is_refused_before_anything(tmp_path, capsys):
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path / "s"),
                       "--name", "x", "--warm-start", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 2 and "--warm-start:" in err and "no study.db" in err, err
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_sweep_in_which_every_trial_failed_exits_3_with_the_reason(tmp_path):
    proc = _sweep(["--space", str(SPACE), "--smoke", "--num-samples", "2", "--storage-path",
                   str(tmp_path), "--name", "n"],
                  env={"SEQTUNE_FAULTS": "nan:t0000:1,nan:t0001:1"})
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "no trial finished: all 2 failed; the most common reason (2 of them): training " \
           "loss became NaN or inf" in proc.stderr
    rows = list(csv.DictReader((tmp_path / "n" / "trials.csv").open()))
    assert [r["status"] for r in rows] == ["errored", "errored"]
    assert all("training loss became NaN or inf" in r["failure"] for r in rows)


@pytest.mark.slow
def test_sweep_directory_is_self_contained_and_resume_extends_it(tmp_path, capsys):
    """Export, report and resume read the sweep's frozen spec, not the files it started from;
    --num-samples on resume extends a finished sweep (issue 16 §2)."""
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "configs" / "gru.yaml", src / "base.yaml")
    text = SPACE.read_text().replace("base_config: ../configs/gru.yaml", "base_config: base.yaml")
    (src / "space.yaml").write_text(text)
    proc = _sweep(["--space", str(src / "space.yaml"), "--smoke", "--num-samples", "2",
                   "--storage-path", str(tmp_path), "--name", "s"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp = tmp_path / "s"
    src.rename(tmp_path / "moved")  # the space's folder is gone
    from tuning import export, report

    assert export.main([str(exp), "--out", str(tmp_path / "best.yaml")]) == 0
    assert report.main([str(exp), "--out", str(tmp_path / "r")]) == 0
    # Resumed the way its hint says when started by `make sweep ARGS="--smoke ..."`: the Makefile
    # then passes no --space of its own (the frozen one differs from search_spaces/gru.yaml).
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-run").touch()  # newer than pyproject.toml: make installs nothing
    resumed = subprocess.run(["make", "-s", "-C", str(ROOT), "sweep", f"VENV={venv}",
                              f"PY={sys.executable}", f"ARGS=--resume {exp} --num-samples 3"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "num_samples: 2 -> 3" in resumed.stderr
    trials = _study(exp).get_trials()
    assert len(trials) == 3 and all(t.state.is_finished() for t in trials)
    assert yaml.safe_load((exp / "sweep.yaml").read_text())["space"]["num_samples"] == 3
    # Fewer than it has is refused, naming the flag (before Ray starts: in this process).
    assert sweep.main(["--resume", str(exp), "--num-samples", "1"]) == 2
    assert "--num-samples 1" in capsys.readouterr().err


@pytest.mark.slow
def test_cross_validated_sweep_reports_fold_means_and_exports_a_cv_config(tmp_path):
    """data.cv_folds in a sweep: every trial trains its folds together, the study (ASHA, TPE)
    and trials.csv get the fold mean, each reported epoch has the per-fold values, the trials'
    checkpoints hold every fold and the out-of-fold outputs, and the export is a CV config whose
    standalone run retrains the trial's fold means exactly."""
    from core.checkpoint import load_checkpoint
    from core.run import run_training

    # grace period 2 = max_epochs: no rung, so both trials complete whatever order they report in
    args = _tiny_space(tmp_path, num_samples=2, max_epochs=2, ensemble=2,
                       scheduler={"grace_period": 2, "reduction_factor": 2})
    proc = _sweep(args + ["--set", "data.cv_folds=3", "--metric", "val_loss", "--name", "cv"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp = tmp_path / "cv"
    trials = _study(exp).get_trials()
    assert all(t.state == TrialState.COMPLETE for t in trials)
    t = trials[0]
    stored = [json.loads(line) for line in
              (exp / "tune" / "run-0" / "t0000" / "result.json").read_text().splitlines()]
    last = stored[-1]
    folds = [last[f"val_loss_fold{k}"] for k in range(3)]
    assert last["val_loss"] == pytest.approx(sum(folds) / 3) and "val_loss_sd" in last
    assert t.intermediate_values[last["epoch"]] == pytest.approx(last["val_loss"])
    with open(exp / "trials.csv") as f:
        rows = {r["trial"]: r for r in csv.DictReader(f)}
    state = load_checkpoint(rows["t0000"]["checkpoint"])
    assert len(state["fold_states"]) == 3 and state["oof"] is not None
    best = load_config(exp / "best_config.yaml")
    assert best.data.cv_folds == 3 and best.training.checkpoint_metric == "val_loss"
    chosen = next(r for r in rows.values() if r["trial"] in
                  (exp / "best_config.yaml").read_text())
    trial_rows = [json.loads(line) for line in (exp / "tune" / "run-0" / chosen["trial"] /
                                                "result.json").read_text().splitlines()]
    run = run_training(exp / "best_config.yaml", run_dir=tmp_path / "retrain", quiet=True)
    assert [h["val_loss"] for h in run.history][-1] == trial_rows[-1]["val_loss"]

    # The final model (issue 28 items 2 and 3): the chosen trial's refit, every non-test
    # sequence for its best epoch * 2/3 (3 folds), and the space's ensemble of (at most) 2.
    final = load_config(exp / "final_config.yaml")
    assert final.data.cv_folds == 0 and final.data.val_fraction == 0.0
    assert final.training.epochs == max(1, round(int(chosen["best_epoch"]) * 2 / 3))
    assert "refit: trains on every non-test sequence" in (exp / "final_config.yaml").read_text()
    ens = yaml.safe_load((exp / "ensemble.yaml").read_text())
    weights = [m["weight"] for m in ens["members"]]
    assert 1 <= len(weights) <= 2 and sum(weights) == pytest.approx(1.0)
    assert all(m["config"]["data"]["cv_folds"] == 0 for m in ens["members"])
    # Its out-of-fold val_loss, recomputed from the members' checkpoints: the cross-entropy of
    # the weighted mean of their out-of-fold class probabilities.
    import torch

    from core.data import load_data

    data = load_data(best.data, best.task)
    probs = sum(w * load_checkpoint(rows[m["trial"]]["checkpoint"])["oof"].softmax(-1)
                for w, m in zip(weights, ens["members"], strict=True))
    nll = torch.nn.functional.nll_loss(probs.log(), data.train.y).item()
    assert ens["oof_score"] == pytest.approx(nll, rel=1e-4)
    from tuning import export

    plain = tmp_path / "plain.yaml"
    assert export.main([str(exp), "--out", str(plain), "--no-refit"]) == 0
    assert load_config(plain).data.cv_folds == 3 and "not refitted" in plain.read_text()
    # A trial without its best epoch's out-of-fold outputs on disk (stopped before its first
    # checkpoint) is passed over, named in the file, and the next candidate stands in.
    import shutil

    other = next(r["trial"] for r in rows.values() if r["trial"] != chosen["trial"])
    for ckpt in (exp / "tune" / "run-0" / other).glob("checkpoint_*"):
        shutil.rmtree(ckpt)
    alone = tmp_path / "alone.yaml"
    assert export.main([str(exp), "--out", str(alone), "--ensemble", "2"]) == 0
    doc = yaml.safe_load(alone.read_text())
    assert [m["trial"] for m in doc["members"]] == [chosen["trial"]]
    assert f"passed over (their best epoch's out-of-fold outputs are not on disk): {other} " \
        "(no checkpoint)" in alone.read_text()
