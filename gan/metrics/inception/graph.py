"""The frozen Inception graph: where it comes from, its surgery, its parked weights, its runs.

``find_inception_graph`` resolves the graph (config key, ``$BSN_INCEPTION_GRAPH``, the cache,
else one download); ``split_weights`` cuts the part from ``Mul`` to ``logits``/``pool_3`` and
turns its large constants into placeholders; ``park_weights``/``spill_path`` keep those
weights in an ``.npz`` in the run folder between evaluations; :class:`InceptionGraph` runs
images through the TF1 resize and the graph, batch by batch.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from absl import logging

from gan.atomic import INCEPTION_WEIGHTS_PREFIX, atomic_path, write_atomic
from gan.errors import UserError
from gan.metrics.inception.statistics import cache_dir, check_range

INCEPTION_URL = "http://download.tensorflow.org/models/frozen_inception_v1_2015_12_05.tar.gz"
INCEPTION_PB = "inceptionv1_for_inception_score.pb"
INCEPTION_INPUT = "Mul:0"
INCEPTION_LOGITS = "logits:0"
INCEPTION_POOL = "pool_3:0"
INCEPTION_SIZE = 299
IS_NUM_CLASSES = 1000
INCEPTION_CPU_BATCH = 16
DOWNLOAD_TIMEOUT_S = 60


class InceptionUnavailable(UserError, RuntimeError):
    """The Inception graph is neither configured, cached nor downloadable (or is not valid)."""


def _where_to_put_it(cache_path: str) -> str:
    return (
        f"get {INCEPTION_PB} (inside {INCEPTION_URL}) on a machine with internet access "
        f"(`python -m gan.metrics.inception` caches it) and put it at {cache_path}, or "
        "point the run config's inception_graph or the environment variable "
        "BSN_INCEPTION_GRAPH at it"
    )


def load_inception_graph_def(path: str) -> tf.compat.v1.GraphDef:
    """Parse a frozen GraphDef and check it holds ``Mul``, ``logits`` and ``pool_3``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InceptionUnavailable(f"cannot read the Inception graph {path}: {e}") from e
    return _parse_graph_def(data, path)


def _parse_graph_def(data: bytes, where: str) -> tf.compat.v1.GraphDef:
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as e:  # protobuf raises its own DecodeError
        raise InceptionUnavailable(f"{where} is not a frozen TF GraphDef: {e}") from e
    names = {node.name for node in graph_def.node}
    missing = [
        t
        for t in (INCEPTION_INPUT, INCEPTION_LOGITS, INCEPTION_POOL)
        if t.split(":")[0] not in names
    ]
    if missing:
        raise InceptionUnavailable(
            f"{where} is not the Inception graph: no tensor {', '.join(missing)}"
        )
    return graph_def


def download_inception_graph(dest: str, url: str | None = None) -> str:
    """Download the tarball, extract ``INCEPTION_PB``, check it and write it to ``dest``."""
    url = url or os.environ.get("BSN_INCEPTION_URL") or INCEPTION_URL
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    logging.info("downloading the Inception graph from %s", url)
    with tempfile.TemporaryFile() as tmp:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, tmp)
            tmp.seek(0)
            with tarfile.open(fileobj=tmp, mode="r:*") as tar:
                member = tar.extractfile(INCEPTION_PB)
                if member is None:
                    raise KeyError(INCEPTION_PB)
                data = member.read()
        except (OSError, tarfile.TarError, KeyError, ValueError) as e:
            raise InceptionUnavailable(
                f"could not download the Inception graph from {url} ({type(e).__name__}: {e}); "
                + _where_to_put_it(dest)
            ) from e
    _parse_graph_def(data, f"{INCEPTION_PB} from {url}")
    write_atomic(dest, data)  # the file gets the umask's mode: a shared cache stays readable
    logging.info("cached the Inception graph at %s", dest)
    return dest


def find_inception_graph(configured: str | None = None, download: bool = True) -> str:
    """Path of the Inception graph: config key, env var, cache, else download into the cache.

    A path given by the config or ``$BSN_INCEPTION_GRAPH`` must exist (no fallback). Raises
    ``InceptionUnavailable`` naming the file and where to put it when nothing works (or when
    the graph is not cached and ``download`` is False).
    """
    for path, origin in (
        (configured, "inception_graph"),
        (os.environ.get("BSN_INCEPTION_GRAPH"), "BSN_INCEPTION_GRAPH"),
    ):
        if path:
            path = os.path.expanduser(path)
            if not os.path.isfile(path):
                raise InceptionUnavailable(
                    f"{origin} = {path!r}: no such file; " + _where_to_put_it(path)
                )
            return path
    cached = os.path.join(cache_dir(), INCEPTION_PB)
    if os.path.isfile(cached):
        return cached
    if not download:
        raise InceptionUnavailable(f"{cached} is not cached; " + _where_to_put_it(cached))
    return download_inception_graph(cached)


def resize_tf1(images: tf.Tensor, size: int = INCEPTION_SIZE) -> tf.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False, half_pixel_centers=False) to size x size."""
    return tf.compat.v1.image.resize_bilinear(
        images, [size, size], align_corners=False, half_pixel_centers=False
    )


def to_inception_input(images: np.ndarray) -> np.ndarray:
    """The original's pixel path to the graph's input range, as float32 NHWC.

    Generated float images in [-1, 1] go -> [0, 255] -> /255*2-1 in float32 (a ValueError names
    min and max when outside [-1, 1]); real uint8 images go through the original's float64
    loader (/255*2-1) and then the same round trip.
    """
    if images.dtype == np.uint8:
        x = images.astype(np.float64) / 255.0 * 2.0 - 1.0
    else:
        x = np.asarray(images, dtype=np.float32)
        check_range(x)
    x = (x + 1) / 2 * 255.0
    return (x / 255.0 * 2 - 1).astype(np.float32)


WEIGHT_MIN_ELEMENTS = 1024


def split_weights(
    graph_def: tf.compat.v1.GraphDef, min_elements: int = WEIGHT_MIN_ELEMENTS
) -> tuple[tf.compat.v1.GraphDef, dict[str, np.ndarray]]:
    """The part of the graph that computes ``logits`` and ``pool_3`` from ``Mul``, with its
    large constants turned into placeholders, and those constants as arrays by node name.

    ``Mul`` becomes a placeholder (what fed it, the graph's own JPEG decoding, is dropped);
    a floating-point ``Const`` of at least ``min_elements`` values (the weights) becomes a
    ``Placeholder`` of its dtype and shape, its value moved out. Small constants (shapes,
    axes, scalars) stay, so shapes are still known when the graph is built. ``graph_def`` is
    edited in place (each weight is copied out and its constant node cleared).
    """
    weights: dict[str, np.ndarray] = {}
    input_name = INCEPTION_INPUT.split(":")[0]
    for node in graph_def.node:
        if node.name == input_name:
            _make_placeholder(node, tf.float32, None)
            continue
        if node.op != "Const":
            continue
        proto = node.attr["value"].tensor
        dtype = tf.dtypes.as_dtype(proto.dtype)
        shape = tf.TensorShape([d.size for d in proto.tensor_shape.dim])
        if not dtype.is_floating or shape.num_elements() < min_elements:
            continue
        weights[node.name] = tf.make_ndarray(proto)
        _make_placeholder(node, dtype, shape)
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(
        graph_def, [INCEPTION_LOGITS.split(":")[0], INCEPTION_POOL.split(":")[0]]
    )
    kept = {node.name for node in graph_def.node}
    return graph_def, {name: t for name, t in weights.items() if name in kept}


def _make_placeholder(
    node: tf.compat.v1.NodeDef, dtype: tf.DType, shape: tf.TensorShape | None
) -> None:
    """Turn ``node`` (same name) into a ``Placeholder`` with no inputs."""
    node.op = "Placeholder"
    node.ClearField("input")
    node.ClearField("attr")
    node.attr["dtype"].type = dtype.as_datatype_enum
    if shape is not None:
        node.attr["shape"].shape.CopyFrom(shape.as_proto())


SPILL_PREFIX = INCEPTION_WEIGHTS_PREFIX


def park_weights(weights: Mapping[str, np.ndarray], path: str) -> None:
    """Write ``weights`` (node name -> array) to the ``.npz`` file ``path``, atomically (a
    temporary name, then a rename). ``np.load(path)`` reads them back one array at a time.

    Setup parses the graph anyway (to check it before training). Parked on disk, its weights
    cost no memory while the run trains, and each evaluation reads them back without
    parsing the 96 MB graph again on top of the memory training has reached.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **weights)


def remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists."""
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def spill_path(folder: str) -> str:
    """Where this process parks the Inception weights in ``folder``, after deleting those
    parked there by processes that no longer exist (a killed run). The name carries the
    process id: ``.inception_weights.<pid>.<n>.npz``."""
    for name in os.listdir(folder):
        if not name.startswith(SPILL_PREFIX):
            continue
        try:
            pid = int(name[len(SPILL_PREFIX) :].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            remove_quietly(os.path.join(folder, name))
        except (ValueError, PermissionError):
            pass
    fd, path = tempfile.mkstemp(prefix=f"{SPILL_PREFIX}{os.getpid()}.", suffix=".npz", dir=folder)
    os.close(fd)
    return path


class InceptionGraph:
    """The frozen graph behind a TF1 resize, run batch by batch: images -> (logits, pool_3).

    Memory: the graph's weights (~96 MB of ``Const`` nodes in the real one) are held once, as
    tensors fed to a weight-free copy of the graph (``split_weights``). Imported as they are,
    every copy of the GraphDef that TensorFlow makes (the parsed proto, the imported and the
    pruned function graphs, each graph optimization pass, the kernels' own constants) carried
    them again: about 1.5 GB of resident memory for a 96 MB file. The arithmetic is unchanged.

    ``graph_def`` is the whole frozen graph, or with ``weights`` (node name -> array, e.g. an
    ``np.load``-ed ``.npz``, read one array at a time) one that ``split_weights`` already
    split.
    """

    def __init__(
        self,
        graph_def: tf.compat.v1.GraphDef,
        batch_size: int = 64,
        weights: Mapping[str, np.ndarray] | None = None,
    ):
        self.batch_size = batch_size
        if weights is None:
            graph_def, weights = split_weights(graph_def)
        names = sorted(weights)
        # One weight at a time: read, copied and dropped. DeepCopy puts the copy where ops
        # allocate (under oneDNN a pool that training has grown and released, so reusing it
        # costs no new memory); a tensor made from a NumPy array gets an allocation of its own
        # (~90 MiB more resident memory at the first evaluation for these weights).
        self._weights = [tf.raw_ops.DeepCopy(x=tf.constant(weights[name])) for name in names]
        del weights

        def forward(images: tf.Tensor, *feeds: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            input_map = {INCEPTION_INPUT: resize_tf1(images)}
            input_map.update({f"{name}:0": t for name, t in zip(names, feeds, strict=True)})
            logits, pool = tf.compat.v1.import_graph_def(
                graph_def,
                input_map=input_map,
                return_elements=[INCEPTION_LOGITS, INCEPTION_POOL],
                name="inception",
            )
            return logits, tf.reshape(pool, [tf.shape(pool)[0], -1])

        specs = [tf.TensorSpec([None, None, None, 3], tf.float32)]
        specs += [tf.TensorSpec(w.shape, w.dtype) for w in self._weights]
        wrapped = tf.compat.v1.wrap_function(forward, specs)
        self._fn = wrapped.prune(feeds=wrapped.inputs, fetches=wrapped.outputs)

    @classmethod
    def from_file(cls, path: str, batch_size: int = 64) -> InceptionGraph:
        """Load ``path`` (checked by ``load_inception_graph_def``)."""
        return cls(load_inception_graph_def(path), batch_size)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logits [N, 1008] and flattened pool_3 [N, 2048] of images in [-1, 1] or uint8."""
        if not len(images):
            raise ValueError("no images to run through the Inception graph")
        logits = pools = None
        for start in range(0, len(images), self.batch_size):
            x = to_inception_input(images[start : start + self.batch_size])
            lg, pool = self._fn(tf.constant(x), *self._weights)
            if logits is None:
                logits = np.empty((len(images),) + tuple(lg.shape[1:]), np.float32)
                pools = np.empty((len(images),) + tuple(pool.shape[1:]), np.float32)
            logits[start : start + len(x)] = lg.numpy()
            pools[start : start + len(x)] = pool.numpy()
        return logits, pools
