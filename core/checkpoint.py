"""Checkpoints and run-directory files: atomic writes, verified safe loads, RNG state capture.

A checkpoint is a dict of tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``; nothing in it is unpickled as code. Each ``X.pt`` has a
``X.pt.sha256`` beside it; ``load_checkpoint`` refuses a file whose digest does not match. Every
write is atomic (``core.files``), so readers see the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import CheckpointError
from core.files import atomic_replace, atomic_write_bytes, atomic_write_text

__all__ = ["CheckpointError", "atomic_write_bytes", "atomic_write_text", "save_checkpoint",
           "load_checkpoint", "capture_rng", "restore_rng", "FORMAT_VERSION"]

FORMAT_VERSION = 1


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(state: dict[str, Any], path: str | Path, durable: bool = True) -> None:
    """Serialises ``state`` and writes it, then its SHA-256 digest, atomically (see
    ``atomic_write_bytes`` for ``durable``)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buf)
    data = buf.getvalue()
    # The data are staged first, beside the file: a full disk (or any failed write) fails there
    # and leaves the old file and its digest as they were, still verifying. Then the digest, then
    # the rename: a crash between those two leaves a new digest beside the old file, which fails
    # verification loudly instead of loading silently.
    staged = path.with_name(f".{path.name}.staged")
    atomic_write_bytes(staged, data, durable)
    try:
        atomic_write_text(_digest_path(path), hashlib.sha256(data).hexdigest() + "\n", durable)
        atomic_replace(staged, path, durable)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """Loads a checkpoint written by ``save_checkpoint`` with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, empty, fails its digest, or is not a checkpoint.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc.strerror})") from None
    if not data:
        raise CheckpointError(f"{path}: checkpoint is empty")
    if verify:
        digest_file = _digest_path(path)
        if digest_file.exists():
            expected = digest_file.read_text().strip()
            if hashlib.sha256(data).hexdigest() != expected:
                raise CheckpointError(f"{path}: checkpoint is corrupted (SHA-256 does not match "
                                      f"{digest_file.name}); it may be truncated or damaged")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: not a checkpoint of this project (format "
                              f"{state.get('format_version') if isinstance(state, dict) else '?'})")
    return state


def capture_rng() -> dict[str, Any]:
    """Python, NumPy, torch and CUDA RNG states, as tensors and plain values."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)
