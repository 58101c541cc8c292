"""The one exception type of the data package."""

from __future__ import annotations

__all__ = ["DataError", "shown"]


class DataError(ValueError):
    """A problem with the data, attributed to the config key at fault and to the data file.

    ``str(error)`` reads ``key: path: detail`` (``data.label_column: data/x.csv: ...``); the
    command-line tools put the config file in front. ``message`` is ``path: detail`` (or only the
    detail when the data has no file, as for the synthetic set). Errors survive ``copy.copy`` and
    pickling, so Ray can carry them from a worker to the driver.

    Attributes:
        key: dotted config key at fault (``data.path``, ``data.label_column``, ``task.type``).
        detail: what is wrong, without the key and the path.
        path: the data file, or None.
    """

    def __init__(self, key: str, detail: str, path: str | None = None):
        self.key = key
        self.detail = detail
        self.path = None if path is None else str(path)
        super().__init__(f"{key}: {self.message}")

    @property
    def message(self) -> str:
        return f"{self.path}: {self.detail}" if self.path else self.detail

    def with_path(self, path: str | None) -> DataError:
        """The same error naming ``path`` (unchanged if it names a file already)."""
        if self.path is not None or path is None:
            return self
        return DataError(self.key, self.detail, path)

    def __reduce__(self):
        return type(self), (self.key, self.detail, self.path)


def shown(value) -> str:
    """A value as an error message quotes it: ``'s1'``, ``3``, not ``np.str_('s1')``."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:
        value = item()
    return repr(value)
