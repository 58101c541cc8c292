"""What a run ran on: Python, torch, CUDA, cuDNN, device and package versions (no side effects)."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import torch

__all__ = ["environment_report", "package_versions"]

KEY_PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "PyYAML", "tqdm", "ray", "optuna",
                "tensorboard")


def package_versions() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name] = dist.version
    return dict(sorted(out.items(), key=lambda kv: kv[0].lower()))


def environment_report(device: torch.device | None = None) -> str:
    lines = [
        f"python: {sys.version.split()[0]} ({sys.executable})",
        f"platform: {platform.platform()}",
        f"torch: {torch.__version__}",
        f"cuda: {torch.version.cuda or 'none'} (available: {torch.cuda.is_available()})",
        f"cudnn: {torch.backends.cudnn.version() or 'none'}",
        f"cpu threads: {torch.get_num_threads()}",
    ]
    if device is not None:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        lines.append(f"device: {device} ({name or 'cpu'})")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"gpu {i}: {torch.cuda.get_device_name(i)}")
    versions = package_versions()
    lines.append("key packages: " + ", ".join(f"{k} {versions[k]}" for k in KEY_PACKAGES
                                               if k in versions))
    lines.append("installed packages:")
    lines += [f"  {k}=={v}" for k, v in versions.items()]
    return "\n".join(lines) + "\n"
