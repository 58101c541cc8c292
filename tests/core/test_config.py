"""The config package as users import it: the shipped configs and the generated reference."""

import subprocess
import sys
from pathlib import Path

import pytest

import core.config
from core.config import Config, load_config, reference, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    assert isinstance(load_config(path), Config)


def test_reference_documents_every_field():
    rows = reference()
    assert len(rows) > 40
    assert all(doc for _, _, doc in rows), [k for k, _, d in rows if not d]


def test_config_reference_is_current():
    # docs/config-reference.md's table is generated from the schema: regenerate it with
    # python -m core.config.
    assert reference_markdown() in (ROOT / "docs" / "config-reference.md").read_text()



def test_python_m_core_config_prints_the_reference():
    proc = subprocess.run([sys.executable, "-m", "core.config"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == reference_markdown()


def test_the_package_re_exports_every_public_name_of_its_modules():
    # users import from core.config whatever module of the package a name lives in
    from core.config import load, sections

    for module in (load, sections):
        for name in module.__all__:
            assert getattr(core.config, name) is getattr(module, name), name
            assert name in core.config.__all__, name
