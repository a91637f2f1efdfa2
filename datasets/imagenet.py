"""ImageNet (ILSVRC2012 train): one 128x128x3 uint8 .npy per image, one folder per class.

    python -m datasets.imagenet [--data_root=DIR] [--source=PATH] [--output=DIR] [--num_workers=N]

``ILSVRC2012_img_train.tar`` holds one tar per class (``n01440764.tar``, ...) of JPEGs
(``n01440764_10026.JPEG``); the result is ``<data_root>/ImageNet/n01440764/n01440764_10026.npy``:
the centred square crop (an odd margin loses its extra pixel at the bottom/right), resized to
128x128 as ``cv2.resize`` does, RGB. Images are decoded and resized by a pool of worker processes.
Each file is written atomically, so a re-run skips the images already written; an image that
cannot be decoded is logged and skipped, and counted in the closing summary.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from absl import flags, logging
from tqdm import tqdm

from datasets import common
from datasets.common import DataError

URL = (
    "ILSVRC2012_img_train.tar ('Training images (Task 1 & 2)', 138 GB) from "
    "https://image-net.org/download-images (free registration)"
)
ARCHIVE = "ILSVRC2012_img_train.tar"
FOLDER = "ImageNet"
SIZE = 128
NUM_CLASSES = 1000
NUM_IMAGES = 1281167


def default_output(data_root: str) -> str:
    """The folder of class folders the training code streams from."""
    return os.path.join(data_root, FOLDER)


def process_image(data: bytes, name: str, size: int = SIZE) -> np.ndarray:
    """One encoded image -> size x size x 3 uint8 RGB (centred square crop, then resize)."""
    image = common.center_square_crop(common.decode_image(data, name))
    return common.resize_bilinear(image, size, size)


def _convert(item: tuple[str, bytes, str]) -> tuple[str, str | None]:
    """Worker: process and save one image; return (name, error message or None)."""
    name, data, path = item
    try:
        image = process_image(data, name)
    except DataError as e:
        return name, str(e)
    # Without a folder fsync per file a crash may lose a rename, never leave a partial file;
    # the re-run then redoes that image.
    common.save_npy(path, image, sync_folder=False)
    return name, None


@dataclass
class Summary:
    """What one preprocessing run did."""

    classes: int = 0
    written: int = 0
    existing: int = 0
    failed: list[str] = field(default_factory=list)


def _check_end(path: str, offset: int) -> None:
    """tarfile stops quietly at a cut header: require the zero block that ends a tar there."""
    with open(path, "rb") as f:
        f.seek(offset)
        end = f.read(tarfile.BLOCKSIZE)
    if len(end) < tarfile.BLOCKSIZE or end.count(0) != tarfile.BLOCKSIZE:
        raise DataError(
            f"{path} stops at byte {offset} without the end-of-archive marker: truncated archive"
        )


def _items(
    path: str, output_dir: str, overwrite: bool, summary: Summary, bar: tqdm
) -> Iterator[tuple[str, bytes, str]]:
    """Yield (name, bytes, output path) of every image still to convert, class by class."""
    where = path
    try:
        with tarfile.open(path, "r:") as outer:
            members = [m for m in outer.getmembers() if m.isfile()]
            _check_end(path, outer.offset)
            bar.reset(total=len(members))
            size = os.path.getsize(path)
            for member in members:
                where = f"{path}: {member.name}"
                if not member.name.endswith(".tar"):
                    raise DataError(
                        f"{where}: expected only one tar per class (n01440764.tar, ...)"
                    )
                if member.offset_data + member.size > size:
                    raise DataError(f"{where} ends after the end of the file: truncated archive")
                class_dir = os.path.join(output_dir, os.path.basename(member.name)[:-4])
                images = 0
                with tarfile.open(fileobj=outer.extractfile(member), mode="r:") as inner:
                    for image in inner:
                        if not image.isfile():
                            continue
                        images += 1
                        stem = os.path.splitext(os.path.basename(image.name))[0]
                        out = os.path.join(class_dir, stem + ".npy")
                        if not overwrite and os.path.exists(out):
                            summary.existing += 1
                            continue
                        yield f"{where}: {image.name}", inner.extractfile(image).read(), out
                if images == 0:
                    raise DataError(f"{where} holds no images")
                summary.classes += 1
                bar.update(1)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{where}: truncated or not a tar archive ({e})") from None


def prepare(source: str, output_dir: str, num_workers: int = 1, overwrite: bool = False) -> Summary:
    """Convert the ILSVRC2012 train tar into output_dir/<class>/<image>.npy."""
    common.require_archive(source, URL)
    summary = Summary()
    with tqdm(desc="classes", unit="class", mininterval=1) as bar:
        items = _items(source, output_dir, overwrite, summary, bar)
        for name, error in common.ordered_map(_convert, items, num_workers):
            if error is None:
                summary.written += 1
            else:
                summary.failed.append(name)
                logging.warning("skipped %s", error)
            bar.set_postfix(
                written=summary.written,
                existing=summary.existing,
                skipped=len(summary.failed),
                refresh=False,
            )
    logging.info(
        "%s: %d classes; %d images written, %d already there, %d skipped",
        output_dir,
        summary.classes,
        summary.written,
        summary.existing,
        len(summary.failed),
    )
    total = summary.written + summary.existing + len(summary.failed)
    if (summary.classes, total) != (NUM_CLASSES, NUM_IMAGES):
        logging.warning(
            "%s holds %d classes and %d images; ILSVRC2012 train has %d and %d "
            "(the loader needs allow_subset=True for a subset)",
            source,
            summary.classes,
            total,
            NUM_CLASSES,
            NUM_IMAGES,
        )
    if summary.failed:
        logging.warning(
            "%d images could not be decoded and were skipped (the loader then needs "
            "allow_subset=True): %s",
            len(summary.failed),
            "; ".join(summary.failed[:20]),
        )
    return summary


def main(argv: list[str]) -> None:
    """Command-line entry point."""
    del argv
    args = flags.FLAGS
    output = args.output or default_output(args.data_root)
    source = args.source or common.default_source(args.data_root, ARCHIVE)
    summary = prepare(source, output, args.num_workers, args.overwrite)
    print(
        f"{output}: {summary.classes} classes; {summary.written} images written, "
        f"{summary.existing} already there, {len(summary.failed)} skipped (undecodable)"
    )


if __name__ == "__main__":
    common.define_flags(ARCHIVE, workers=True)
    common.run(main)
