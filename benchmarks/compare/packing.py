"""Packing the results for a machine that gives back only a few files."""

from __future__ import annotations

import tarfile
from pathlib import Path

__all__ = ["PACK_GLOBS", "pack"]

PACK_GLOBS = ("run.json", "table.md", "results.json", "anytime.png", "*.log", "*-s*/summary.json",
              "*-s*/retrain-*-s*/summary.json", "*-s*/retrain-*.yaml", "*-s*/retrain-*.log",
              "a-s*/sweep/confirmation.json", "a-s*/sweep/confirmation.csv",
              "a-s*/sweep/trials.csv", "a-s*/sweep/best_config.yaml", "a-s*/sweep/sweep.log",
              "a-s*/sweep-driver.log", "a-s*/space.yaml")


def pack(out: Path, dest: Path) -> None:
    """One ``tar.gz`` of the small files the analysis and the docs need (``PACK_GLOBS``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for pattern in PACK_GLOBS:
            for path in sorted(out.glob(pattern)):
                if path.is_file() and path.resolve() != dest.resolve():
                    tar.add(path, arcname=str(path.relative_to(out)))
    print(f"pack: {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
