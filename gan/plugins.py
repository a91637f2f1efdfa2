"""Plugin modules: the run config's ``plugins``, imported before a config is checked.

A plugin registers networks (:func:`gan.networks.specs.register_network`) or metrics
(:func:`gan.metrics.names.register_metric`) when imported. Naming it in a task's
``global_config`` makes every process that reads the config see the registration: the
command line checking the task, and each run's own process, which reads ``config.json``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from gan.errors import ConfigError


def load_plugins(names: Sequence[str], where: str) -> None:
    """Import each module of ``names`` (once per process); ConfigError when one is missing."""
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise  # the plugin itself imports something missing: its own bug
            raise ConfigError(
                f"{where}: plugins: no module named {name!r} (a plugin must be importable "
                "from the project folder, where runs start, or installed)"
            ) from None
