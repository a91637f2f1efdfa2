"""A download-free image dataset: coloured geometric shapes drawn with Pillow (quickstart).

Each 32x32 image holds one filled shape (disc, square, triangle or cross) of a random colour,
size and position on a random dark background. Generation is seeded, so every run and test sees
the same images; labels (the shape kind) are returned for feature extractors trained on them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SHAPE_KINDS = ("disc", "square", "triangle", "cross")
DEFAULT_COUNT = 10000
DEFAULT_SEED = 1234


def draw_shape(kind: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One ``size`` x ``size`` RGB uint8 image with a single shape of ``kind``."""
    bg = tuple(int(c) for c in rng.integers(0, 70, 3))
    fg = tuple(int(c) for c in rng.integers(120, 256, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    r = float(rng.uniform(0.22, 0.38) * size)
    cx, cy = (float(v) for v in rng.uniform(r, size - r, 2))
    if kind == "disc":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif kind == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif kind == "triangle":
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif kind == "cross":
        t = r / 3
        d.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fg)
        d.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fg)
    else:
        raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPE_KINDS}")
    return np.asarray(img, dtype=np.uint8)


def make_shapes(
    count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (uint8 [N, size, size, 3]) and their shape labels (int [N])."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPE_KINDS), count)
    images = np.stack([draw_shape(SHAPE_KINDS[k], rng, size) for k in labels])
    return images, labels.astype(np.int64)


def shapes_images(data_root: str | None = None, count: int = DEFAULT_COUNT) -> np.ndarray:
    """The quickstart training set (generated in memory; ``data_root`` is not read)."""
    return make_shapes(count)[0]
