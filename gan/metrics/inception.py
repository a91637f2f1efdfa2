"""Inception Score and FID on the classic frozen TF Inception graph, run under TensorFlow 2.

The graph is ``inceptionv1_for_inception_score.pb`` from
``frozen_inception_v1_2015_12_05.tar.gz`` (input ``Mul:0``, outputs ``logits:0`` [N, 1008] and
``pool_3:0`` [N, 1, 1, 2048]). It is imported into a ``tf.compat.v1.wrap_function`` with the
TF1 bilinear resize in front, as the original's ``tfgan.eval.run_inception`` pipeline did:
images in [-1, 1] -> [0, 255] -> /255*2-1 -> ``resize_bilinear`` to 299x299 (no half-pixel
centers) -> the graph, in batches of ``inception_batch_size`` (auto: 16 images on the CPU,
``metric_batch_size`` on a GPU). The graph's weights are fed to it as tensors rather than
kept as constants (``split_weights``): same arithmetic, a fraction of the memory.

Where the graph comes from (``find_inception_graph``): the run config's ``inception_graph``,
else ``$BSN_INCEPTION_GRAPH``, else ``<cache>/inceptionv1_for_inception_score.pb`` with
``<cache>`` = ``$BSN_CACHE_DIR`` or ``~/.cache/bsn_tf2``, else one download of
``INCEPTION_URL`` (or ``$BSN_INCEPTION_URL``) into that cache. ``python -m
gan.metrics.inception`` fetches it ahead of time. When none works, setting up the callbacks
raises ``InceptionUnavailable`` naming the file and where to put it; with
``on_missing_inception = "skip"`` they log that instead and report NaN (the CSV columns stay).

The callbacks of one run share one ``InceptionRunner``: the graph, the fixed FID real subset and,
per metric step, one pass of generated samples (``max(is_num_samples, fid_num_samples)`` images;
IS scores the first ``is_num_samples`` logits split by split as they arrive, FID accumulates
the moments of the first ``fid_num_samples`` pool_3 features, KID keeps the features). The
original drew separate samples for IS and FID; each metric still sees i.i.d. samples of G, so
its value has the same distribution, at 5/6 of the Inception work. Memory of a pass: one
chunk of generated images, one IS split's logits (5,000 x 1,000 by default), the FID moments
(the features only with KID), never all 50,000 logits; the graph is built for each
evaluation and dropped after it (``release``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.request
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from gan.metrics.base import MetricCallback, MetricContext
from gan.run_folder import chmod_as_created

INCEPTION_URL = "http://download.tensorflow.org/models/frozen_inception_v1_2015_12_05.tar.gz"
INCEPTION_PB = "inceptionv1_for_inception_score.pb"
INCEPTION_INPUT = "Mul:0"
INCEPTION_LOGITS = "logits:0"
INCEPTION_POOL = "pool_3:0"
INCEPTION_SIZE = 299
IS_NUM_CLASSES = 1000
INCEPTION_CPU_BATCH = 16
DOWNLOAD_TIMEOUT_S = 60


class InceptionUnavailable(RuntimeError):
    """The Inception graph is neither configured, cached nor downloadable (or is not valid)."""


def cache_dir() -> str:
    """The folder holding downloaded files: ``$BSN_CACHE_DIR`` or ``~/.cache/bsn_tf2``."""
    return os.environ.get("BSN_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "bsn_tf2")


def _where_to_put_it(cache_path: str) -> str:
    return (f"get {INCEPTION_PB} (inside {INCEPTION_URL}) on a machine with internet access "
            f"(`python -m gan.metrics.inception` caches it) and put it at {cache_path}, or "
            "point the run config's inception_graph or the environment variable "
            "BSN_INCEPTION_GRAPH at it")


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
    missing = [t for t in (INCEPTION_INPUT, INCEPTION_LOGITS, INCEPTION_POOL)
               if t.split(":")[0] not in names]
    if missing:
        raise InceptionUnavailable(f"{where} is not the Inception graph: no tensor "
                                   f"{', '.join(missing)}")
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
                + _where_to_put_it(dest)) from e
    _parse_graph_def(data, f"{INCEPTION_PB} from {url}")
    fd, part = tempfile.mkstemp(dir=folder, prefix=INCEPTION_PB + ".", suffix=".part")
    try:
        chmod_as_created(part)  # a shared cache must be readable by other users' jobs
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, dest)
    finally:
        if os.path.exists(part):
            os.remove(part)
    logging.info("cached the Inception graph at %s", dest)
    return dest


def find_inception_graph(configured: str | None = None, download: bool = True) -> str:
    """Path of the Inception graph: config key, env var, cache, else download into the cache.

    A path given by the config or ``$BSN_INCEPTION_GRAPH`` must exist (no fallback). Raises
    ``InceptionUnavailable`` naming the file and where to put it when nothing works (or when
    the graph is not cached and ``download`` is False).
    """
    for path, origin in ((configured, "inception_graph"),
                         (os.environ.get("BSN_INCEPTION_GRAPH"), "BSN_INCEPTION_GRAPH")):
        if path:
            path = os.path.expanduser(path)
            if not os.path.isfile(path):
                raise InceptionUnavailable(f"{origin} = {path!r}: no such file; "
                                           + _where_to_put_it(path))
            return path
    cached = os.path.join(cache_dir(), INCEPTION_PB)
    if os.path.isfile(cached):
        return cached
    if not download:
        raise InceptionUnavailable(f"{cached} is not cached; " + _where_to_put_it(cached))
    return download_inception_graph(cached)


def resize_tf1(images: tf.Tensor, size: int = INCEPTION_SIZE) -> tf.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False, half_pixel_centers=False) to size x size."""
    return tf.compat.v1.image.resize_bilinear(images, [size, size], align_corners=False,
                                              half_pixel_centers=False)


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


def check_range(images: np.ndarray) -> None:
    """Raise ValueError unless every value is in [-1, 1] (NaN fails too), naming min and max."""
    lo, hi = float(np.min(images)), float(np.max(images))
    if not (lo >= -1.0 and hi <= 1.0):
        raise ValueError(f"generated images must lie in [-1, 1]; got min {lo}, max {hi}")


WEIGHT_MIN_ELEMENTS = 1024


def split_weights(graph_def: tf.compat.v1.GraphDef, min_elements: int = WEIGHT_MIN_ELEMENTS
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
        graph_def, [INCEPTION_LOGITS.split(":")[0], INCEPTION_POOL.split(":")[0]])
    kept = {node.name for node in graph_def.node}
    return graph_def, {name: t for name, t in weights.items() if name in kept}


def _make_placeholder(node: tf.compat.v1.NodeDef, dtype: tf.DType,
                      shape: tf.TensorShape | None) -> None:
    """Turn ``node`` (same name) into a ``Placeholder`` with no inputs."""
    node.op = "Placeholder"
    node.ClearField("input")
    node.ClearField("attr")
    node.attr["dtype"].type = dtype.as_datatype_enum
    if shape is not None:
        node.attr["shape"].shape.CopyFrom(shape.as_proto())


SPILL_PREFIX = ".inception_weights."


def park_weights(weights: Mapping[str, np.ndarray], path: str) -> None:
    """Write ``weights`` (node name -> array) to the ``.npz`` file ``path``, atomically (a
    temporary name, then a rename). ``np.load(path)`` reads them back one array at a time.

    Setup parses the graph anyway (to check it before training). Parked on disk, its weights
    cost no memory while the run trains, and each evaluation reads them back without
    parsing the 96 MB graph again on top of the memory training has reached.
    """
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        np.savez(f, **weights)
    os.replace(tmp, path)


def _remove(path: str) -> None:
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
            pid = int(name[len(SPILL_PREFIX):].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            _remove(os.path.join(folder, name))
        except (ValueError, PermissionError):
            pass
    fd, path = tempfile.mkstemp(prefix=f"{SPILL_PREFIX}{os.getpid()}.", suffix=".npz",
                                dir=folder)
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

    def __init__(self, graph_def: tf.compat.v1.GraphDef, batch_size: int = 64,
                 weights: Mapping[str, np.ndarray] | None = None):
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
                graph_def, input_map=input_map,
                return_elements=[INCEPTION_LOGITS, INCEPTION_POOL], name="inception")
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
            x = to_inception_input(images[start:start + self.batch_size])
            lg, pool = self._fn(tf.constant(x), *self._weights)
            if logits is None:
                logits = np.empty((len(images),) + tuple(lg.shape[1:]), np.float32)
                pools = np.empty((len(images),) + tuple(pool.shape[1:]), np.float32)
            logits[start:start + len(x)] = lg.numpy()
            pools[start:start + len(x)] = pool.numpy()
        return logits, pools


def split_bounds(n: int, num_splits: int) -> list[tuple[int, int]]:
    """The original's IS splits of ``n`` samples: split i is ``[i*n//k, (i+1)*n//k)``."""
    if n < num_splits:
        raise ValueError(f"{n} samples cannot make {num_splits} splits")
    return [(i * n // num_splits, (i + 1) * n // num_splits) for i in range(num_splits)]


def split_score(logits: np.ndarray, block: int = 512) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of one split, p(y|x) = softmax(logits), p(y) its mean.

    tensorflow-gan's ``classifier_score_from_logits`` in NumPy: the same float64 formula
    (``sum p * (log_softmax(logits) - log p(y))``), agreeing to ~1e-15 (pinned by
    tests/test_metrics.py; for float32 logits tfgan rounds its result to float32, this does
    not). Scoring in NumPy keeps tensorflow-gan (and TensorFlow Probability, which it
    imports) out of a run that only needs IS and FID: ~60 MiB of memory that would otherwise
    arrive at the first evaluation, on top of training's peak. The rows are taken ``block``
    at a time (two passes: p(y), then the KL terms), so a 5,000-sample split needs a few MiB
    of float64 temporaries rather than ~200 MiB.
    """
    n = len(logits)
    blocks = range(0, n, block)
    p_y = sum(np.exp(_log_softmax(logits[a:a + block])).sum(axis=0) for a in blocks) / n
    log_p_y = np.log(p_y)
    kl_total = 0.0
    for a in blocks:
        log_p = _log_softmax(logits[a:a + block])
        kl_total += float(np.sum(np.exp(log_p) * (log_p - log_p_y)))
    return float(np.exp(kl_total / n))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = np.array(logits, dtype=np.float64)
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x


def inception_score(logits: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
    """Mean and (population) std over splits of ``split_score``; splits by ``split_bounds``.

    Pass ``logits[:, :1000]`` for IS. (A metric pass scores each split as soon as its logits
    are complete, so it never holds all of them: ``InceptionRunner``.)
    """
    scores = [split_score(logits[a:b]) for a, b in split_bounds(len(logits), num_splits)]
    return float(np.mean(scores)), float(np.std(scores))


SQRT_EPS = 1e-10  # tensorflow-gan's _symmetric_matrix_square_root: smaller values stay unrooted


def frechet_distance(activations1: np.ndarray | FeatureMoments,
                     activations2: np.ndarray | FeatureMoments, chunk: int = 2048) -> float:
    """FID between two feature sets: tensorflow-gan's ``frechet_classifier_distance_from_
    activations``, ``|m1 - m2|^2 + Tr(S1 + S2 - 2 sqrt(sqrt(S1) S2 sqrt(S1)))`` in float64.

    Either set may be given as its rows or as ``FeatureMoments`` already accumulated over
    them. Same formula, unbiased covariances and square-root rule as tfgan's; two changes in
    how it is computed, for memory: the moments are accumulated ``chunk`` rows at a time, and
    the symmetric square roots come from an eigendecomposition instead of tfgan's SVD
    (``symmetric_sqrt_eigenvalues``). For 10,000 x 2,048 features tfgan's version needs ~1 GB
    more (float64 copies of the features, SVD workspace outside TensorFlow's allocator); the
    values agree to ~1e-12 relative (tests/test_metrics.py pins 1e-9 against tfgan's).
    """
    m1, s1 = _moments(activations1, chunk).mean_and_covariance()
    m2, s2 = _moments(activations2, chunk).mean_and_covariance()
    e, v = tf.linalg.eigh(s1)
    sqrt_s1 = tf.matmul(v * symmetric_sqrt_eigenvalues(e)[None, :], v, transpose_b=True)
    inner = tf.matmul(sqrt_s1, tf.matmul(s2, sqrt_s1))
    del e, v, sqrt_s1
    inner = (inner + tf.transpose(inner)) / 2.0
    trace_sqrt = tf.reduce_sum(symmetric_sqrt_eigenvalues(tf.linalg.eigvalsh(inner)))
    mean_term = tf.reduce_sum(tf.math.squared_difference(m1, m2))
    return float(tf.linalg.trace(s1) + tf.linalg.trace(s2) - 2.0 * trace_sqrt + mean_term)


def _moments(features: np.ndarray | FeatureMoments, chunk: int) -> FeatureMoments:
    if isinstance(features, FeatureMoments):
        return features
    moments = FeatureMoments()
    for start in range(0, len(features), chunk):
        moments.add(features[start:start + chunk])
    return moments


def symmetric_sqrt_eigenvalues(eigenvalues: tf.Tensor) -> tf.Tensor:
    """The eigenvalues of tfgan's square root of a symmetric matrix with these eigenvalues.

    tfgan takes ``U diag(r(s)) V^T`` of the SVD, ``r(s) = s`` below ``SQRT_EPS`` else
    ``sqrt(s)``; for a symmetric matrix ``s = |lambda|`` and ``V = U sign(lambda)``, so the
    root has eigenvalues ``sign(lambda) r(|lambda|)`` on the same eigenvectors.
    """
    s = tf.abs(eigenvalues)
    return tf.where(s < SQRT_EPS, s, tf.sqrt(s)) * tf.sign(eigenvalues)


class FeatureMoments:
    """Running mean ``m`` and unbiased covariance ``S`` of feature rows, in float64.

    One pass over the rows, added a chunk at a time, so a feature set need not be held to
    get its moments. The sums are of the rows minus the first chunk's mean ``s``; with
    ``d = sum(x - s) / n``: ``m = s + d`` and
    ``S = (sum (x - s)(x - s)^T - n d d^T) / (n - 1)``, which equals the two-pass
    ``sum (x - m)(x - m)^T / (n - 1)`` exactly and, with ``s`` close to ``m``, to round-off.
    """

    def __init__(self) -> None:
        self.count = 0
        self._shift: tf.Tensor | None = None
        self._sum: tf.Tensor | None = None
        self._scatter: tf.Tensor | None = None

    def add(self, rows: np.ndarray) -> None:
        """Add ``rows`` [n, d] to the sums."""
        if not len(rows):
            return
        x = tf.constant(rows, tf.float64)
        if self._shift is None:
            self._shift = tf.reduce_mean(x, 0)
            self._sum = tf.zeros_like(self._shift)
            self._scatter = tf.zeros([x.shape[1], x.shape[1]], tf.float64)
        centred = x - self._shift
        self._sum += tf.reduce_sum(centred, 0)
        self._scatter += tf.matmul(centred, centred, transpose_a=True)
        self.count += len(rows)

    def mean_and_covariance(self) -> tuple[tf.Tensor, tf.Tensor]:
        """``(m, S)`` of the rows added so far (at least 2)."""
        n = self.count
        if n < 2:
            raise ValueError(f"FID needs at least 2 samples per set, got {n}")
        d = self._sum / float(n)
        scatter = self._scatter - float(n) * (d[:, None] * d[None, :])
        return self._shift + d, scatter / float(n - 1)


class InceptionRunner:
    """What the Inception-based callbacks of one run share: graph, real subset, sample pass.

    ``setup`` resolves the graph once (``on_missing_inception``: "error" raises
    ``InceptionUnavailable``, "skip" logs a warning and leaves ``available`` False) and draws
    the fixed FID real subset: ``fid_num_real`` indices into ``context.real_images`` drawn with
    ``context.rng`` (kept as ``fid_real_indices``), or, for streamed data, that many images from
    ``context.sample_real`` whose pool_3 features are kept (``fid_real_activations``).
    """

    def __init__(self, config: dict):
        self.config = config
        self.batch_size = int(config.get("metric_batch_size", 64))
        self.inception_batch_size = inception_batch_size(config)
        self.chunk_images = 256  # generated images held at a time (48 KiB each at 64 px)
        self.on_missing = config.get("on_missing_inception", "error")
        self.graph_path: str | None = None
        self._graph: InceptionGraph | None = None
        self._split_def: tf.compat.v1.GraphDef | None = None
        self._weights: dict[str, np.ndarray] | None = None  # when they could not be parked
        self._weights_path: str | None = None  # where they are parked
        self.is_samples = 0
        self.is_splits = 1
        self.fid_samples = 0
        self.num_real = int(config.get("fid_num_real", 5000))
        self.real_indices: np.ndarray | None = None
        self.real_activations: np.ndarray | None = None
        self._ready = False
        self._consumers: list[MetricCallback] = []
        self._fid_reads: list[tuple[int, bool]] = []  # (fid_samples, features) per callback
        self._pending: set[int] = set()
        self._cached_id: int | None = None
        self._cache: dict[str, Any] = {}

    # -- wiring ------------------------------------------------------------------------------

    def register(self, callback: MetricCallback, is_samples: int = 0, fid_samples: int = 0,
                 is_splits: int = 1, features: bool = False) -> None:
        """Declare a callback and the samples it reads: IS scores of ``is_splits`` splits of
        ``is_samples`` logits, or the pool_3 features of ``fid_samples`` (their
        ``FeatureMoments`` only, unless ``features``: then the [fid_samples, 2048] array)."""
        self._consumers.append(callback)
        if is_samples:
            self.is_samples, self.is_splits = is_samples, is_splits
        self.fid_samples = max(self.fid_samples, fid_samples)
        if fid_samples:
            self._fid_reads.append((fid_samples, features))

    @property
    def keep_features(self) -> bool:
        """Whether a pass keeps the generated features: a callback reads them, or reads
        fewer samples than the moments cover."""
        return any(features or n < self.fid_samples for n, features in self._fid_reads)

    @property
    def keep_moments(self) -> bool:
        """Whether a pass accumulates the features' moments: a callback reads them (FID on
        the whole pass)."""
        return any(not features and n == self.fid_samples for n, features in self._fid_reads)

    def owns_state(self, callback: MetricCallback) -> bool:
        """Whether ``callback`` saves the shared real subset (the first one that reads it)."""
        readers = [c for c in self._consumers if getattr(c, "uses_real", False)]
        return bool(readers) and readers[0] is callback

    @property
    def needs_real(self) -> bool:
        """Whether a callback compares with the fixed real subset (FID, KID; not a FID
        against fixed reference statistics)."""
        return any(getattr(c, "uses_real", False) for c in self._consumers)

    @property
    def available(self) -> bool:
        return self.graph_path is not None

    @property
    def graph(self) -> InceptionGraph:
        """The Inception graph, built on first use after ``setup`` or ``release``.

        Built when needed rather than in ``setup``, and dropped by ``release`` after each
        evaluation: its weights take memory that training has used and released, instead of
        adding to training's peak or staying among training's buffers between evaluations.
        """
        if self._graph is None:
            if self._split_def is None:
                raise RuntimeError("the Inception graph is not available (setup not called?)")
            if self._weights_path is not None:
                with np.load(self._weights_path) as weights:
                    self._graph = InceptionGraph(self._split_def, self.inception_batch_size,
                                                 weights=weights)
            else:
                self._graph = InceptionGraph(self._split_def, self.inception_batch_size,
                                             weights=self._weights)
                self._weights = None
        return self._graph

    def release(self) -> None:
        """Drop the built graph when it can be rebuilt from the parked weights (after an
        evaluation; on CelebA, keeping it made training after the first evaluation ~160 MiB
        larger)."""
        if self._weights_path is not None:
            self._graph = None

    # -- per run -----------------------------------------------------------------------------

    def setup(self, context: MetricContext) -> None:
        """Find and check the graph, park its weights on disk and draw the real subset, once
        per run."""
        if self._ready:
            return
        try:
            path = find_inception_graph(self.config.get("inception_graph"))
            # A bad file fails here, before any training.
            self._split_def, weights = split_weights(load_inception_graph_def(path))
            self.graph_path = path
            logging.info("Inception graph: %s", path)
        except InceptionUnavailable as e:
            if self.on_missing != "skip":
                raise
            logging.warning("on_missing_inception='skip': Inception metrics are written as NaN "
                            "in this run. %s", e)
        else:
            self._park(weights, context.run_dir)
        self._ready = True
        if not self.needs_real:
            return
        if context.real_images is not None:
            total = len(context.real_images)
            if self.num_real > total:
                raise ValueError(f"fid_num_real = {self.num_real} exceeds the {total} "
                                 "training images")
            # Random order, not sorted: KID's block estimator needs shuffled samples.
            self.real_indices = context.rng.choice(total, self.num_real, replace=False)
        elif self.available:
            real = np.asarray(context.sample_real(self.num_real))
            self.real_activations = self.graph.run(real[context.rng.permutation(len(real))])[1]
            self.release()

    def _park(self, weights: dict[str, np.ndarray], folder: str) -> None:
        """Park the weights in ``folder`` (``park_weights``; the file is deleted when this
        runner is garbage-collected or the process exits), or keep them in memory if that
        fails."""
        path = None
        try:
            path = spill_path(folder)
            park_weights(weights, path)
        except OSError as e:
            for leftover in (path, f"{path}.partial") if path else ():
                _remove(leftover)
            logging.warning("cannot park the Inception weights in %s (%s): they stay in "
                            "memory until the first evaluation", folder, e)
            self._weights = weights
            return
        self._weights_path = path
        weakref.finalize(self, _remove, path)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The real subset: its indices (in-memory data) or its pool_3 features (streamed)."""
        if self.real_indices is not None:
            return {"fid_real_indices": self.real_indices}
        if self.real_activations is not None:
            return {"fid_real_activations": self.real_activations}
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the real subset saved by ``state_arrays``."""
        if "fid_real_indices" in arrays:
            self.real_indices = np.asarray(arrays["fid_real_indices"], dtype=np.int64)
            self.real_activations = None
        elif "fid_real_activations" in arrays:
            self.real_indices = None
            self.real_activations = np.asarray(arrays["fid_real_activations"])

    def real_pool(self, context: MetricContext) -> np.ndarray:
        """pool_3 features of the fixed real subset (computed once per process)."""
        if self.real_activations is None:
            if self.real_indices is None or context.real_images is None:
                raise RuntimeError("the FID real subset was not drawn (setup not called?)")
            if self.real_indices.size and self.real_indices.max() >= len(context.real_images):
                raise ValueError("saved FID real indices exceed the training set size")
            pool = None
            for i in range(0, len(self.real_indices), self.chunk_images):
                chunk = self.graph.run(
                    context.real_images[self.real_indices[i:i + self.chunk_images]])[1]
                if pool is None:
                    pool = np.empty((len(self.real_indices),) + chunk.shape[1:], chunk.dtype)
                pool[i:i + len(chunk)] = chunk
            self.real_activations = pool
        return self.real_activations

    def generated(self, context: MetricContext, global_id: int,
                  callback: MetricCallback) -> dict[str, Any]:
        """``is_scores`` (one per IS split) and the pool_3 features of the first
        ``fid_samples``: ``fid_moments`` (``FeatureMoments``) for ``keep_moments``, and
        ``fid_pool`` [fid_samples, 2048] for ``keep_features``.

        The pass runs once per ``global_id``; it is dropped when every registered callback read it.
        """
        if self._cached_id != global_id:
            self._cache = self._run_generated(context)
            self._cached_id = global_id
            self._pending = {id(c) for c in self._consumers}
        out = self._cache
        self._pending.discard(id(callback))
        if not self._pending:
            self._cache, self._cached_id = {}, None
        return out

    def _run_generated(self, context: MetricContext) -> dict[str, Any]:
        """One pass over ``max(is_samples, fid_samples)`` samples. Memory: the moments of
        the pool_3 features (for ``keep_moments``), the features themselves (only for
        ``keep_features``), and the logits of one IS split at a time (scored when complete)."""
        n = max(self.is_samples, self.fid_samples)
        bounds = split_bounds(self.is_samples, self.is_splits) if self.is_samples else []
        split_logits = np.empty((max((b - a for a, b in bounds), default=0), IS_NUM_CLASSES),
                                np.float32)
        scores: list[float] = []
        fid_pool: np.ndarray | None = None
        moments = FeatureMoments() if self.keep_moments else None
        done = 0
        for images in sample_in_chunks(context, n, self.batch_size, self.chunk_images):
            lg, pool = self.graph.run(images)
            end = done + len(images)
            if done < self.fid_samples:
                rows = pool[:self.fid_samples - done]
                if moments is not None:
                    moments.add(rows)
                if self.keep_features:
                    if fid_pool is None:
                        fid_pool = np.empty((self.fid_samples,) + pool.shape[1:], np.float32)
                    fid_pool[done:done + len(rows)] = rows
            for a, b in bounds[len(scores):]:
                lo, hi = max(a, done), min(b, end)
                if lo >= hi:
                    break
                split_logits[lo - a:hi - a] = lg[lo - done:hi - done, :IS_NUM_CLASSES]
                if hi == b:
                    scores.append(split_score(split_logits[:b - a]))
            done = end
        out: dict[str, Any] = {"is_scores": np.asarray(scores)}
        if moments is not None:
            out["fid_moments"] = moments
        if fid_pool is not None:
            out["fid_pool"] = fid_pool
        return out


def inception_batch_size(config: dict) -> int:
    """Images per Inception forward: the config's ``inception_batch_size``, or with 0 (auto)
    ``INCEPTION_CPU_BATCH`` without a GPU and ``metric_batch_size`` with one. On the CPU its
    activations (~14 MiB per 299x299 image) come out of the memory training already holds."""
    value = int(config.get("inception_batch_size", 0))
    if value:
        return value
    if tf.config.list_physical_devices("GPU"):
        return int(config.get("metric_batch_size", 64))
    return INCEPTION_CPU_BATCH


def sample_in_chunks(context: MetricContext, n: int, batch_size: int,
                     chunk_images: int = 256) -> Iterator[np.ndarray]:
    """``n`` generated images from ``context.sample``, a chunk at a time, range-checked."""
    chunk = batch_size * max(1, -(-chunk_images // batch_size))
    done = 0
    while done < n:
        images = np.asarray(context.sample(min(chunk, n - done)))
        check_range(images)
        done += len(images)
        yield images


class InceptionScore(MetricCallback):
    """IS of ``is_num_samples`` generated images in ``is_num_splits`` splits (logits[:, :1000])."""

    def __init__(self, runner: InceptionRunner, num_samples: int = 50000, num_splits: int = 10):
        self.runner = runner
        self.num_samples = num_samples
        self.num_splits = num_splits
        runner.register(self, is_samples=num_samples, is_splits=num_splits)

    def columns(self) -> list[str]:
        return ["inception_score_mean", "inception_score_std"]

    def setup(self, context: MetricContext) -> None:
        self.runner.setup(context)

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if not self.runner.available:
            return dict.fromkeys(self.columns(), float("nan"))
        scores = self.runner.generated(context, global_id, self)["is_scores"]
        return {"inception_score_mean": float(np.mean(scores)),
                "inception_score_std": float(np.std(scores))}

    def release(self) -> None:
        self.runner.release()


class FrechetInceptionDistance(MetricCallback):
    """FID: pool_3 of ``fid_num_samples`` generated vs the fixed ``fid_num_real`` real images."""

    uses_real = True

    def __init__(self, runner: InceptionRunner, num_samples: int = 10000):
        self.runner = runner
        self.num_samples = num_samples
        runner.register(self, fid_samples=num_samples)

    def columns(self) -> list[str]:
        return ["fid"]

    def setup(self, context: MetricContext) -> None:
        self.runner.setup(context)

    def evaluate(self, context: MetricContext, global_id: int) -> dict[str, float]:
        if not self.runner.available:
            return {"fid": float("nan")}
        out = self.runner.generated(context, global_id, self)
        # The moments cover the runner's fid_samples; a smaller count reads the features.
        fake = (out["fid_moments"] if self.num_samples == self.runner.fid_samples
                else out["fid_pool"][:self.num_samples])
        return {"fid": frechet_distance(self.runner.real_pool(context), fake)}

    def release(self) -> None:
        self.runner.release()

    def state_arrays(self) -> dict[str, np.ndarray]:
        return self.runner.state_arrays() if self.runner.owns_state(self) else {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.runner.load_state_arrays(arrays)


def stub_inception_graph_def(depth: int = 16, seed: int = 0) -> tf.compat.v1.GraphDef:
    """A small frozen graph with the Inception tensor names, for tests and benchmarks only.

    ``pool_3`` [N, 1, 1, depth]: the first 3 entries are the per-channel means of ``Mul``'s
    input (so the pixel path can be checked exactly), the rest means of ReLU(1x1 conv);
    ``logits`` [N, 1008] = pool_3 @ W + b. Values mean nothing about image quality.
    """
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, INCEPTION_SIZE, INCEPTION_SIZE, 3],
                                     name="input")
        mul = tf.multiply(x, tf.constant(1.0), name="Mul")
        kernel = tf.constant(rng.normal(size=(1, 1, 3, depth - 3)).astype(np.float32))
        feat = tf.nn.relu(tf.nn.conv2d(mul, kernel, 1, "VALID"))
        pool = tf.identity(tf.reduce_mean(tf.concat([mul, feat], -1), [1, 2], keepdims=True),
                           name="pool_3")
        w = tf.constant(rng.normal(size=(depth, 1008)).astype(np.float32))
        b = tf.constant(rng.normal(size=(1008,)).astype(np.float32))
        tf.identity(tf.matmul(tf.reshape(pool, [-1, depth]), w) + b, name="logits")
    return graph.as_graph_def()


def main() -> None:
    """``python -m gan.metrics.inception``: find or download the graph and print its path."""
    try:
        path = find_inception_graph(None)
        load_inception_graph_def(path)
    except InceptionUnavailable as e:
        raise SystemExit(f"error: {e}") from None
    print(path)


if __name__ == "__main__":
    main()
