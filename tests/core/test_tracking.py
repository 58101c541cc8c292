"""core.tracking: the URI check, an unreachable server (core.train --mlflow), and seqtune imported
without MLflow (a run directory logged to a real server: test_run_tracking.py)."""

import subprocess
import sys
from pathlib import Path

from core import train
from core.tracking import check_uri, normalize_uri

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
            "import core, core.tracking, core.run_tracking, core.train, tuning, tuning.sweep, "
            "tuning.tracking, tuning.track\n"
            "from core.tracking import mlflow_missing; print(mlflow_missing())\n"
            "sys.exit(core.train.main(['--smoke', '--mlflow', 'http://127.0.0.1:5000']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'needs MLflow: pip install -e ".[mlflow]"' in proc.stdout
    assert "error: --mlflow: needs MLflow" in proc.stderr
