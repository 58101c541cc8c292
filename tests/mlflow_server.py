"""A real MLflow tracking server for tests: ``mlflow server`` (the PyPI package) on 127.0.0.1,
a free port, an SQLite backend store in a temporary folder. Read back with
``mlflow.MlflowClient``."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """``start``/``stop`` a server on ``port`` over ``folder/mlflow.db``; a restart keeps the
    port and the database (the runs logged before)."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180) -> "MlflowServer":
        # One worker and no job runner: the 2-core CI machine runs the sweep beside it.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        log = (self.folder / "server.log").open("ab")
        self.proc = subprocess.Popen(
            # ``python -m mlflow``, not the console script: a script's shebang names the
            # interpreter it was installed with, which a moved or shared venv may not have.
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{self.folder / 'mlflow.db'}", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "server.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not start in {timeout_s} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)
