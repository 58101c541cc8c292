"""core.files: atomic writes."""

import pytest

from core import files
from core.files import atomic_write_bytes, atomic_write_text, check_name


def test_write_creates_folders_and_replaces_whole_files(tmp_path):
    path = tmp_path / "a" / "b.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["b.txt"]  # no temporary file left


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    atomic_write_bytes(path, b"old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_run_and_experiment_names_are_plain_file_names():
    for good in ("gru", "gru-2026.01_a", "x" * 100):
        assert check_name(good) is None
    for bad in ("", ".hidden", "a/b", "../up", "x" * 101, "a b"):
        # The message quotes what was given.
        assert repr(bad) in check_name(bad)
