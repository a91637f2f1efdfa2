"""``python main.py export RUN_DIR --out DIR``: the generator for someone without this repository.

``DIR`` holds:

- ``saved_model/``: a TensorFlow SavedModel whose ``serving_default`` signature maps ``z``
  (float32 ``[None, latent_dim]``) to ``images`` (uint8 NHWC), the traced inference-mode
  generator with its quantization (``gan.sample.uint8_generate_fn``, the function ``sample``
  runs, so the images equal ``sample``'s for the same ``z``). Loading it needs TensorFlow only:
  ``tf.saved_model.load(path).signatures["serving_default"](z=z)["images"]``.
- ``generator.keras``: the Keras generator (float output in [-1, 1]). Its layers are this
  project's classes, so loading it needs the project importable: ``import`` the Keras module
  of the run's network spec (``gan.networks.cnn`` or ``gan.networks.resnet``, which registers
  them), then ``keras.saving.load_model(path)``.
- ``README.txt``: latent size, image size, the run's config, the checkpoint, how to load both.

The folder is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os

from gan.config import ConfigError, RunConfig
from gan.generator_checkpoints import load_generator, select_checkpoints, writable_folder
from gan.networks.specs import network_spec
from gan.run_folder import (
    atomic_path,
    read_run_config,
    refuse_output_over_runs,
    require_run_folder,
)
from gan.sample import uint8_generate_fn

SAVED_MODEL = "saved_model"
KERAS_FILE = "generator.keras"
README = "README.txt"


class _Serving:
    """The module saved: the generator's variables and the traced ``z -> uint8`` function."""

    def __init__(self, generator, latent_dim: int):
        # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
        import tensorflow as tf

        self.module = tf.Module()
        # The backing tf.Variables, so the SavedModel holds them and nothing of Keras.
        self.module.variables_ = [v.value for v in generator.variables]
        fn = uint8_generate_fn(generator, latent_dim)

        @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
        def serve(z):
            return {"images": fn(z)}

        self.module.serve = serve


def _readme(
    config: RunConfig, label: str, run_dir: str, latent_dim: int, shape: tuple[int, int, int]
) -> str:
    h, w, c = shape
    layers = network_spec(config.network).keras_module
    return f"""Generator exported from {run_dir} ({label}).

latent size: {latent_dim} (z ~ N(0, I), float32)
image size: {h} x {w} x {c} (uint8 NHWC from the SavedModel; float in [-1, 1] from the .keras)
checkpoint: {label}

SavedModel ({SAVED_MODEL}/), TensorFlow only:
    import numpy as np, tensorflow as tf
    g = tf.saved_model.load("{SAVED_MODEL}")
    z = np.random.default_rng(0).standard_normal((16, {latent_dim})).astype(np.float32)
    images = g.signatures["serving_default"](z=tf.constant(z))["images"].numpy()

Keras ({KERAS_FILE}): needs this project's code importable (custom layers):
    import keras, {layers}
    g = keras.saving.load_model("{KERAS_FILE}")
    images = g(z, training=False)   # float in [-1, 1]

run config:
{json.dumps(config.to_dict(), indent=2, sort_keys=True)}
"""


def export_run(run_dir: str, out: str, checkpoint: str = "latest", overwrite: bool = False) -> str:
    """Write the SavedModel, the ``.keras`` file and README.txt of the run's generator at
    ``checkpoint`` into the folder ``out``; returns it."""
    # TensorFlow: imported here so that importing this module (the CLI) stays TensorFlow-free.
    import tensorflow as tf

    run_dir = require_run_folder(run_dir)
    refuse_output_over_runs(out, run_dir)
    target = os.path.abspath(out.rstrip("/") or out)
    if os.path.lexists(target) and not overwrite:
        raise ConfigError(f"{target} already exists; pass --overwrite to replace it")
    if not os.path.isdir(os.path.dirname(target)):
        raise ConfigError(f"--out {out}: the folder {os.path.dirname(target)} does not exist")
    config = read_run_config(run_dir)
    ref = select_checkpoints(run_dir, checkpoint, single=True)[0]
    generator = load_generator(config, ref)
    writable_folder(os.path.dirname(target), "choose another --out")
    latent_dim = config.latent_dim
    with atomic_path(target) as tmp:
        os.makedirs(tmp)
        serving = _Serving(generator, latent_dim)
        tf.saved_model.save(
            serving.module,
            os.path.join(tmp, SAVED_MODEL),
            signatures={"serving_default": serving.module.serve},
        )
        generator.save(os.path.join(tmp, KERAS_FILE))
        with open(os.path.join(tmp, README), "w") as f:
            f.write(_readme(config, ref.label, run_dir, latent_dim, config.image_shape))
    print(f"exported {ref.label} of {run_dir} to {target}", flush=True)
    return target
