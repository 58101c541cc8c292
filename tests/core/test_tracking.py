"""core.tracking: the URI check, standalone runs in MLflow (core.train --mlflow) against a real
server, SQLite and folder stores, and seqtune imported without MLflow."""

import json
import subprocess
import sys
from pathlib import Path

from core import train
from core.tracking import check_uri, log_run_dir, normalize_uri

ROOT = Path(__file__).resolve().parents[2]


def test_check_uri_accepts_the_three_kinds_and_names_the_problem(tmp_path):
    assert check_uri("http://127.0.0.1:5000") is None
    assert check_uri("https://mlflow.example.com/prefix") is None
    assert check_uri(f"sqlite:///{tmp_path}/m.db") is None
    assert check_uri(str(tmp_path / "new-folder")) is None
    assert check_uri(f"file://{tmp_path}") is None
    assert "three slashes" in check_uri("sqlite://m.db")
    assert "does not exist" in check_uri(f"sqlite:///{tmp_path}/no/m.db")
    assert "bad port" in check_uri("http://host:99999")
    assert "no host" in check_uri("http://")
    (tmp_path / "f").write_text("")
    assert "is a file" in check_uri(str(tmp_path / "f"))
    assert "expected an http(s)://" in check_uri("s3://bucket/x")
    # A bare name that is no folder is a typo, not a new folder in the working directory
    # (a new one is written as a path); an existing folder may be named bare.
    assert "./not a uri" in check_uri("not a uri")
    assert "./mlruns" in check_uri("mlruns") and check_uri("./mlruns") is None
    assert check_uri(".") is None
    assert normalize_uri("runs/ml") == f"sqlite:///{Path.cwd() / 'runs' / 'ml' / 'mlflow.db'}"
    assert normalize_uri(f"file://{tmp_path}") == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_standalone_run_logs_every_epoch_once(tmp_path, mlflow_server, capsys):
    run_dir = tmp_path / "run"
    code = train.main(["--smoke", "--epochs", "3", "--output-dir", str(run_dir), "--quiet",
                       "--mlflow", mlflow_server.uri, "--mlflow-checkpoints"])
    assert code == 0
    client = mlflow_server.client()
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`seqtune.run_dir` = '{run_dir.resolve()}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert f"MLflow: run {run.info.run_id}" in capsys.readouterr().err
    for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2, 3]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert run.data.metrics["best_val_accuracy"] == summary["best_metric"]
    assert run.data.params["training.epochs"] == "3"
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "config_snapshot.yaml", "checkpoints"} <= files
    assert "checkpoints/last.pt" in {a.path for a in
                                     client.list_artifacts(run.info.run_id, "checkpoints")}
    # Logged again (as after --resume): the same run, no epoch twice.
    assert log_run_dir(mlflow_server.uri, run_dir) == run.info.run_id
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2, 3]


def test_local_folder_is_an_sqlite_store_with_its_artifacts(tmp_path):
    from mlflow import MlflowClient

    run_dir = tmp_path / "run"
    assert train.main(["--smoke", "--output-dir", str(run_dir), "--quiet"]) == 0
    folder = tmp_path / "folder"  # made by the first log: its parent exists
    run_id = log_run_dir(str(folder), run_dir, experiment="local")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    assert [m.step for m in client.get_metric_history(run_id, "val_loss")] == [1, 2]
    assert "summary.json" in {a.path for a in client.list_artifacts(run_id)}
    # The artifacts beside the database, not in the working folder.
    assert (folder / "mlartifacts").is_dir() and not (ROOT / "mlruns").exists()


def test_unreachable_server_costs_a_warning_not_the_run(tmp_path, capsys):
    from tests.mlflow_server import free_port

    run_dir = tmp_path / "run"
    code = train.main(["--smoke", "--output-dir", str(run_dir), "--quiet",
                       "--mlflow", f"http://127.0.0.1:{free_port()}"])
    assert code == 0 and (run_dir / "summary.json").is_file()
    assert "warning: MLflow at http://127.0.0.1:" in capsys.readouterr().err


def test_seqtune_imports_without_mlflow():
    # mlflow is an optional extra: every module imports with it blocked, and --mlflow says so.
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "import core, core.tracking, core.train, tuning, tuning.sweep, tuning.tracking, "
            "tuning.track\n"
            "from core.tracking import mlflow_missing; print(mlflow_missing())\n"
            "sys.exit(core.train.main(['--smoke', '--mlflow', 'http://127.0.0.1:5000']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'needs MLflow: pip install -e ".[mlflow]"' in proc.stdout
    assert "error: --mlflow: needs MLflow" in proc.stderr
