"""STL10: the 100,000 unlabelled images, resized to 48x48, as ``<data_root>/STL10/stl10.npy``.

    python -m datasets.stl10 [--data_root=DIR] [--source=PATH] [--output=PATH]
    python -m datasets.stl10 --source_kind=tfds [--tfds_data_dir=DIR]

``unlabeled_X.bin`` is read straight out of ``stl10_binary.tar.gz`` (no extraction): 3x96x96
uint8 images stored column-major, hence the (0, 3, 2, 1) transpose to H, W, C.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterator

import numpy as np
from absl import flags

from datasets import common
from datasets.common import DataError

URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
ARCHIVE = "stl10_binary.tar.gz"
MEMBER = "stl10_binary/unlabeled_X.bin"
FOLDER = "STL10"
NUM_IMAGES = 100000
SOURCE_SIZE = 96
SIZE = 48
IMAGE_BYTES = 3 * SOURCE_SIZE * SOURCE_SIZE


def default_output(data_root: str) -> str:
    """Where the training code reads stl10.npy."""
    return os.path.join(data_root, FOLDER, "stl10.npy")


def output_shape(num_images: int = NUM_IMAGES) -> tuple[int, int, int, int]:
    """Shape of stl10.npy."""
    return (num_images, SIZE, SIZE, 3)


def to_hwc(raw: np.ndarray) -> np.ndarray:
    """STL10's column-major 3x96x96 records (flat uint8) -> [N, 96, 96, 3]."""
    return raw.reshape(-1, 3, SOURCE_SIZE, SOURCE_SIZE).transpose(0, 3, 2, 1)


def read_unlabeled(
    path: str, num_images: int = NUM_IMAGES, chunk: int = 500
) -> Iterator[np.ndarray]:
    """Find unlabeled_X.bin in stl10_binary.tar.gz and check its size (a DataError if wrong),
    then return an iterator of its images in [n, 96, 96, 3] uint8 chunks."""
    errors = (tarfile.TarError, EOFError, OSError, zlib.error)
    try:
        tar = tarfile.open(path, "r:gz")
        member = next((m for m in tar if m.name == MEMBER), None)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except errors as e:
        raise DataError(f"{path}: truncated or not a .tar.gz archive ({e})") from None
    expected = num_images * IMAGE_BYTES
    if member is None or member.size != expected:
        tar.close()
        if member is None:
            raise DataError(f"{path} lacks {MEMBER}: expected the binary STL10 ({URL})")
        raise DataError(
            f"{path}: {MEMBER} is {member.size} bytes, expected {expected} "
            f"({num_images} images of 3x96x96 uint8)"
        )

    def chunks() -> Iterator[np.ndarray]:
        with tar:
            try:
                f = tar.extractfile(member)
                for start in range(0, num_images, chunk):
                    n = min(chunk, num_images - start)
                    data = f.read(n * IMAGE_BYTES)
                    if len(data) != n * IMAGE_BYTES:
                        raise DataError(f"{path}: {MEMBER} ends early: truncated archive")
                    yield to_hwc(np.frombuffer(data, np.uint8))
            except errors as e:
                raise DataError(f"{path}: truncated or not a .tar.gz archive ({e})") from None

    return chunks()


def prepare_from_archive(
    source: str, output: str, num_images: int = NUM_IMAGES, overwrite: bool = False
) -> None:
    """Write stl10.npy from the downloaded stl10_binary.tar.gz."""
    shape = output_shape(num_images)
    if common.output_done(output, shape, overwrite):
        return
    common.require_archive(source, URL, "Or use --source_kind=tfds on a machine with internet.")
    batches = (
        common.resize_bilinear(chunk, SIZE, SIZE) for chunk in read_unlabeled(source, num_images)
    )
    common.write_npy_stream(output, batches, shape, f"{source}: {MEMBER}")


def prepare_from_tfds(
    output: str,
    data_dir: str | None = None,
    num_images: int = NUM_IMAGES,
    overwrite: bool = False,
    manual: str = "",
) -> None:
    """Write stl10.npy from tensorflow-datasets' stl10 'unlabelled' split (same images)."""
    import tensorflow_datasets as tfds

    shape = output_shape(num_images)
    if common.output_done(output, shape, overwrite):
        return
    builder = common.tfds_builder("stl10", data_dir, URL, manual)
    images = builder.as_dataset(split="unlabelled").map(lambda ex: ex["image"]).batch(500)
    batches = (common.resize_bilinear(chunk, SIZE, SIZE) for chunk in tfds.as_numpy(images))
    common.write_npy_stream(output, batches, shape, "tensorflow-datasets stl10 'unlabelled'")


def main(argv: list[str]) -> None:
    """Command-line entry point."""
    del argv
    args = flags.FLAGS
    output = args.output or default_output(args.data_root)
    source = args.source or common.default_source(args.data_root, ARCHIVE)
    if args.source_kind == "tfds":
        manual = (
            f"Without internet access: download {URL}, put it at {source} and run "
            "`python -m datasets.stl10`."
        )
        prepare_from_tfds(output, args.tfds_data_dir, overwrite=args.overwrite, manual=manual)
    else:
        prepare_from_archive(source, output, overwrite=args.overwrite)


if __name__ == "__main__":
    common.define_flags(ARCHIVE, tfds=True)
    common.run(main)
