"""One ``tf.distribute.MirroredStrategy`` per set of devices in a process (tensorflow backend).

Every ``MirroredStrategy`` numbers its collective all-reduces from the same start (group key 1,
instance key 100), and the TensorFlow runtime remembers the shape of each numbered all-reduce
for the life of the process. A second strategy over the same devices therefore reuses the
first one's numbers, and its first all-reduce of another size fails ("Shape mismatch in the
collective instance 100": e.g. 9411 vs 9401 gradient elements when two models differ by ten
gammas). One strategy keeps counting across every model and ``tf.function`` it runs, so the
models of a notebook can be built and trained one after the other.
"""

from __future__ import annotations

import threading
from typing import Any

_STRATEGIES: dict[tuple[str, ...], Any] = {}
_LOCK = threading.Lock()


def mirrored_strategy(devices: list[str] | None = None) -> Any:
    """The process's ``tf.distribute.MirroredStrategy`` over ``devices`` (default: every visible
    GPU, else the CPU), created on the first call and returned again for the same devices.
    TensorFlow only: importing this module does not import TensorFlow, calling it does."""
    import tensorflow as tf  # TensorFlow only when the strategy is asked for

    if devices is None:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")][:1]
    specs = [tf.DeviceSpec.from_string(d) for d in devices]
    key = tuple(f"{s.device_type}:{s.device_index or 0}".upper() for s in specs)
    with _LOCK:
        if key not in _STRATEGIES:
            _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices=list(devices))
        return _STRATEGIES[key]
