"""``python main.py sample RUN_DIR``: images from a trained generator, written in pieces.

Latents are ``np.random.default_rng(seed).standard_normal((num, latent_dim))`` as float32, drawn
batch by batch (the same stream as one draw of all of them), so a seed gives the same images at
any batch size. Images are the inference-mode generator's output quantized as an image writer
would (``to_uint8_tf``: ``round((x + 1) * 127.5)`` clipped to [0, 255], the exported
SavedModel's own last op).

Outputs (``write_images``): ``.npz`` (``images`` uint8 NHWC and ``z`` float32, both stored
uncompressed as streamed ``.npy`` members), ``.npy`` (uint8 NHWC) or a folder of numbered PNGs
(``000000.png``, ...). Each is written under a temporary name beside the target, one batch at a
time (memory does not grow with ``num``), and renamed when complete; an existing target is
refused unless ``overwrite``.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from typing import IO

import numpy as np
from PIL import Image
from tqdm import tqdm

from gan.config import ConfigError
from gan.generator_checkpoints import load_generator, select_checkpoints, writable_folder
from gan.run_folder import (
    EVAL_DIR,
    EVAL_SAMPLES_FILE,
    atomic_path,
    read_run_config,
    refuse_output_over_runs,
    require_run_folder,
)

NPZ, NPY, PNG_DIR = "npz", "npy", "png"
DEFAULT_NUM = 50000
DEFAULT_BATCH = 256


def output_kind(path: str) -> str:
    """``npz``, ``npy`` or ``png`` (a folder) for an output path."""
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    if ext == ".npz":
        return NPZ
    if ext == ".npy":
        return NPY
    if ext == "" or path.endswith("/"):
        return PNG_DIR
    raise ConfigError(
        f"--out {path}: expected a .npz or .npy file, or a folder path (no "
        "extension) for numbered PNGs"
    )


def check_output(path: str, overwrite: bool) -> str:
    """The output's kind, after refusing an existing target (unless ``overwrite``) or a
    missing parent folder."""
    kind = output_kind(path)
    target = path.rstrip("/") or path
    if os.path.lexists(target) and not overwrite:
        raise ConfigError(f"{target} already exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise ConfigError(f"--out {path}: the folder {parent} does not exist")
    return kind


def latent_batches(seed: int, num: int, latent_dim: int, batch_size: int) -> Iterator[np.ndarray]:
    """The ``num`` latents of ``seed``, ``batch_size`` rows at a time (float32)."""
    rng = np.random.default_rng(seed)
    for start in range(0, num, batch_size):
        yield rng.standard_normal((min(batch_size, num - start), latent_dim)).astype(np.float32)


def latents(seed: int, num: int, latent_dim: int) -> np.ndarray:
    """All ``num`` latents of ``seed`` at once (for tests and small sets)."""
    return np.random.default_rng(seed).standard_normal((num, latent_dim)).astype(np.float32)


def to_uint8_tf(images):
    """Images in [-1, 1] -> uint8 as ``clip(round((x + 1) * 127.5), 0, 255)`` (TensorFlow;
    the same rounding as ``gan.metrics.swd.to_uint8``)."""
    # TensorFlow: imported here so that the CLI and evaluate importing this module do not.
    import tensorflow as tf

    x = tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(x, 0.0, 255.0), tf.uint8)


def uint8_generate_fn(generator, latent_dim: int):
    """One traced function ``z [None, latent_dim] float32 -> uint8 NHWC images`` of the
    inference-mode generator (what ``sample`` runs and ``export`` saves)."""
    # TensorFlow: imported here so that the CLI and evaluate importing this module do not.
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, latent_dim], tf.float32, name="z")])
    def generate(z):
        return to_uint8_tf(generator(z, training=False))

    return generate


# --------------------------------------------------------------------------------- writers
def _npy_header(f: IO[bytes], shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(int(s) for s in shape),
    }
    np.lib.format.write_array_header_2_0(f, header)


class _StreamWriter:
    """Appends batches to the ``.npy`` stream(s) of one output file."""

    def __init__(self, tmp: str, kind: str, shape: tuple[int, ...]):
        self.kind = kind
        self.shape = shape
        if kind == NPY:
            self.file = open(tmp, "wb")
            self.zip = None
            self.member = self.file
        else:
            self.file = None
            self.zip = zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True)
            self.member = self.zip.open("images.npy", "w", force_zip64=True)
        _npy_header(self.member, shape, np.uint8)

    def add(self, images: np.ndarray) -> None:
        self.member.write(np.ascontiguousarray(images).tobytes())

    def close(self, z_batches: Iterator[np.ndarray] | None, latent_shape: tuple[int, int]) -> None:
        if self.zip is not None:
            self.member.close()
            with self.zip.open("z.npy", "w", force_zip64=True) as f:
                _npy_header(f, latent_shape, np.float32)
                for z in z_batches or ():
                    f.write(z.tobytes())
            self.zip.close()
        else:
            self.file.close()

    def abort(self) -> None:
        for closer in (
            getattr(self.member, "close", None),
            getattr(self.zip, "close", None),
            getattr(self.file, "close", None),
        ):
            try:
                if closer is not None:
                    closer()
            except Exception:  # already failing: the temporary file is removed next
                pass


def write_images(
    path: str,
    batches: Iterator[np.ndarray],
    num: int,
    image_shape: tuple[int, int, int],
    z_batches: Callable[[], Iterator[np.ndarray]] | None = None,
    latent_dim: int = 0,
    progress: bool = True,
) -> str:
    """Write ``num`` uint8 images coming in ``batches`` to ``path`` (kind by its name) through
    a temporary name, renamed when complete; ``z_batches()`` gives the latents again for the
    ``.npz``'s ``z``. Returns the path written. Nothing is left behind on failure."""
    kind = output_kind(path)
    target = path.rstrip("/") or path
    shape = (num,) + tuple(image_shape)
    writer = None
    width = max(6, len(str(num - 1)))
    bar = tqdm(
        total=num,
        unit="img",
        file=sys.stderr,
        disable=not progress,
        smoothing=0.1,
        dynamic_ncols=True,
    )
    try:
        with atomic_path(target) as tmp:
            if kind == PNG_DIR:
                os.makedirs(tmp)
            else:
                writer = _StreamWriter(tmp, kind, shape)
            done = 0
            for images in batches:
                if kind == PNG_DIR:
                    _write_pngs(tmp, images, done, width)
                else:
                    writer.add(images)
                done += len(images)
                bar.update(len(images))
            if done != num:
                raise RuntimeError(f"expected {num} images, got {done}")
            if writer is not None:
                writer.close(z_batches() if z_batches else None, (num, latent_dim))
                writer = None
    except BaseException:
        if writer is not None:  # closed here; atomic_path already removed the file
            writer.abort()
        raise
    finally:
        bar.close()
    return target


def _write_pngs(folder: str, images: np.ndarray, start: int, width: int) -> None:
    for i, image in enumerate(images):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            os.path.join(folder, f"{start + i:0{width}d}.png"), format="PNG"
        )


# ----------------------------------------------------------------------------------- reading
def read_images(path: str) -> np.ndarray:
    """The images of a ``sample`` output (``.npz`` key ``images``, ``.npy``, or a PNG folder),
    memory-mapped where the format allows. Raises ConfigError naming the file."""
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such file or folder")
    try:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.lower().endswith(".png"))
            if not names:
                raise ConfigError(f"{path}: a folder without .png files")
            return np.stack([np.asarray(Image.open(os.path.join(path, n))) for n in names])
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                if "images" not in data:
                    raise ConfigError(
                        f"{path}: no array 'images' (it has {', '.join(data.files) or 'none'})"
                    )
                return data["images"]
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ConfigError(
            f"{path}: cannot read images ({e}); expected a .npz with key "
            "'images', a .npy or a folder of PNGs"
        ) from None


# ------------------------------------------------------------------------------- the command
def sample_run(
    run_dir: str,
    out: str | None = None,
    num: int = DEFAULT_NUM,
    seed: int = 0,
    checkpoint: str = "latest",
    batch_size: int = DEFAULT_BATCH,
    overwrite: bool = False,
    progress: bool = True,
) -> str:
    """Write ``num`` images of the run's generator (restored from ``checkpoint``) from the
    latents of ``seed`` to ``out`` (default ``RUN_DIR/eval/samples.npz``); returns the path
    written. Nothing is created before the inputs are checked and the generator is restored."""
    if num <= 0:
        raise ConfigError(f"--num {num}: expected a positive number of images")
    if batch_size <= 0:
        raise ConfigError(f"--batch_size {batch_size}: expected a positive number")
    run_dir = require_run_folder(run_dir)
    default_out = not out
    if default_out:
        out = os.path.join(run_dir, EVAL_DIR, EVAL_SAMPLES_FILE)
        if os.path.lexists(out) and not overwrite:
            raise ConfigError(f"{out} already exists; pass --overwrite to replace it")
    else:
        refuse_output_over_runs(out, run_dir)
        check_output(out, overwrite)
    config = read_run_config(run_dir)
    ref = select_checkpoints(run_dir, checkpoint, single=True)[0]
    generator = load_generator(config, ref)
    folder = os.path.dirname(os.path.abspath(out.rstrip("/") or out))
    writable_folder(
        folder, "give --out a path elsewhere" if default_out else "choose another --out"
    )
    latent_dim = config.latent_dim
    generate = uint8_generate_fn(generator, latent_dim)
    batches = (generate(z).numpy() for z in latent_batches(seed, num, latent_dim, batch_size))
    path = write_images(
        out,
        batches,
        num,
        config.image_shape,
        z_batches=lambda: latent_batches(seed, num, latent_dim, batch_size),
        latent_dim=latent_dim,
        progress=progress,
    )
    print(f"wrote {num} images of {ref.label} (seed {seed}) to {path}", flush=True)
    return path
