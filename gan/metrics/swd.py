"""The sliced Wasserstein distance, a metric beyond the original (off by default).

``swd``: tensorflow-gan's ``sliced_wasserstein_distance`` (Laplacian pyramid from the full
  image size halving down to >= 16 px, i.e. 32/16 for CIFAR10, 48/24 for STL10, 64/32/16 for
  CelebA, 128/64/32/16 for ImageNet; 7x7 patches; one random projection set of 147
  directions) between ``swd_num_samples`` generated and as many real images (a subset fixed per
  run), ``swd_patches_per_image`` patches per image and level. Reported: the mean over levels
  of the real-vs-generated distance (tfgan's raw value; the ProGAN paper prints it x 1e3).
  Both sets are uint8 (generated images quantized as if saved). One change to tfgan: a flat
  patch (std below 1e-3 grey levels) is left at zero instead of tfgan's 0/0 = NaN, which any
  flat area (a saturated sky, an all-black early sample) would otherwise turn the score into.
  Randomness (patch positions, projections) comes from a seed drawn once per run from
  ``context.rng`` (kept across a resume) and ``global_id``; the computation runs on the CPU in
  its own graph and session, so neither TensorFlow's nor NumPy's global random state is touched.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan.errors import MetricError
from gan.metrics.base import MetricCallback, MetricContext
from gan.metrics.inception.statistics import sample_in_chunks
from gan.tfgan import tfgan_sliced_wasserstein

SWD_RESOLUTION_MIN = 16
SWD_FLAT_STD = 1e-3


def swd_levels(size: int) -> int:
    """Pyramid levels tfgan uses for ``size`` px images: halving down to >= 16 px."""
    low = min(SWD_RESOLUTION_MIN, size)
    return int(np.log2(size)) - int(np.log2(low)) + 1


def patch_centres(
    n: int,
    height: int,
    width: int,
    patches_per_image: int,
    patch_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """tfgan's patch draw: ``(ys, xs)`` of ``patches_per_image`` centres per image, uniform."""
    hs = patch_size // 2
    ys = rng.integers(hs, height - hs, size=n * patches_per_image)
    xs = rng.integers(hs, width - hs, size=n * patches_per_image)
    return ys, xs


def cut_patches(
    level: np.ndarray, ys: np.ndarray, xs: np.ndarray, patches_per_image: int, patch_size: int
) -> np.ndarray:
    """The ``patch_size`` squares around ``(ys, xs)``, ``patches_per_image`` per image in order."""
    hs = patch_size // 2
    img = np.repeat(np.arange(level.shape[0]), patches_per_image)
    offsets = np.arange(-hs, hs + 1)
    rows = (ys[:, None] + offsets)[:, :, None]
    cols = (xs[:, None] + offsets)[:, None, :]
    return level[img[:, None, None], rows, cols]


def random_patches(
    level: np.ndarray, patches_per_image: int, patch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """``patches_per_image`` random squares per image of ``level`` (centres uniform)."""
    n, height, width, _ = level.shape
    ys, xs = patch_centres(n, height, width, patches_per_image, patch_size, rng)
    return cut_patches(level, ys, xs, patches_per_image, patch_size)


def normalize_patches(patches: np.ndarray) -> np.ndarray:
    """Each patch minus its mean over its std, flattened; a flat patch stays at zero."""
    flat = patches.reshape(len(patches), -1).astype(np.float32)
    flat = flat - flat.mean(axis=1, keepdims=True)
    std = np.sqrt(np.mean(np.square(flat), axis=1, keepdims=True))
    return flat / np.maximum(std, SWD_FLAT_STD)


def level_patches(
    images: np.ndarray,
    level: int,
    num_levels: int,
    ys: np.ndarray,
    xs: np.ndarray,
    patches_per_image: int,
    patch_size: int,
    batch_size: int = 256,
) -> np.ndarray:
    """Normalized patches of pyramid ``level`` of every image, the pyramid built per batch.

    The Laplacian pyramid is per image, so building it ``batch_size`` images at a time gives
    the same levels as one call on the whole set while holding only a batch of float images.
    """
    sw = tfgan_sliced_wasserstein()
    dim = patch_size * patch_size * images.shape[3]
    out = np.empty((len(images) * patches_per_image, dim), np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        pyramid = sw.laplacian_pyramid(tf.constant(batch, tf.float32), num_levels)
        rows = slice(start * patches_per_image, (start + len(batch)) * patches_per_image)
        out[rows] = normalize_patches(
            cut_patches(pyramid[level].numpy(), ys[rows], xs[rows], patches_per_image, patch_size)
        )
    return out


def sliced_wasserstein(
    real: np.ndarray,
    fake: np.ndarray,
    patches_per_image: int = 64,
    seed: int = 0,
    patch_size: int = 7,
) -> list[float]:
    """SWD between real and generated images per pyramid level (finest first).

    tensorflow-gan's pipeline (``sliced_wasserstein_distance`` with its defaults): its
    ``laplacian_pyramid``, ``patches_per_image`` random patch_size^2 x 3 patches per image and
    level normalized by their own mean and std, and its ``_sliced_wasserstein`` (one set of
    random unit projections, as many as the patch dimension; sorted projections; mean absolute
    difference). Two changes make it deterministic for a ``seed`` and finite: patch centres
    come from ``np.random.default_rng(seed)`` (tfgan draws them from NumPy's global state in
    an order that varies between runs) and a flat patch is left at zero (tfgan divides 0/0).
    Memory: one level's patches of both sets at a time, the pyramid built in batches.
    """
    if real.shape[1:] != fake.shape[1:] or real.shape[1] != real.shape[2] or real.shape[3] != 3:
        raise MetricError(
            f"SWD needs square RGB images of one size; got {real.shape[1:]} and {fake.shape[1:]}"
        )
    sw = tfgan_sliced_wasserstein()
    num_levels = swd_levels(real.shape[1])
    shapes = [
        level.shape[1:3]
        for level in sw.laplacian_pyramid(tf.zeros((1,) + real.shape[1:]), num_levels)
    ]
    rng = np.random.default_rng(seed)
    # Every centre is drawn up front, in the order of one pass over (real, fake) x levels.
    centres = [
        [patch_centres(len(images), h, w, patches_per_image, patch_size, rng) for h, w in shapes]
        for images in (real, fake)
    ]
    dim = patch_size * patch_size * 3
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        inputs, distances = [], []
        for _ in range(num_levels):
            a = tf.compat.v1.placeholder(tf.float32, [None, dim])
            b = tf.compat.v1.placeholder(tf.float32, [None, dim])
            inputs.append((a, b))
            distances.append(sw._sliced_wasserstein(a, b, 1, dim))
    out = []
    # Not `with Session`: that would make `graph` the default and the eager pyramid symbolic.
    sess = tf.compat.v1.Session(graph=graph)
    try:
        for level, ((a, b), distance) in enumerate(zip(inputs, distances, strict=True)):
            feeds = {
                ph: level_patches(
                    images, level, num_levels, *centres[k][level], patches_per_image, patch_size
                )
                for k, (ph, images) in enumerate(((a, real), (b, fake)))
            }
            out.append(float(sess.run(distance, feeds)))
            del feeds
    finally:
        sess.close()
    return out


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Generated images in [-1, 1] -> uint8, rounded as an image writer would."""
    return np.clip(np.rint((images.astype(np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)


class SlicedWassersteinDistance(MetricCallback):
    """SWD (mean over pyramid levels) of ``num_samples`` generated vs as many real images."""

    def __init__(self, num_samples: int = 2048, patches_per_image: int = 64, batch_size: int = 64):
        self.num_samples = num_samples
        self.patches_per_image = patches_per_image
        self.batch_size = batch_size
        self.real_indices: np.ndarray | None = None
        self.real: np.ndarray | None = None
        self.seed: np.ndarray | None = None

    def columns(self) -> list[str]:
        return ["swd"]

    def setup(self, context: MetricContext) -> None:
        """Draw the run's seed and the real set (indices, or images when streamed)."""
        self.seed = context.rng.integers(0, 2**31, size=1)
        if context.real_images is not None:
            total = len(context.real_images)
            if self.num_samples > total:
                raise MetricError(
                    f"swd_num_samples = {self.num_samples} exceeds the {total} training images"
                )
            self.real_indices = context.rng.choice(total, self.num_samples, replace=False)
        else:
            # Streamed data: a fresh real set in each process (not kept across a resume).
            self.real = np.asarray(context.sample_real(self.num_samples))

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if self.real is None:
            self.real = np.asarray(context.real_images[self.real_indices])
        fake = np.concatenate(
            [to_uint8(x) for x in sample_in_chunks(context, self.num_samples, self.batch_size)]
        )
        seed = int(np.random.SeedSequence([int(self.seed[0]), global_id]).generate_state(1)[0])
        levels = sliced_wasserstein(self.real, fake, self.patches_per_image, seed)
        return {"swd": float(np.mean(levels))}

    def state_arrays(self) -> dict[str, np.ndarray]:
        out = {"swd_seed": self.seed} if self.seed is not None else {}
        if self.real_indices is not None:
            out["swd_real_indices"] = self.real_indices
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if "swd_seed" in arrays:
            self.seed = np.asarray(arrays["swd_seed"])
        if "swd_real_indices" in arrays:
            self.real_indices = np.asarray(arrays["swd_real_indices"], dtype=np.int64)
            self.real = None
