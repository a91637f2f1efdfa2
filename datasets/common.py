"""Helpers shared by the dataset scripts.

Image decoding, cropping and resizing reproduce what the original preprocessing got from OpenCV
(``cv2.imdecode(..., IMREAD_COLOR)`` then BGR->RGB, integer centre-crop offsets, and
``cv2.resize`` with its default INTER_LINEAR), without depending on OpenCV. Outputs are written
atomically (``gan.run_folder.atomic_path``: a temporary file in the destination folder,
fsync, ``os.replace``).
"""

from __future__ import annotations

import concurrent.futures
import io
import multiprocessing
import os
import socket
import sys
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, NoReturn

import numpy as np
from absl import app, flags, logging
from PIL import Image, ImageOps
from tqdm import tqdm

from gan.config import DEFAULT_DATA_ROOT
from gan.dataset_files import DataError, read_npy_header
from gan.run_folder import EXIT_BAD_INPUT, atomic_path

# DataError is gan.dataset_files's: the project has one error for bad or missing data.


# ---------------------------------------------------------------------------------------------
# Command line


def define_flags(archive: str, *, tfds: bool = False, workers: bool = False) -> None:
    """Define the flags every dataset script shares (call only when running as a script)."""
    flags.DEFINE_string(
        "data_root", DEFAULT_DATA_ROOT, "Folder holding CIFAR10/, STL10/, CelebA/ and ImageNet/."
    )
    flags.DEFINE_string(
        "source", None, f"The downloaded {archive} (default: <data_root>/downloads/{archive})."
    )
    flags.DEFINE_string(
        "output", None, "Where to write (default: where the training code reads, under data_root)."
    )
    flags.DEFINE_bool("overwrite", False, "Rebuild even if a valid output is already there.")
    if tfds:
        flags.DEFINE_enum(
            "source_kind",
            "archive",
            ["archive", "tfds"],
            "Read the downloaded archive, or let tensorflow-datasets download it.",
        )
        flags.DEFINE_string(
            "tfds_data_dir", None, "tensorflow-datasets data_dir (default: ~/tensorflow_datasets)."
        )
    if workers:
        flags.DEFINE_integer(
            "num_workers",
            os.cpu_count() or 1,
            "Worker processes decoding and resizing images.",
            lower_bound=1,
        )


def default_source(data_root: str, archive: str) -> str:
    """Where a script looks for a downloaded archive when --source is not given."""
    return os.path.join(data_root, "downloads", archive)


def require_archive(path: str, url: str, alternative: str = "") -> None:
    """Raise a DataError saying what to download and where to put it, unless path is a file."""
    if os.path.isfile(path):
        return
    message = (
        f"{path} not found. Download {url} and put it there, or pass --source=PATH to where it is."
    )
    raise DataError(message + (f" {alternative}" if alternative else ""))


def _user_error(message: object) -> NoReturn:
    """End the script as every user error of the project ends: one ``error:`` line, exit 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:  # an unknown flag, a bad value
        _user_error(e)


def run(main: Callable[[list[str]], None]) -> None:
    """Run an absl main; a flag error, an unexpected argument, a DataError or an OSError ends it
    with one ``error: ...`` line and exit status 2, as every user error of the project."""

    def wrapped(argv: list[str]) -> None:
        if len(argv) > 1:
            _user_error(f"unexpected arguments: {' '.join(argv[1:])} (the scripts take flags only)")
        try:
            main(argv)
        except (DataError, OSError) as e:  # OSError: e.g. a full disk, no permission
            _user_error(e)
        except KeyboardInterrupt:
            print(
                "error: interrupted; outputs written so far are complete, re-run to go on",
                file=sys.stderr,
            )
            sys.exit(130)

    app.run(wrapped, flags_parser=_parse_flags)


# ---------------------------------------------------------------------------------------------
# Decoding, cropping, resizing


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode an encoded image to H x W x 3 uint8 RGB, as OpenCV's imdecode(IMREAD_COLOR) does.

    Pillow and OpenCV wrap the same libjpeg-turbo decoder, so JPEG pixels agree; like OpenCV,
    the EXIF orientation is applied, grey images are replicated to 3 channels, alpha is dropped,
    and CMYK JPEGs use OpenCV's CMYK->RGB formula.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode == "CMYK":
                return _cmyk_to_rgb(np.asarray(image), inverted="adobe" in image.info)
            return np.asarray(image.convert("RGB"))
    except Exception as e:  # Pillow raises many exception types on corrupt data
        raise DataError(f"{name}: not a readable image ({type(e).__name__}: {e})") from None


def _cmyk_to_rgb(cmyk: np.ndarray, inverted: bool) -> np.ndarray:
    # OpenCV converts the values as stored in the file; Pillow un-inverts Adobe CMYK on load.
    raw = cmyk.astype(np.int32)
    if inverted:
        raw = 255 - raw
    k = raw[..., 3:]
    return (k - (((255 - raw[..., :3]) * k) >> 8)).astype(np.uint8)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The height x width window at offsets ((H - height) // 2, (W - width) // 2)."""
    h, w = image.shape[:2]
    if h < height or w < width:
        raise ValueError(f"image of {h}x{w} is smaller than the {height}x{width} crop")
    top, left = (h - height) // 2, (w - width) // 2
    return image[top : top + height, left : left + width]


def center_square_crop(image: np.ndarray) -> np.ndarray:
    """The largest centred square (for odd margins the extra pixel is cut at the bottom/right)."""
    side = min(image.shape[:2])
    return center_crop(image, side, side)


_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS


def _linear_taps(src: int, dst: int, clamp: bool) -> tuple[np.ndarray, ...]:
    """Source indices and 11-bit weights of OpenCV's INTER_LINEAR along one axis."""
    scale = 1.0 / (dst / src)
    pos = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0.astype(np.float32)
    if clamp:  # OpenCV clamps the weights at the borders along x only
        low, high = i0 < 0, i0 >= src - 1
        frac[low | high] = 0
        i0[low], i0[high] = 0, src - 1
    one = np.float32(1 << _COEF_BITS)
    w0 = np.rint((np.float32(1) - frac) * one).astype(np.int32)
    w1 = np.rint(frac * one).astype(np.int32)
    return np.clip(i0, 0, src - 1), np.clip(i0 + 1, 0, src - 1), w0, w1


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 images [..., H, W, C] exactly as ``cv2.resize(image, (width, height))``.

    That is bilinear interpolation with half-pixel centres (src = (dst + 0.5) * scale - 0.5,
    clamped at the borders) and no antialiasing, computed in OpenCV's fixed point (11-bit
    weights, its SIMD rounding); an exact 2x reduction is OpenCV's 2x2 average, (sum + 2) >> 2.
    Bit-exact with opencv-python 4.10 and 5.0 on random sizes; within 1 level of the float
    formula.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim < 3:
        raise ValueError(f"expected uint8 images [..., H, W, C], got {images.dtype} {images.shape}")
    src_h, src_w = images.shape[-3], images.shape[-2]
    if (src_h, src_w) == (height, width):
        return images.copy()
    if (src_h, src_w) == (2 * height, 2 * width):
        pixels = images.astype(np.uint16)
        total = (
            pixels[..., 0::2, 0::2, :]
            + pixels[..., 0::2, 1::2, :]
            + pixels[..., 1::2, 0::2, :]
            + pixels[..., 1::2, 1::2, :]
        )
        return ((total + 2) >> 2).astype(np.uint8)
    pixels = images.astype(np.int32)
    x0, x1, a0, a1 = _linear_taps(src_w, width, clamp=True)
    y0, y1, b0, b1 = _linear_taps(src_h, height, clamp=False)

    def horizontal(rows: np.ndarray) -> np.ndarray:
        return (
            np.take(rows, x0, axis=-2) * a0[:, None] + np.take(rows, x1, axis=-2) * a1[:, None]
        ) >> 4

    top = horizontal(np.take(pixels, y0, axis=-3))
    bottom = horizontal(np.take(pixels, y1, axis=-3))
    mixed = ((b0[:, None, None] * top) >> 16) + ((b1[:, None, None] * bottom) >> 16)
    return np.clip((mixed + 2) >> 2, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Output files


def save_npy(path: str, array: np.ndarray, sync_folder: bool = True) -> None:
    """np.save through ``gan.run_folder.atomic_path`` (synced to disk)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, sync=True, sync_folder=sync_folder) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def validate_npy(path: str, shape: tuple[int, ...], dtype: Any = np.uint8) -> None:
    """Raise a DataError unless path is a complete .npy file holding an array of shape/dtype."""
    dtype = np.dtype(dtype)
    try:
        found_shape, found_dtype, offset = read_npy_header(path)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path} is not a readable .npy file ({e})") from None
    if tuple(found_shape) != tuple(shape) or found_dtype != dtype:
        raise DataError(
            f"{path} holds a {found_dtype} array of shape {tuple(found_shape)}, "
            f"expected {dtype} {tuple(shape)}"
        )
    expected_size = offset + int(np.prod(shape)) * dtype.itemsize
    size = os.path.getsize(path)
    if size != expected_size:
        raise DataError(f"{path} is {size} bytes, expected {expected_size}: truncated or corrupt")


def output_done(path: str, shape: tuple[int, ...], overwrite: bool = False) -> bool:
    """True (and say so) if path already holds a valid uint8 array of this shape."""
    if overwrite or not os.path.exists(path):
        return False
    try:
        validate_npy(path, shape)
    except DataError as e:
        logging.warning("%s; building it again", e)
        return False
    logging.info(
        "%s is already there (uint8 %s); nothing to do (--overwrite rebuilds it)", path, shape
    )
    return True


def write_npy_stream(
    path: str, batches: Iterable[np.ndarray], shape: tuple[int, ...], source: str
) -> None:
    """Write uint8 batches of images shape[1:] into a new .npy of this shape, atomically.

    Raises a DataError naming source unless the batches hold exactly shape[0] images.
    """
    total = shape[0]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, sync=True) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        count = 0
        with tqdm(total=total, desc=os.path.basename(path), unit="img", mininterval=1) as bar:
            for batch in batches:
                if batch.shape[1:] != shape[1:] or batch.dtype != np.uint8:
                    raise DataError(
                        f"{source}: got images {batch.dtype} {batch.shape[1:]}, "
                        f"expected uint8 {shape[1:]}"
                    )
                if count + len(batch) > total:
                    raise DataError(f"{source} holds more than the expected {total} images")
                out[count : count + len(batch)] = batch
                count += len(batch)
                bar.update(len(batch))
        if count != total:
            raise DataError(f"{source} holds {count} images, expected {total}")
        out.flush()
        del out
    validate_npy(path, shape)
    logging.info("wrote %s (uint8 %s)", path, shape)


def stack_batches(images: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Group equally shaped images into stacked batches of up to size."""
    iterator = iter(images)
    while batch := list(islice(iterator, size)):
        yield np.stack(batch)


# ---------------------------------------------------------------------------------------------
# Parallel processing


def _apply(fn: Callable[[Any], Any], chunk: list[Any]) -> list[Any]:
    return [fn(item) for item in chunk]


def ordered_map(
    fn: Callable[[Any], Any], items: Iterable[Any], num_workers: int, chunk_size: int = 32
) -> Iterator[Any]:
    """Yield fn(item) for every item, in order, computed by num_workers processes.

    At most 2 * num_workers chunks are in flight, so items (e.g. image bytes read from a big
    archive) are read only as fast as they are processed. fn must be picklable; workers are
    spawned (not forked), which is safe even when TensorFlow runs in this process. With one
    worker everything runs here.
    """
    if num_workers <= 1:
        yield from map(fn, items)
        return
    iterator = iter(items)
    pool = concurrent.futures.ProcessPoolExecutor(
        num_workers, mp_context=multiprocessing.get_context("spawn")
    )
    try:
        pending: deque[concurrent.futures.Future] = deque()
        while chunk := list(islice(iterator, chunk_size)):
            pending.append(pool.submit(_apply, fn, chunk))
            if len(pending) >= 2 * num_workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# tensorflow-datasets


def host_reachable(url: str, timeout: float = 10.0) -> bool:
    """Whether a TCP connection to url's host can be opened (a quick offline check)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def tfds_builder(name: str, data_dir: str | None, download_url: str, manual: str) -> Any:
    """A prepared tensorflow-datasets builder, downloading from download_url if needed.

    An unreachable host (checked first: tfds itself retries for minutes) or a failed download
    or preparation raises a DataError that ends with manual: how to get the archive by hand.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared() and not host_reachable(download_url):
        host = urllib.parse.urlsplit(download_url).hostname
        raise DataError(
            f"tensorflow-datasets has no prepared '{name}' and its download host "
            f"{host} cannot be reached from this machine. {manual}"
        )
    try:
        builder.download_and_prepare()
    except Exception as e:  # network and preparation failures come in many types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(
            f"tensorflow-datasets could not download and prepare '{name}' "
            f"({type(e).__name__}: {reason[:300]}). {manual}"
        ) from None
    return builder
