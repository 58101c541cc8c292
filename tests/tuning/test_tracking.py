"""Sweeps in MLflow (tuning.tracking, tuning.track) against a real server on 127.0.0.1: one
parent run per sweep, one child per trial with every epoch at its step, the trials' states; a
sweep killed with kill -9 and resumed continues the same runs; a server stopped mid-sweep costs
the sweep nothing, and the missing entries arrive with tuning.track."""

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mlflow_server import MlflowServer
from tests.tuning.conftest import held, kill_when
from tests.tuning.conftest import run_sweep as _sweep
from tuning import sweep, track
from tuning.record import trial_history
from tuning.study import load_study
from tuning.tracking import sweep_id

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "search_spaces" / "gru.yaml"


def _runs(client, exp_dir):
    """The sweep's parent and its children by trial key, read back from the server."""
    from tuning.record import read_spec

    key = sweep_id(exp_dir.name, read_spec(exp_dir))
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, f"tags.`seqtune.sweep_id` = '{key}'",
                              max_results=1000)
    parents = [r for r in runs if r.data.tags.get("seqtune.kind") == "sweep"]
    children = [r for r in runs if "seqtune.trial" in r.data.tags]
    keys = [r.data.tags["seqtune.trial"] for r in children]
    assert len(keys) == len(set(keys)), f"duplicate child runs: {sorted(keys)}"
    return parents, {r.data.tags["seqtune.trial"]: r for r in children}


def _steps(client, run_id, key="epoch"):
    return [m.step for m in client.get_metric_history(run_id, key)]


def _check_against_disk(client, exp_dir):
    """One parent; one child per trial, nested under it, with exactly the epochs on disk (no
    duplicate step) and the study's state; returns (parent, children)."""
    parents, children = _runs(client, exp_dir)
    assert len(parents) == 1
    parent = parents[0]
    trials = load_study(exp_dir).get_trials()
    assert sorted(children) == [f"t{t.number:04d}" for t in trials]
    for t in trials:
        run = children[f"t{t.number:04d}"]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        epochs = sorted(int(r["epoch"]) for r in trial_history(exp_dir, f"t{t.number:04d}"))
        assert epochs or t.state.name == "FAIL", t.number
        assert _steps(client, run.info.run_id) == epochs, (t.number, epochs)
        val = _steps(client, run.info.run_id, "val_loss")
        assert val == sorted(set(val)) and set(val) <= set(epochs)
        state = run.data.tags["seqtune.state"]
        if t.state.name == "COMPLETE":
            assert (state, run.info.status) == ("complete", "FINISHED")
        elif t.state.name == "PRUNED":
            assert (state, run.info.status) == ("pruned", "FINISHED")
            assert run.data.tags["seqtune.pruned_at_epoch"] == str(max(t.intermediate_values))
        else:
            assert (state, run.info.status) == ("failed", "FAILED")
            assert run.data.tags["seqtune.failure"] == t.user_attrs["failure"][:5000]
    return parent, children


@pytest.mark.slow
def test_tuning_track_sends_a_finished_sweep_once(smoke_copy, mlflow_server, tmp_path):
    exp, proc = smoke_copy  # tuning.track writes tracking.json into it
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = mlflow_server.client()
    assert track.main([str(exp), "--mlflow", mlflow_server.uri, "--experiment", "smoke"]) == 0
    parent, children = _check_against_disk(client, exp)
    # The smoke sweep's faults: t0002's loss is NaN (failed with its reason), ASHA prunes some.
    assert children["t0002"].data.tags["seqtune.state"] == "failed"
    assert "NaN" in children["t0002"].data.tags["seqtune.failure"]
    assert {r.data.tags["seqtune.state"] for r in children.values()} >= {"complete", "pruned"}
    # Params: the sampled values; the full config as an artifact.
    t0 = load_study(exp).trials[0]
    assert children["t0000"].data.params == {k: str(v) for k, v in
                                             t0.user_attrs["params"].items()}
    config = client.download_artifacts(children["t0000"].info.run_id, "config.yaml",
                                       str(tmp_path))
    assert "model:" in Path(config).read_text()
    # The parent: settings, files, report, best value, FINISHED.
    assert parent.info.status == "FINISHED" and parent.data.params["metric"] == "val_accuracy"
    files = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"sweep.yaml", "best_config.yaml", "trials.csv", "report"} <= files
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.html" in report and any(p.endswith(".png") for p in report)
    rows = list(csv.DictReader((exp / "trials.csv").open()))
    best = max(float(r["best_val_accuracy"]) for r in rows if r["best_val_accuracy"])
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best)
    # Sent again: the same runs, nothing logged twice.
    assert track.main([str(exp), "--mlflow", mlflow_server.uri, "--experiment", "smoke"]) == 0
    again, children_again = _check_against_disk(client, exp)
    assert again.info.run_id == parent.info.run_id
    assert {k: r.info.run_id for k, r in children_again.items()} == \
        {k: r.info.run_id for k, r in children.items()}
    # A create that timed out here but reached the server leaves a second, empty run of a trial
    # (seen on a slow server): the next sync deletes it and keeps the run with the epochs.
    tags = {k: v for k, v in children["t0001"].data.tags.items() if not k.startswith("mlflow.")
            or k == "mlflow.parentRunId"}
    tags.pop("seqtune.epochs_logged", None)
    client.create_run(children["t0001"].info.experiment_id, tags=tags, run_name="t0001")
    assert track.main([str(exp), "--mlflow", mlflow_server.uri, "--experiment", "smoke"]) == 0
    _, children_after = _check_against_disk(client, exp)
    assert children_after["t0001"].info.run_id == children["t0001"].info.run_id


@pytest.mark.slow
def test_killed_sweep_resumes_the_same_runs_without_duplicates(tmp_path, mlflow_server):
    exp = tmp_path / "k"
    client = mlflow_server.client()
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE),
                             "--smoke", "--storage-path", str(tmp_path), "--name", "k",
                             "--mlflow", mlflow_server.uri],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **held(tmp_path / "faults", "t0006", "t0007")},
                            start_new_session=True)

    def logged_live(trials) -> bool:
        # The live sync has sent trials, some of them still running, when kill -9 lands.
        if sum(t.state.is_finished() for t in trials) < 5:
            return False
        try:
            _, children = _runs(client, exp)
        except Exception:
            return False
        # The held trials (t0006, t0007) stay running until the kill, so their runs' RUNNING
        # cannot turn FINISHED between this check and the kill (a trial that ends can).
        return len(children) >= 6 and any(
            k in children and children[k].info.status == "RUNNING" for k in ("t0006", "t0007"))

    kill_when(exp, proc, logged_live)
    _, before = _runs(client, exp)
    assert "RUNNING" in {r.info.status for r in before.values()}, "kill before the end"
    resumed = _sweep(["--resume", str(exp)])  # no --mlflow: the sweep remembers its server
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    parent, after = _check_against_disk(client, exp)
    assert parent.info.status == "FINISHED"
    # The runs the killed driver made are the ones continued (none orphaned, none added).
    assert all(after[k].info.run_id == r.info.run_id for k, r in before.items())


@pytest.mark.slow
def test_server_stopped_mid_sweep_costs_the_sweep_nothing(tmp_path):
    server = MlflowServer(tmp_path / "mlflow").start()
    client = server.client()
    exp = tmp_path / "d"
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE),
                             "--smoke", "--storage-path", str(tmp_path), "--name", "d",
                             "--mlflow", server.uri],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                if _runs(client, exp)[1]:
                    break
            except Exception:
                continue
        assert proc.poll() is None, "the sweep ended before the server was stopped"
        server.stop()
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        server.stop()
    # The sweep's own record is complete, and it ended normally, with a warning.
    assert proc.returncode == 0, err[-3000:]
    rows = list(csv.DictReader((exp / "trials.csv").open()))
    assert len(rows) == 8 and (exp / "best_config.yaml").is_file()
    assert f"python -m tuning.track {exp} --mlflow {server.uri}" in err
    # Back up: the entries arrive.
    server.start()
    try:
        assert track.main([str(exp)]) == 0
        parent, _ = _check_against_disk(client, exp)
        assert parent.info.status == "FINISHED"
    finally:
        server.stop()


def test_bad_mlflow_uri_exits_2_naming_the_flag_before_anything(tmp_path, capsys):
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path),
                       "--mlflow", "htp://127.0.0.1:5000"])
    assert code == 2 and list(tmp_path.iterdir()) == []
    assert "error: --mlflow: expected an http(s):// server" in capsys.readouterr().err
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path),
                       "--mlflow", f"sqlite:///{tmp_path}/missing/m.db"])
    assert code == 2 and list(tmp_path.iterdir()) == []
    assert "does not exist" in capsys.readouterr().err
    # core.train checks the flag the same way: a bare typo is no new folder
    from core import train

    code = train.main(["--smoke", "--output-dir", str(tmp_path / "run"), "--mlflow", "not a uri"])
    assert code == 2 and list(tmp_path.iterdir()) == [] and not Path("not a uri").exists()
    assert "error: --mlflow: 'not a uri' is no server" in capsys.readouterr().err


def test_bad_tracking_section_is_named_by_file_and_key(tmp_path):
    from core.config import ConfigError
    from tuning.space import load_space

    text = SPACE.read_text().replace("base_config: ../configs/gru.yaml",
                                     f"base_config: {ROOT / 'configs' / 'gru.yaml'}")
    bad = tmp_path / "s.yaml"
    bad.write_text(text + "\ntracking: {mlflow: 'ftp://x', experiment: e}\n")
    with pytest.raises(ConfigError, match=r"s\.yaml: tracking\.mlflow: expected an http"):
        load_space(bad)
    bad.write_text(text + "\ntracking: {mlflow: http://127.0.0.1:5000, expriment: e}\n")
    with pytest.raises(ConfigError, match="tracking.expriment"):
        load_space(bad)


def test_the_tracking_target_flag_then_remembered_then_space(tmp_path):
    from tuning.space import SearchSpace
    from tuning.tracking import remember_target, tracking_target

    spec = {"space_file": "/spaces/gru.yaml"}
    space = SearchSpace(source="gru.yaml", base_config=tmp_path)
    assert tracking_target(tmp_path, space, spec, None) is None  # not tracked
    space.settings.tracking.mlflow = "http://space:5000/"
    assert tracking_target(tmp_path, space, spec, None) == ("http://space:5000", "gru")
    remember_target(tmp_path, "http://remembered:5000", "kept")
    # A resume without --mlflow logs where the sweep was logged; --mlflow moves it.
    assert tracking_target(tmp_path, space, spec, None) == ("http://remembered:5000", "kept")
    assert tracking_target(tmp_path, space, spec, "http://flag:1") == ("http://flag:1", "kept")
    space.settings.tracking.experiment = "named"
    assert tracking_target(tmp_path, space, spec, None)[1] == "named"


def test_parent_status_of_a_sweep_sent_afterwards():
    from optuna.trial import TrialState, create_trial

    def trials(*states):
        return [create_trial(state=s, value=0.5 if s == TrialState.COMPLETE else None)
                for s in states]

    done, pruned, fail = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
    assert track.sweep_status(trials(done, pruned, fail), 3) == "FINISHED"
    assert track.sweep_status(trials(done, pruned), 3) == "KILLED"  # interrupted
    assert track.sweep_status(trials(done, TrialState.RUNNING), 2) == "KILLED"
    assert track.sweep_status(trials(fail, fail), 2) == "FAILED"
