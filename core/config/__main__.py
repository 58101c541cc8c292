"""``python -m core.config``: prints the config reference (docs/config-reference.md's table)."""

from core.config.load import reference_markdown

if __name__ == "__main__":
    print(reference_markdown(), end="")
