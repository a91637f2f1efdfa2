"""A run's real images: the in-memory dataset array, or the streamed ImageNet folder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from gan.config import RunConfig
from gan.dataset_files import IMAGENET_FOLDER, load_images

if TYPE_CHECKING:
    from gan.imagenet import ImageNetFolder


def training_data(
    dataset: str, data_root: str, imagenet_allow_subset: bool = False
) -> np.ndarray | ImageNetFolder:
    """A dataset's real images: the streamed ImageNet folder, or the in-memory array."""
    if dataset == "imagenet":
        # gan.imagenet imports TensorFlow: imported here so that importing this module (the
        # evaluate command, the report) stays TensorFlow-free.
        from gan.imagenet import ImageNetFolder

        return ImageNetFolder(
            os.path.join(data_root, IMAGENET_FOLDER), allow_subset=imagenet_allow_subset
        )
    return load_images(dataset, data_root)


def run_data(config: RunConfig) -> np.ndarray | ImageNetFolder:
    """The real images of the run ``config``."""
    return training_data(config.dataset, config.data_root, config.imagenet_allow_subset)
