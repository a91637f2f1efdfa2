"""CIFAR10: check the python tarball and put it where the training code reads it.

    python -m datasets.cifar10 [--data_root=DIR] [--source=PATH] [--output=PATH]
    python -m datasets.cifar10 --source_kind=tfds [--tfds_data_dir=DIR]

The training code reads the untouched ``<data_root>/CIFAR10/cifar-10-python.tar.gz`` (its 5
``data_batch_*`` pickles: 50,000 images). With a valid tarball already there, this only says
so. The tfds route writes a tarball of the same format holding the same images (in
tensorflow-datasets' order).
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import zlib
from typing import Any

import numpy as np
from absl import flags, logging

from datasets import common
from datasets.common import DataError
from gan import safe_pickle
from gan.run_folder import atomic_path

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "CIFAR10"
BATCH_FOLDER = "cifar-10-batches-py"
NUM_BATCHES = 5
IMAGES_PER_BATCH = 10000
LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def default_output(data_root: str) -> str:
    """Where the training code reads the tarball."""
    return os.path.join(data_root, FOLDER, ARCHIVE)


def _check_batch(batch: Any, where: str, images: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: expected a dict with b'data' and b'labels'")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (images, 3072):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise DataError(f"{where}: b'data' is {found}, expected uint8 ({images}, 3072)")
    if labels.shape != (images,) or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{where}: expected {images} labels in 0..9")
    return data, labels


def read_train(
    path: str, images_per_batch: int = IMAGES_PER_BATCH
) -> tuple[np.ndarray, np.ndarray]:
    """Check a python CIFAR10 tarball; return its training images (uint8 [N, 32, 32, 3], RGB)
    and labels, data_batch_1 to data_batch_5 in order."""
    wanted = {f"{BATCH_FOLDER}/data_batch_{i}": i for i in range(1, NUM_BATCHES + 1)}
    batches: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name not in wanted:
                    continue
                where = f"{path}: {member.name}"
                data = tar.extractfile(member).read()
                try:
                    batch = safe_pickle.load(data)
                except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
                    raise DataError(f"{where} is not a readable batch pickle ({e})") from None
                batches[wanted[member.name]] = _check_batch(batch, where, images_per_batch)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: truncated or not a .tar.gz archive ({e})") from None
    missing = sorted(name for name, i in wanted.items() if i not in batches)
    if missing:
        raise DataError(
            f"{path} lacks {', '.join(missing)}: expected the python version of CIFAR10 ({URL})"
        )
    data = np.concatenate([batches[i][0] for i in sorted(batches)])
    labels = np.concatenate([batches[i][1] for i in sorted(batches)])
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _already_there(output: str, overwrite: bool, images_per_batch: int) -> bool:
    if overwrite or not os.path.exists(output):
        return False
    try:
        read_train(output, images_per_batch)
    except DataError as e:
        logging.warning("%s; replacing it", e)
        return False
    logging.info("%s is already there and valid; nothing to do", output)
    return True


def prepare_from_archive(
    source: str, output: str, overwrite: bool = False, images_per_batch: int = IMAGES_PER_BATCH
) -> None:
    """Check the downloaded tarball and copy it (atomically) to output."""
    if _already_there(output, overwrite, images_per_batch):
        return
    common.require_archive(
        source,
        URL,
        f"It may also go straight to {output}. Or use "
        "--source_kind=tfds on a machine with internet.",
    )
    read_train(source, images_per_batch)
    if os.path.exists(output) and os.path.samefile(source, output):
        return
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic_path(output, sync=True) as tmp:
        shutil.copyfile(source, tmp)
    logging.info("checked %s and copied it to %s", source, output)


def _batch_pickle(data: np.ndarray, labels: np.ndarray, label: str) -> bytes:
    batch = {
        b"batch_label": label.encode(),
        b"labels": [int(x) for x in labels],
        b"data": data.transpose(0, 3, 1, 2).reshape(len(data), 3072),
        b"filenames": [f"tfds_{i:05d}.png".encode() for i in range(len(data))],
    }
    return pickle.dumps(batch, protocol=4)


def _tfds_split(builder: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    images, labels = [], []
    for example in tfds.as_numpy(builder.as_dataset(split=split).batch(2000)):
        images.append(example["image"])
        labels.append(example["label"])
    return np.concatenate(images), np.concatenate(labels)


def prepare_from_tfds(
    output: str,
    data_dir: str | None = None,
    overwrite: bool = False,
    images_per_batch: int = IMAGES_PER_BATCH,
    manual: str = "",
) -> None:
    """Write output as a python CIFAR10 tarball built from tensorflow-datasets' cifar10."""
    if _already_there(output, overwrite, images_per_batch):
        return
    builder = common.tfds_builder("cifar10", data_dir, URL, manual)
    train_images, train_labels = _tfds_split(builder, "train")
    test_images, test_labels = _tfds_split(builder, "test")
    if len(train_images) != NUM_BATCHES * images_per_batch:
        raise DataError(
            f"tensorflow-datasets cifar10 'train' holds {len(train_images)} "
            f"images, expected {NUM_BATCHES * images_per_batch}"
        )
    members = [
        (
            f"data_batch_{i + 1}",
            _batch_pickle(
                train_images[i * images_per_batch : (i + 1) * images_per_batch],
                train_labels[i * images_per_batch : (i + 1) * images_per_batch],
                f"training batch {i + 1} of {NUM_BATCHES} (from tensorflow-datasets)",
            ),
        )
        for i in range(NUM_BATCHES)
    ]
    members.append(
        (
            "test_batch",
            _batch_pickle(
                test_images, test_labels, "testing batch 1 of 1 (from tensorflow-datasets)"
            ),
        )
    )
    meta = {
        b"label_names": [n.encode() for n in LABEL_NAMES],
        b"num_cases_per_batch": images_per_batch,
        b"num_vis": 3072,
    }
    members.append(("batches.meta", pickle.dumps(meta, protocol=4)))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with atomic_path(output, sync=True) as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for name, payload in members:
                info = tarfile.TarInfo(f"{BATCH_FOLDER}/{name}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    read_train(output, images_per_batch)
    logging.info("wrote %s from tensorflow-datasets' cifar10", output)


def main(argv: list[str]) -> None:
    """Command-line entry point."""
    del argv
    args = flags.FLAGS
    output = args.output or default_output(args.data_root)
    source = args.source or common.default_source(args.data_root, ARCHIVE)
    if args.source_kind == "tfds":
        manual = (
            f"Without internet access: download {URL}, put it at {source} (or at {output}) "
            "and run `python -m datasets.cifar10`."
        )
        prepare_from_tfds(output, args.tfds_data_dir, args.overwrite, manual=manual)
    else:
        prepare_from_archive(source, output, args.overwrite)


if __name__ == "__main__":
    common.define_flags(ARCHIVE, tfds=True)
    common.run(main)
