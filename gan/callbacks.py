"""Keras callbacks for :class:`gan.bsn.BSNGAN`: the paper's diagnostics as TensorBoard scalars
and a sample grid every N steps.

Both count steps by the G optimizer's iterations (one per paper iteration), which
``keras.callbacks.BackupAndRestore`` restores, so a resumed ``fit`` continues their numbering.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from gan.trainer import image_grid

DIAGNOSTIC_PREFIXES = ("loss/", "d/")


def _global_step(model: keras.Model) -> int:
    """Finished paper iterations of ``model`` (its G optimizer's step count)."""
    return int(model.g_optimizer.iterations.numpy())


class SpectralNormLogger(keras.callbacks.Callback):
    """Every ``every_n_steps`` steps, the losses, each normalized layer's sigma
    (``d/sigma{i}``, BSN's ``d/sigma{i}_{0,1,2}``: the mean and the two sigmas), the gammas and
    the input-gradient norms (``d/{mean,min,max}_{real,fake}_slopes``) as TensorBoard scalars
    in ``log_dir``, under the names the task runs use. It switches the model's diagnostics on.
    """

    def __init__(self, log_dir: str, every_n_steps: int = 1):
        super().__init__()
        self.log_dir = log_dir
        self.every_n_steps = int(every_n_steps)
        self._writer = None

    def set_model(self, model: keras.Model) -> None:
        """Turn the model's diagnostics on (the step is traced again if it was without)."""
        super().set_model(model)
        if not getattr(model, "diagnostics", True):
            model.diagnostics = True
            model.train_function = None

    def on_train_begin(self, logs=None) -> None:
        self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = _global_step(self.model) - 1
        if not logs or (step + 1) % self.every_n_steps:
            return
        with self._writer.as_default(step=step):
            for name, value in logs.items():
                if name.startswith(DIAGNOSTIC_PREFIXES):
                    tf.summary.scalar(name, float(value))

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.flush()


class SampleGrid(keras.callbacks.Callback):
    """Every ``every_n_steps`` steps, ``directory/global_id-N.png``: a ``rows`` x ``cols`` grid
    of G's images (inference mode) from fixed latents, scaled to uint8 by the grid's minimum and
    maximum, as the task runs write them."""

    def __init__(
        self, directory: str, every_n_steps: int, rows: int = 10, cols: int = 10, seed: int = 0
    ):
        super().__init__()
        self.directory = directory
        self.every_n_steps = int(every_n_steps)
        self.rows, self.cols, self.seed = int(rows), int(cols), int(seed)

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = _global_step(self.model) - 1
        if (step + 1) % self.every_n_steps == 0:
            self.write(step)

    def write(self, step: int) -> str:
        """Write the grid of step ``step``; returns its path."""

        n, dim = self.rows * self.cols, self.model.latent_dim
        z = np.random.default_rng(self.seed).standard_normal((n, dim)).astype(np.float32)
        images = np.asarray(self.model.generator(z, training=False))
        grid = image_grid(images, self.rows, self.cols)
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"global_id-{step}.png")
        Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
        return path
