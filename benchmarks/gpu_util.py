"""GPU utilisation sampled with nvidia-smi while a benchmark runs (shared by the GPU benchmarks)."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading
import time


class GpuUtilisation:
    """``with GpuUtilisation() as u: ...`` then ``u.mean`` (percent, all GPUs averaged, or the
    GPUs ``gpu`` names: an index or nvidia-smi's comma-separated list, e.g. "0,1") or None
    where nvidia-smi is missing. Samples every ``interval_ms`` ms; ``between(t0, t1)`` averages
    the samples taken in that span of ``time.time()``."""

    def __init__(self, interval_ms: int = 500, gpu: int | str | None = None):
        self.interval_ms = interval_ms
        self.gpu = gpu
        self.samples: list[tuple[float, float]] = []
        self._proc = None
        self._thread = None

    def __enter__(self) -> GpuUtilisation:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> GpuUtilisation:
        if shutil.which("nvidia-smi"):
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 f"-lms={self.interval_ms}"] + ([] if self.gpu is None else [f"-i={self.gpu}"]),
                stdout=subprocess.PIPE, text=True,
                stderr=subprocess.DEVNULL)
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        return self

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                self.samples.append((time.time(), float(line.strip())))
            except ValueError:
                pass

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._thread.join(timeout=5)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(v for _, v in self.samples) if self.samples else None

    def between(self, t0: float, t1: float) -> float | None:
        inside = [v for t, v in self.samples if t0 <= t <= t1]
        return statistics.fmean(inside) if inside else None
