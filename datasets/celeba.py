"""CelebA: the 202,599 aligned images, centre-cropped to 128x128 and resized to 64x64, RGB, as
``<data_root>/CelebA/celeba.npy`` (uint8 [202599, 64, 64, 3], in file order 000001..202599).

    python -m datasets.celeba [--data_root=DIR] [--source=PATH] [--num_workers=N]
    python -m datasets.celeba --source_kind=tfds [--tfds_data_dir=DIR]

The JPEGs are read straight out of ``img_align_celeba.zip``. The crop window of a 218x178 image
starts at row 45, column 25 ((218 - 128) // 2, (178 - 128) // 2). The original decoded with
OpenCV (BGR) and converted to RGB after resizing; here decoding gives RGB directly.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterator

import numpy as np
from absl import flags

from datasets import common
from datasets.common import DataError

URL = (
    "img_align_celeba.zip from the 'Align&Cropped Images' Google Drive folder linked at "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (also https://drive.google.com/uc?"
    "export=download&id=0B7EVK8r0v71pZjFTYXZWM3FlRnM)"
)
ARCHIVE = "img_align_celeba.zip"
TFDS_URL = "https://drive.google.com/"  # where tensorflow-datasets downloads it from
FOLDER = "CelebA"
NUM_IMAGES = 202599
CROP = 128
SIZE = 64


def default_output(data_root: str) -> str:
    """Where the training code reads celeba.npy."""
    return os.path.join(data_root, FOLDER, "celeba.npy")


def output_shape(num_images: int = NUM_IMAGES) -> tuple[int, int, int, int]:
    """Shape of celeba.npy."""
    return (num_images, SIZE, SIZE, 3)


def member_names(num_images: int = NUM_IMAGES) -> list[str]:
    """The zip members read, in order: img_align_celeba/000001.jpg and on."""
    return [f"img_align_celeba/{i:06d}.jpg" for i in range(1, num_images + 1)]


def process_image(data: bytes, name: str) -> np.ndarray:
    """One encoded aligned image -> 64x64x3 uint8 RGB (centre crop 128, OpenCV-style resize)."""
    image = common.decode_image(data, name)
    if image.shape[0] < CROP or image.shape[1] < CROP:
        raise DataError(
            f"{name}: image is {image.shape[0]}x{image.shape[1]}, expected at "
            f"least {CROP}x{CROP} (the aligned images are 218x178)"
        )
    return common.resize_bilinear(common.center_crop(image, CROP, CROP), SIZE, SIZE)


def _process_item(item: tuple[str, bytes]) -> np.ndarray:
    return process_image(item[1], item[0])


def read_zip(path: str, num_images: int = NUM_IMAGES) -> Iterator[tuple[str, bytes]]:
    """Check that the zip holds the images 000001.jpg.. (a DataError if not), then return an
    iterator of their (name, JPEG bytes), in order."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: truncated or not a zip archive ({e})") from None
    names = member_names(num_images)
    present = set(archive.namelist())
    missing = [name for name in names if name not in present]
    if missing:
        archive.close()
        raise DataError(
            f"{path} lacks {len(missing)} of the {num_images} images "
            f"img_align_celeba/000001.jpg..{num_images:06d}.jpg "
            f"(first: {missing[0]})"
        )

    def items() -> Iterator[tuple[str, bytes]]:
        with archive:
            for name in names:
                try:
                    data = archive.read(name)
                except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
                    raise DataError(f"{path}: {name} cannot be read ({e})") from None
                yield f"{path}: {name}", data

    return items()


def _write(
    output: str, items: Iterator[tuple[str, bytes]], num_images: int, num_workers: int, source: str
) -> None:
    images = common.ordered_map(_process_item, items, num_workers)
    common.write_npy_stream(
        output, common.stack_batches(images, 256), output_shape(num_images), source
    )


def prepare_from_archive(
    source: str,
    output: str,
    num_images: int = NUM_IMAGES,
    num_workers: int = 1,
    overwrite: bool = False,
) -> None:
    """Write celeba.npy from the downloaded img_align_celeba.zip."""
    if common.output_done(output, output_shape(num_images), overwrite):
        return
    common.require_archive(source, URL, "Or use --source_kind=tfds on a machine with internet.")
    _write(output, read_zip(source, num_images), num_images, num_workers, source)


def prepare_from_tfds(
    output: str,
    data_dir: str | None = None,
    num_images: int = NUM_IMAGES,
    num_workers: int = 1,
    overwrite: bool = False,
    manual: str = "",
) -> None:
    """Write celeba.npy from tensorflow-datasets' celeb_a (all three splits; same JPEG bytes,
    decoded and processed as the archive's, so the same images in tfds' order)."""
    import tensorflow_datasets as tfds

    if common.output_done(output, output_shape(num_images), overwrite):
        return
    builder = common.tfds_builder("celeb_a", data_dir, TFDS_URL, manual)
    encoded = builder.as_dataset(
        split="train+validation+test", decoders={"image": tfds.decode.SkipDecoding()}
    )
    encoded = encoded.map(lambda example: example["image"])
    items = (
        (f"tensorflow-datasets celeb_a image {i}", data)
        for i, data in enumerate(tfds.as_numpy(encoded))
    )
    _write(output, items, num_images, num_workers, "tensorflow-datasets celeb_a")


def main(argv: list[str]) -> None:
    """Command-line entry point."""
    del argv
    args = flags.FLAGS
    output = args.output or default_output(args.data_root)
    source = args.source or common.default_source(args.data_root, ARCHIVE)
    if args.source_kind == "tfds":
        manual = (
            f"Without internet access (or when Google Drive refuses): download {URL}, "
            f"put it at {source} and run `python -m datasets.celeba`."
        )
        prepare_from_tfds(
            output,
            args.tfds_data_dir,
            num_workers=args.num_workers,
            overwrite=args.overwrite,
            manual=manual,
        )
    else:
        prepare_from_archive(source, output, num_workers=args.num_workers, overwrite=args.overwrite)


if __name__ == "__main__":
    common.define_flags(ARCHIVE, tfds=True, workers=True)
    common.run(main)
