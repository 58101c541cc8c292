"""core.run_tracking: a standalone run's directory logged to MLflow (core.train --mlflow) against a
real server, and to a local folder's SQLite store."""

import json
from pathlib import Path

from core import train
from core.run_tracking import log_run_dir

ROOT = Path(__file__).resolve().parents[2]


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
