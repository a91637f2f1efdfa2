"""The devices of a run: its distribution strategy over ``num_gpus`` devices."""

from __future__ import annotations

import os

import tensorflow as tf

from gan.bsn.distribute import mirrored_strategy
from gan.errors import ConfigError


def make_strategy(num_gpus: int, devices: list[str] | None = None) -> tf.distribute.Strategy:
    """The distribution strategy of a run: the default one for one device, else mirrored.

    ``devices`` names the devices explicitly (e.g. logical CPUs in tests); otherwise the first
    ``num_gpus`` visible GPUs are used (the scheduler sets ``CUDA_VISIBLE_DEVICES`` from the
    task's ``gpu`` entry). Too few devices is a ConfigError.
    """
    if devices is None:
        if num_gpus == 1:
            return tf.distribute.get_strategy()
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        if len(gpus) < num_gpus:
            raise ConfigError(
                f"num_gpus = {num_gpus} but this process sees {len(gpus)} GPU(s) {gpus} "
                f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); give the "
                f"task a gpu entry listing {num_gpus} ids, e.g. [['0', '1']]"
            )
        devices = gpus[:num_gpus]
    if len(devices) != num_gpus:
        raise ConfigError(f"num_gpus = {num_gpus} but {len(devices)} devices were given: {devices}")
    if num_gpus == 1:
        return tf.distribute.get_strategy()
    return mirrored_strategy(list(devices))  # one per device set: see gan/bsn/distribute.py
