"""The user-error base class: a problem the user can fix (a config, a data file, a run folder,
a metric's inputs, a missing Inception graph).

Every entry point (the scheduler's console, ``python -m gan.run``, each command of
``gan/cli.py``) turns a :class:`UserError` into one ``error:`` line and exit code 2
(``gan.run_folder.EXIT_BAD_INPUT``); any other exception is a bug and keeps its traceback.
This module imports nothing, so every module (TensorFlow-free ones included) can raise it;
the user errors shared by several modules are defined here too (``gan.config`` and
``gan.dataset_files`` re-export theirs).
"""


class UserError(Exception):
    """A problem the user can fix; its message names the file, key or value and what was
    expected."""


class ConfigError(UserError, ValueError):
    """A config that cannot be run; the message names the file, key and value."""


class DataError(UserError, ValueError):
    """Training data that is missing or not in the expected format; names the file."""


class MetricError(UserError, ValueError):
    """A metric that cannot be computed from these inputs (a sample count above the data's
    size, images of another size or dataset, a metrics.csv of another metric list)."""


def error_line(exc: BaseException) -> str:
    """The one ``error:`` line printed for a user error (whitespace folded)."""
    return f"error: {' '.join(str(exc).split())}"
