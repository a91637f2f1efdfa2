"""Test hooks for processes a test starts: a pause at one point, and no network.

Only the tests put this folder on ``PYTHONPATH`` (``tests.helpers.pause_env``,
``offline_env``); Python imports ``sitecustomize`` at start-up, in the scheduler and in every
``python -m gan.run`` it launches.

With ``BSN_TEST_OFFLINE=1`` every TCP connection fails as on a machine without a network
(``socket.create_connection`` raises ``ENETUNREACH``).

With ``BSN_TEST_PAUSE=<method>:<N>:<marker>`` (``method``: ``save`` or ``log_metrics``), the
first ``Trainer.<method>(N)`` to return writes this process's pid to ``marker`` and then waits
until a stop is requested (SIGTERM/SIGINT set ``stop_requested``) or the process is killed. The
run's own code is unchanged: only this wait is added. After 10 minutes it goes on (a safety net).
"""

import errno
import importlib.abc
import importlib.util
import os
import socket
import sys
import time

PAUSE = os.environ.get("BSN_TEST_PAUSE")
SAFETY_NET_S = 600.0


def _patch(trainer_module) -> None:
    method, at, marker = PAUSE.split(":", 2)
    original = getattr(trainer_module.Trainer, method)
    paused = []

    def holding(self, global_id, *args, **kwargs):
        result = original(self, global_id, *args, **kwargs)
        if global_id == int(at) and not paused and not self.stop_requested:
            paused.append(global_id)
            with open(marker + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
            deadline = time.monotonic() + SAFETY_NET_S
            while not self.stop_requested and time.monotonic() < deadline:
                time.sleep(0.01)  # the stop handler runs between these calls
        return result

    setattr(trainer_module.Trainer, method, holding)


class _PatchTrainer(importlib.abc.MetaPathFinder):
    """Patch ``gan.trainer`` right after it is first imported."""

    def find_spec(self, name, path, target=None):
        if name != "gan.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _unreachable(address, *args, **kwargs):
    raise OSError(errno.ENETUNREACH, f"network is unreachable (test hook): {address}")


if PAUSE:
    sys.meta_path.insert(0, _PatchTrainer())
if os.environ.get("BSN_TEST_OFFLINE"):
    socket.create_connection = _unreachable
