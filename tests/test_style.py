"""The tree has one format and no lint findings: ``ruff format --check`` and ``ruff check``
(the settings in pyproject.toml) pass on every Python file of the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists():
        pytest.fail("ruff is not installed: pip install -r requirements-test.txt")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_every_file_is_ruff_formatted():
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, (
        "run `ruff format .` (files below differ from the house format)\n" + result.stdout
    )


def test_ruff_check_finds_nothing():
    result = _ruff("check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
