"""Keras callbacks for :class:`gan.bsn.BSNGAN`: the paper's diagnostics as scalars and a sample
grid every N steps, on every Keras backend.

Both count steps by the G optimizer's iterations (one per paper iteration), which
``keras.callbacks.BackupAndRestore`` restores, so a resumed ``fit`` continues their numbering.
"""

from __future__ import annotations

import csv
import os

import keras
import numpy as np

DIAGNOSTIC_PREFIXES = ("loss/", "d/")
GRID_EPS = 1e-8
SCALARS_CSV = "scalars.csv"


def image_grid(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tile ``rows * cols`` images and min-max scale the whole grid to uint8."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = (
        images.reshape(rows, cols, h, w, c)
        .transpose(0, 2, 1, 3, 4)
        .reshape(rows * h, cols * w, c)
        .astype(np.float64)
    )
    lo, hi = grid.min() - GRID_EPS, grid.max() + GRID_EPS
    return ((grid - lo) / (hi - lo) * 255.0).astype(np.uint8)


def _global_step(model: keras.Model) -> int:
    """Finished paper iterations of ``model`` (its G optimizer's step count). On JAX the
    variables are first given their values from the stateless step (Keras' fit holds them
    apart during an epoch)."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    return int(keras.ops.convert_to_numpy(model.g_optimizer.iterations))


class SpectralNormLogger(keras.callbacks.Callback):
    """Every ``every_n_steps`` steps, the losses, each normalized layer's sigma
    (``d/sigma{i}``, BSN's ``d/sigma{i}_{0,1,2}``: the mean and the two sigmas), the gammas and
    the input-gradient norms (``d/{mean,min,max}_{real,fake}_slopes``) under the names the task
    runs use. It switches the model's diagnostics on.

    On the tensorflow backend the scalars are TensorBoard event files in ``log_dir``; on jax and
    torch (no TensorFlow needed) they are rows of ``log_dir/scalars.csv`` (``step,name,value``;
    rows are appended, so a resumed fit continues the file).
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
        os.makedirs(self.log_dir, exist_ok=True)
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # TensorFlow only on its own backend

            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = _global_step(self.model) - 1
        if not logs or (step + 1) % self.every_n_steps:
            return
        scalars = {
            name: float(keras.ops.convert_to_numpy(value))
            for name, value in logs.items()
            if name.startswith(DIAGNOSTIC_PREFIXES)
        }
        if self._writer is not None:
            import tensorflow as tf  # TensorFlow only on its own backend

            with self._writer.as_default(step=step):
                for name, value in scalars.items():
                    tf.summary.scalar(name, value)
            return
        path = os.path.join(self.log_dir, SCALARS_CSV)
        new = not os.path.exists(path)
        with open(path, "a", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            if new:
                out.writerow(["step", "name", "value"])
            out.writerows([step, name, repr(value)] for name, value in scalars.items())

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.flush()


class SampleGrid(keras.callbacks.Callback):
    """Every ``every_n_steps`` steps, ``directory/global_id-N.png``: a ``rows`` x ``cols`` grid
    of G's images (inference mode) from fixed latents, scaled to uint8 by the grid's minimum and
    maximum, as the task runs write them (Pillow writes the PNG)."""

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
        from PIL import Image  # Pillow, as TensorFlow, only where it is used

        n, dim = self.rows * self.cols, self.model.latent_dim
        z = np.random.default_rng(self.seed).standard_normal((n, dim)).astype(np.float32)
        images = keras.ops.convert_to_numpy(self.model.generator(z, training=False))
        grid = image_grid(images, self.rows, self.cols)
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"global_id-{step}.png")
        Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
        return path
