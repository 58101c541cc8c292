"""Where a sweep's trial directories live: a local folder, or a URI that pyarrow understands.

Ray Tune writes each trial's results and checkpoints under ``<root>/run-<k>/<trial>/``. With a
local ``--storage-path`` the root is ``<experiment>/tune``. With a URI (``s3://bucket/sweeps``,
``gs://...``, anything ``pyarrow.fs.FileSystem.from_uri`` accepts, query parameters such as
``?endpoint_override=host:port&scheme=http`` included) the root is ``<URI>/<name>/tune``; the
sweep's ledger (study, ``trials.csv``, ``best_config.yaml``, log) stays in a local experiment
directory, because SQLite needs a real disk, and is copied next to the trials when the sweep
stops. Credentials come from the filesystem's usual sources (for S3: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, or the machine's role).

Object stores have no folders to glob, so this module lists them once per question and reads
files through pyarrow; local folders keep plain ``pathlib`` access.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["TrialStore", "is_uri", "join_uri", "local_file"]


def is_uri(text: str) -> bool:
    """Whether ``text`` is a URI (``scheme://...``) rather than a local path."""
    return "://" in str(text)


def join_uri(uri: str, *parts: str) -> str:
    """``uri`` with path ``parts`` appended, before any ``?query``."""
    base, sep, query = uri.partition("?")
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)]) + sep + query


def local_file(path_or_uri: str, dest_dir: str | Path) -> Path:
    """A local file with the bytes at ``path_or_uri``: a local path as it is, a URI downloaded
    into a new folder under ``dest_dir``."""
    if not is_uri(path_or_uri):
        return Path(path_or_uri)
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(path_or_uri)
    local = Path(tempfile.mkdtemp(dir=dest_dir)) / Path(path).name
    with fs.open_input_stream(path) as src, open(local, "wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    return local


class TrialStore:
    """The trial directories of one sweep under ``root`` (a local path or a URI)."""

    def __init__(self, root: str | Path):
        self.root = str(root)
        self.remote = is_uri(self.root)
        if self.remote:
            import pyarrow.fs

            self.fs, self._base = pyarrow.fs.FileSystem.from_uri(self.root)
            self._scheme = self.root.split("://", 1)[0]
            self._query = self.root.partition("?")[1] + self.root.partition("?")[2]

    def uri(self, path: str) -> str:
        """A stored file's name as users and workers can open it: a local path, or the full URI
        (with the root's query parameters)."""
        return f"{self._scheme}://{path}{self._query}" if self.remote else str(path)

    def check_writable(self) -> None:
        """Creates the root and writes and removes a probe file; raises OSError if it cannot."""
        if not self.remote:
            Path(self.root).mkdir(parents=True, exist_ok=True)
            return
        self.fs.create_dir(self._base)
        probe = f"{self._base}/.write-test"
        with self.fs.open_output_stream(probe) as f:
            f.write(b"")
        self.fs.delete_file(probe)

    def runs(self) -> list[str]:
        """The ``run-<k>`` directories (one per start of the sweep), oldest first: by k, so
        that run-10 follows run-9 (a later run's epochs replace an earlier one's)."""
        if not self.remote:
            found = [str(p) for p in Path(self.root).glob("run-*")]
        else:
            found = [i.path for i in self._list(self._base) if i.base_name.startswith("run-")]
        return sorted((p for p in found if p.rsplit("run-", 1)[1].isdigit()),
                      key=lambda p: int(p.rsplit("run-", 1)[1]))

    def trial_keys(self) -> list[str]:
        """The names of the trial directories of every run (``t0000``, ...), sorted."""
        if not self.remote:
            found = {p.name for run in self.runs() for p in Path(run).iterdir() if p.is_dir()}
        else:
            import pyarrow.fs

            found = {i.base_name for run in self.runs() for i in self._list(run)
                     if i.type == pyarrow.fs.FileType.Directory}
        return sorted(k for k in found if k.startswith("t") and k[1:].isdigit())

    def trial_dirs(self, key: str) -> list[str]:
        """The trial's directories across runs, oldest run first."""
        if not self.remote:
            return [f"{run}/{key}" for run in self.runs() if Path(run, key).is_dir()]
        import pyarrow.fs

        dirs = [f"{run}/{key}" for run in self.runs()]
        infos = self.fs.get_file_info(dirs) if dirs else []
        return [i.path for i in infos if i.type == pyarrow.fs.FileType.Directory]

    def checkpoint_files(self, trial_dir: str, name: str) -> list[str]:
        """``checkpoint_*/<name>`` files in a trial directory."""
        if not self.remote:
            return [str(p) for p in Path(trial_dir).glob(f"checkpoint_*/{name}")]
        import pyarrow.fs

        dirs = [i.path for i in self._list(trial_dir) if i.base_name.startswith("checkpoint_")]
        infos = self.fs.get_file_info([f"{d}/{name}" for d in dirs]) if dirs else []
        return [i.path for i in infos if i.type == pyarrow.fs.FileType.File]

    def stat(self, path: str) -> tuple[int, int] | None:
        """(mtime in ns, size) of a file, None where there is none."""
        if not self.remote:
            try:
                st = Path(path).stat()
            except FileNotFoundError:
                return None
            return st.st_mtime_ns, st.st_size
        import pyarrow.fs

        info = self.fs.get_file_info(path)
        if info.type != pyarrow.fs.FileType.File:
            return None
        return (info.mtime_ns or 0), info.size

    def exists(self, path: str) -> bool:
        """Whether a file or folder is stored at ``path``."""
        if not self.remote:
            return Path(path).exists()
        import pyarrow.fs

        return self.fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound

    def read_text(self, path: str) -> str:
        """The text of the stored file ``path``; OSError if it cannot be read."""
        if not self.remote:
            return Path(path).read_text()
        with self.fs.open_input_stream(path) as f:
            return f.read().decode()

    def upload(self, files: list[Path]) -> None:
        """Copies local ``files`` into the root's parent folder (the experiment's folder that
        holds ``tune``); nothing to do when local."""
        if not self.remote:
            return
        folder = self._base.rsplit("/", 1)[0]
        self.fs.create_dir(folder)
        for f in files:
            with open(f, "rb") as src, self.fs.open_output_stream(f"{folder}/{f.name}") as dst:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)

    def _list(self, path: str):
        import pyarrow.fs

        try:
            return self.fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        except FileNotFoundError:
            return []

