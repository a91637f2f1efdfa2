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

The package, one job per module:

* :mod:`~gan.metrics.inception.graph`: find or download the frozen graph, check it, split its
  weights off (graph surgery), park them on disk between evaluations, run it
  (:class:`InceptionGraph`);
* :mod:`~gan.metrics.inception.statistics`: the IS and FID math (``split_score``,
  ``inception_score``, ``frechet_distance``, :class:`FeatureMoments`) and the helpers
  ``swd.py`` and ``shapes_features.py`` share (``cache_dir``, ``check_range``,
  ``sample_in_chunks``);
* :mod:`~gan.metrics.inception.runner`: :class:`InceptionRunner`, what a run's Inception
  callbacks share (the graph, the real subset, one pass of samples per metric step);
* :mod:`~gan.metrics.inception.callbacks`: :class:`InceptionScore` and
  :class:`FrechetInceptionDistance`;
* :mod:`~gan.metrics.inception.fid_against_stats`: :class:`ReferenceFrechetDistance`, the FID
  against fixed statistics (``fid_reference``, a ``gan.metrics.fid_stats_file`` file);
* ``__main__``: ``python -m gan.metrics.inception`` fetches the graph.

The tiny stand-in graph of the tests is ``tests/inception_stub.py``.
"""

from gan.metrics.inception.callbacks import FrechetInceptionDistance, InceptionScore
from gan.metrics.inception.graph import (
    DOWNLOAD_TIMEOUT_S,
    INCEPTION_CPU_BATCH,
    INCEPTION_INPUT,
    INCEPTION_LOGITS,
    INCEPTION_PB,
    INCEPTION_POOL,
    INCEPTION_SIZE,
    INCEPTION_URL,
    IS_NUM_CLASSES,
    SPILL_PREFIX,
    WEIGHT_MIN_ELEMENTS,
    InceptionGraph,
    InceptionUnavailable,
    download_inception_graph,
    find_inception_graph,
    load_inception_graph_def,
    park_weights,
    resize_tf1,
    spill_path,
    split_weights,
    to_inception_input,
)
from gan.metrics.inception.runner import InceptionRunner, inception_batch_size
from gan.metrics.inception.statistics import (
    SQRT_EPS,
    FeatureMoments,
    cache_dir,
    check_range,
    frechet_distance,
    inception_score,
    sample_in_chunks,
    split_bounds,
    split_score,
    symmetric_sqrt_eigenvalues,
)

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "INCEPTION_CPU_BATCH",
    "INCEPTION_INPUT",
    "INCEPTION_LOGITS",
    "INCEPTION_PB",
    "INCEPTION_POOL",
    "INCEPTION_SIZE",
    "INCEPTION_URL",
    "IS_NUM_CLASSES",
    "SPILL_PREFIX",
    "SQRT_EPS",
    "WEIGHT_MIN_ELEMENTS",
    "FeatureMoments",
    "FrechetInceptionDistance",
    "InceptionGraph",
    "InceptionRunner",
    "InceptionScore",
    "InceptionUnavailable",
    "cache_dir",
    "check_range",
    "download_inception_graph",
    "find_inception_graph",
    "frechet_distance",
    "inception_batch_size",
    "inception_score",
    "load_inception_graph_def",
    "park_weights",
    "resize_tf1",
    "sample_in_chunks",
    "spill_path",
    "split_bounds",
    "split_score",
    "split_weights",
    "symmetric_sqrt_eigenvalues",
    "to_inception_input",
]
