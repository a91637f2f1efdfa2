"""What the after-training tests share: the CLI run in this process, its error checks."""

from __future__ import annotations

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*argv: str) -> int:
    """``python main.py ARGV`` in this process; returns the exit code."""
    import main

    return main.run_cli(["main.py", *argv])


def assert_one_error_line(capsys, code: int, *words: str) -> str:
    """Exit 2 and exactly one ``error:`` line on stderr, naming every word of ``words``."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def no_partial_files(folder: str) -> bool:
    """Whether ``folder`` holds no temporary (``.partial``/``.tmp``) leftovers."""
    return not [n for n in os.listdir(folder) if ".partial" in n or ".tmp" in n]
