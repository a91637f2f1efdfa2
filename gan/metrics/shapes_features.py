"""FID and KID for the quickstart without a download: features of a classifier of the shapes.

The Inception graph needs a download, so the quickstart measures its samples in the feature
space of a small CNN trained by this module on the generated shapes' labels (disc, square,
triangle, cross). The classifier is trained once (seeded) and cached; its 128-d penultimate
activations play the role of Inception's pool_3. Values are comparable between quickstart runs,
not with Inception-based FID/KID.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from absl import logging

from gan.atomic import atomic_path
from gan.errors import MetricError
from gan.metrics.base import MetricCallback, MetricContext
from gan.metrics.inception.statistics import cache_dir, check_range, frechet_distance
from gan.metrics.kid import kernel_distance
from gan.shapes import SHAPE_KINDS, make_shapes

CLASSIFIER_FILE = "shapes_classifier-v1.weights.h5"
FEATURE_DIM = 128


def build_classifier() -> keras.Model:
    """The shapes classifier: three strided convs, global pooling, a 128-d feature layer."""
    inputs = keras.Input((32, 32, 3))
    h = inputs
    for filters in (32, 64, 128):
        h = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features")(h)
    logits = keras.layers.Dense(len(SHAPE_KINDS), name="logits")(features)
    return keras.Model(inputs, [features, logits], name="shapes_classifier")


def train_classifier(
    count: int = 10000, epochs: int = 3, seed: int = 0
) -> tuple[keras.Model, float]:
    """Train the classifier on generated shapes; returns it and its held-out accuracy."""
    keras.utils.set_random_seed(seed)
    images, labels = make_shapes(count + 2000, seed=seed + 99)
    x = images.astype(np.float32) / 255.0 * 2.0 - 1.0
    model = build_classifier()
    trainer = keras.Model(model.input, model.output[1])
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    trainer.fit(x[:count], labels[:count], batch_size=64, epochs=epochs, verbose=0)
    _, acc = trainer.evaluate(x[count:], labels[count:], verbose=0)
    return model, float(acc)


def load_classifier(path: str | None = None) -> keras.Model:
    """The cached classifier, trained and saved first if the cache has none."""
    path = path or os.path.join(cache_dir(), CLASSIFIER_FILE)
    model = build_classifier()
    if os.path.isfile(path):
        model.load_weights(path)
        return model
    model, acc = train_classifier()
    logging.info("trained the shapes classifier: held-out accuracy %.3f", acc)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    return model


class ShapesFeatureDistance(MetricCallback):
    """``shapes_fid`` and ``shapes_kid`` of generated vs a fixed subset of real shapes."""

    def __init__(self, num_samples: int = 2000, num_real: int = 2000, batch_size: int = 256):
        self.num_samples = num_samples
        self.num_real = num_real
        self.batch_size = batch_size
        self.real_indices: np.ndarray | None = None
        self.model: keras.Model | None = None
        self._real_features: np.ndarray | None = None

    def columns(self) -> list[str]:
        return ["shapes_fid", "shapes_kid"]

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate activations of images in [-1, 1] (float) or [0, 255] (uint8)."""
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / 255.0 * 2.0 - 1.0
        out = [
            self.model(images[i : i + self.batch_size], training=False)[0].numpy()
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(out).astype(np.float64)

    def setup(self, context: MetricContext) -> None:
        if context.real_images is None or context.real_images.shape[1:] != (32, 32, 3):
            raise MetricError("shapes_fid/shapes_kid need the 32x32 in-memory 'shapes' dataset")
        self.model = load_classifier()
        n = len(context.real_images)
        self.real_indices = np.sort(context.rng.choice(n, min(self.num_real, n), replace=False))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"shapes_real_indices": self.real_indices}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if "shapes_real_indices" in arrays:
            self.real_indices = arrays["shapes_real_indices"]
            self._real_features = None

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if self._real_features is None:
            self._real_features = self.features(context.real_images[self.real_indices])
        fake = context.sample(self.num_samples)
        check_range(fake)
        fake_features = self.features(fake)
        return {
            "shapes_fid": frechet_distance(self._real_features, fake_features),
            "shapes_kid": kernel_distance(self._real_features, fake_features),
        }
