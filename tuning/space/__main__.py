"""``python -m tuning.space``: the reference of the space file's settings
(docs/config-reference.md)."""

from tuning.space._settings import reference_markdown_space

print(reference_markdown_space(), end="")
