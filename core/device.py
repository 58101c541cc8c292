"""The device, the precision and PyTorch's process-wide settings of a run.

``resolve_device`` turns ``experiment.device`` into a ``torch.device``, ``resolve_precision``
turns ``training.precision`` into fp32, bf16 or fp16, ``autocast_context`` applies it, and
``configure_torch`` / ``seed_everything`` set the global state a run depends on (deterministic
kernels, TF32, threads, seeds).

Example:
    >>> resolve_device("cpu"), resolve_precision("auto", torch.device("cpu"))
    (device(type='cpu'), 'fp32')
"""

from __future__ import annotations

import contextlib
import os

import torch

from core.config import Config
from core.errors import TrainingError

__all__ = ["resolve_device", "resolve_precision", "autocast_context", "configure_torch",
           "seed_everything"]


def resolve_device(spec: str) -> torch.device:
    """``experiment.device`` as a device: ``auto`` is CUDA when available, else the CPU.

    Raises:
        TrainingError: CUDA (or the CUDA device of that index) was asked for but is missing.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"experiment.device: {spec!r} asked for, but CUDA is not available")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"experiment.device: {spec!r} asked for, but only "
                                f"{torch.cuda.device_count()} CUDA device(s) exist")
        return torch.device("cuda", index)
    return torch.device("cpu")


def resolve_precision(precision: str, device: torch.device, model_name: str = "gru") -> str:
    """``auto``: bf16 for the convolutional and attention models on bf16-capable GPUs (flash
    attention needs 16-bit inputs), fp32 (TF32) otherwise, user models included.

    Small recurrent models are bound by kernel launches, and autocast adds weight casts to every
    step: on an H100 the default GRU was never faster in bf16 than in fp32 (README, Measured).
    """
    if precision == "auto":
        if device.type == "cuda" and model_name in ("tcn", "transformer") and \
                torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    return precision


def autocast_context(precision: str, device: torch.device):
    """Autocast to bf16 or fp16 on ``device``; a no-op context for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def configure_torch(cfg: Config, device: torch.device) -> None:
    """Deterministic kernels (``experiment.deterministic``) or cuDNN autotuning, the thread
    count (``experiment.num_threads``) and TF32 matmuls: process-wide settings of the run."""
    if cfg.experiment.deterministic:
        # cuBLAS needs a fixed workspace for deterministic results; effective before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        # Only when it was on (an earlier run in this process): the call imports torch._dynamo
        # and torch._inductor, 1.5 to 3 s of a new worker's start.
        if torch.are_deterministic_algorithms_enabled():
            torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = device.type == "cuda"
    if cfg.experiment.num_threads:
        torch.set_num_threads(cfg.experiment.num_threads)
    torch.set_float32_matmul_precision("high")  # TF32 on CUDA for fp32 work; no effect on CPU
    torch.backends.cudnn.allow_tf32 = True


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and PyTorch's generators (CUDA's included)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
