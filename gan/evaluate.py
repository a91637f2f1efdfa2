"""``python main.py evaluate RUN_DIR|TASK``: score checkpoints after training, as training does.

The metric callbacks are training's (``gan.metrics.registry.build_metrics``) and see the same
``MetricContext`` as ``Trainer.metric_context``: the real-subset generator
``default_rng([seed, 2])``, the sample latents ``default_rng([sample_seed, 3, global_id])``
drawn as float32 and run through inference-mode G in batches of ``metric_batch_size``, and the
callbacks' kept state (the FID real subset, SWD's seed and real set) read from
``checkpoint/metric_state.npz`` by metric name. So with the run's own settings and seed, a
checkpoint scores what training logged for it.

Results go to ``RUN_DIR/eval/metrics.csv`` (never training's ``metrics.csv``): one row per
(``global_id``, settings), its schema in :mod:`gan.eval_csv`. A row whose settings match and
whose asked-for columns are filled is skipped, so an interrupted evaluation resumes; the file
is rewritten atomically after each checkpoint.

``evaluate --images FILE --dataset NAME`` scores an image set (``sample``'s formats) the same
way against the dataset, printing the values; each metric gets its own settings (its keys'
defaults, or the flags), no training config.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan.config import DEFAULT_DATA_ROOT, FIELD_KEYS, RunConfig
from gan.dataset_files import IMAGE_SIZE
from gan.errors import ConfigError, MetricError
from gan.eval_csv import EvalCsv, row_settings
from gan.generator_checkpoints import (
    generate_fn,
    restore_generator,
    select_checkpoints,
    writable_folder,
)
from gan.keys import check_value
from gan.metrics import names
from gan.metrics.base import MetricContext
from gan.metrics.fid_stats_file import read_stats
from gan.metrics.registry import build_metrics, metric_columns
from gan.networks.specs import build_generator
from gan.real_images import run_data, training_data
from gan.run_folder import (
    CHECKPOINT_DIR,
    EVAL_DIR,
    EVAL_METRICS_FILE,
    METRIC_STATE_FILE,
    read_run_config,
    read_seed,
    require_run_folder,
)
from gan.sample import read_images


@dataclass
class EvalSettings:
    """What to evaluate and how; None means the run's config (or, for ``seed``, its seed)."""

    metrics: list[str] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    fid_reference: str | None = None
    inception_graph: str | None = None
    seed: int | None = None
    checkpoint: str = "latest"


def eval_config(config: RunConfig, settings: EvalSettings) -> RunConfig:
    """The run config with the evaluation's metrics, counts, reference and graph applied."""
    changes: dict[str, Any] = {}
    if settings.metrics is not None:
        if not settings.metrics:
            raise ConfigError("--metrics: give at least one metric name")
        changes["metrics"] = list(settings.metrics)
    for key, value in settings.counts.items():
        if value is not None:
            if value <= 0:
                raise ConfigError(f"--{key} {value}: expected a positive number")
            changes[key] = int(value)
    if settings.fid_reference:
        read_stats(settings.fid_reference)
        changes["fid_reference"] = os.path.abspath(settings.fid_reference)
    if settings.inception_graph:
        changes["inception_graph"] = settings.inception_graph
    # A missing graph is an error here: a NaN row would look evaluated.
    changes["on_missing_inception"] = "error"
    return config.replace(where="evaluation settings", **changes)


def setup_callbacks(callbacks: list, context: Any, where: str) -> None:
    """``setup`` every callback; a count the data cannot meet (a MetricError) names ``where``."""
    for cb in callbacks:
        try:
            cb.setup(context)
        except MetricError as e:
            raise MetricError(f"{where}: {e}") from None


def metric_context(
    batch_size: int,
    latent_dim: int,
    run_dir: str,
    seed: int,
    generate: Callable[[np.ndarray], np.ndarray],
    real: Any,
):
    """Training's ``MetricContext`` (``Trainer.metric_context``) for ``generate`` (float32
    z [batch_size, latent_dim] -> images in [-1, 1]) and the real data ``real`` (an array or
    the streamed ImageNet folder). Returns the context and a function that sets the sample
    latents' generator for a ``global_id`` (``Trainer.log_metrics``)."""
    rng = np.random.default_rng([seed, 2])
    bs = batch_size
    state: dict[str, np.random.Generator] = {}

    def sample(n: int) -> np.ndarray:
        z = state["rng"].standard_normal((n, latent_dim)).astype(np.float32)
        parts = [generate(z[i : i + bs]) for i in range(0, n, bs)]
        return np.concatenate(parts)

    folder = None if isinstance(real, np.ndarray) or real is None else real

    def sample_real(n: int) -> np.ndarray:
        if folder is not None:
            return folder.sample_uint8(n, rng)
        idx = rng.integers(0, len(real), size=n)
        return real[np.sort(idx)]

    def at(sample_seed: int, global_id: int) -> None:
        state["rng"] = np.random.default_rng([sample_seed, 3, global_id])

    context = MetricContext(
        sample=sample,
        sample_real=sample_real,
        real_images=None if folder is not None else real,
        rng=rng,
        run_dir=run_dir,
    )
    return context, at


def load_metric_state(
    callbacks: list,
    metrics: list[str],
    train_metrics: list[str],
    state_path: str,
    config: RunConfig | None = None,
) -> None:
    """Give each callback the state training kept for the metric of the same name; a kept
    array a metric shares with its group (the Inception metrics' FID real subset) is given to
    every member whichever training metric saved it. A kept real subset of another size than
    ``config`` asks for is not used (the metric specs' ``state``)."""
    if not os.path.isfile(state_path):
        return
    with np.load(state_path, allow_pickle=False) as data:
        saved = {k: data[k] for k in data.files}
    if config is not None:
        counts = names.kept_subset_counts()
        saved = {
            k: v
            for k, v in saved.items()
            if k.split("/", 1)[-1] not in counts
            or len(v) == getattr(config, counts[k.split("/", 1)[-1]])
        }
    for cb, name in zip(callbacks, metrics, strict=True):
        group = names.shared_state_keys(names.metric_spec(name).shares)
        arrays = {k.split("/", 1)[1]: v for k, v in saved.items() if k.split("/", 1)[1] in group}
        if name in train_metrics:
            prefix = f"{train_metrics.index(name)}/"
            arrays.update({k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)})
        if arrays:
            cb.load_state_arrays(arrays)


def needs_real_data(config: RunConfig) -> bool:
    """Whether any metric of ``config`` reads the real images (its spec's ``reads_real``)."""
    return names.reads_real(config.metrics, config)


def evaluate_run(run_dir: str, settings: EvalSettings, progress: bool = True) -> list[dict]:
    """Evaluate the checkpoints ``settings.checkpoint`` names of one run into
    ``eval/metrics.csv``; returns the rows evaluated or found."""
    run_dir = require_run_folder(run_dir)
    train_config = read_run_config(run_dir)
    config = eval_config(train_config, settings)
    refs = select_checkpoints(run_dir, settings.checkpoint)
    seed = read_seed(train_config, run_dir)
    sample_seed = seed if settings.seed is None else int(settings.seed)
    table = EvalCsv(os.path.join(run_dir, EVAL_DIR, EVAL_METRICS_FILE))
    metrics = list(config.metrics)
    columns = metric_columns(metrics)
    row_set = row_settings(config, sample_seed)
    todo = [r for r in refs if not table.done(r.global_id, row_set, columns)]
    out = [table.find(r.global_id, row_set) for r in refs if r not in todo]
    for r in refs:
        if r not in todo:
            print(f"{run_dir}: {r.label} already evaluated with these settings", flush=True)
    if not todo:
        return out
    generator = build_generator(config, config.image_shape)
    fn = generate_fn(generator, config.latent_dim)
    restore_generator(generator, todo[0])  # a checkpoint that does not fit: before eval/
    real = run_data(config) if needs_real_data(config) else None
    eval_dir = writable_folder(
        os.path.join(run_dir, EVAL_DIR),
        "evaluate writes its table into the run folder: make it "
        "writable, or evaluate a copy of the run folder",
    )
    context, at = metric_context(
        config.metric_batch_size, config.latent_dim, eval_dir, seed, lambda z: fn(z).numpy(), real
    )
    callbacks = build_metrics(config)
    setup_callbacks(callbacks, context, run_dir)
    load_metric_state(
        callbacks,
        metrics,
        list(train_config.metrics),
        os.path.join(run_dir, CHECKPOINT_DIR, METRIC_STATE_FILE),
        config,
    )
    for ref in todo:
        restore_generator(generator, ref)
        at(sample_seed, ref.global_id)
        values: dict[str, float] = {}
        for cb in callbacks:
            values.update(cb.evaluate(context, ref.global_id))
        for cb in callbacks:
            cb.release()
        table.put(ref.global_id, ref.label, row_set, values)
        shown = "  ".join(f"{k}={v:.6g}" for k, v in values.items())
        print(f"{run_dir}: {ref.label}  {shown}", flush=True)
        out.append(table.find(ref.global_id, row_set))
    return out


# ------------------------------------------------------------------------ an external image set
def check_image_set(images: np.ndarray, path: str, size: int | None) -> None:
    """ConfigError unless ``images`` is [N >= 2, H, W, 3] uint8, or float in [-1, 1], with
    ``H == W == size`` when given."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[0] < 2:
        raise ConfigError(
            f"--images {path}: array of shape {images.shape}, expected "
            "[N >= 2, H, W, 3] (uint8 NHWC as `sample` writes)"
        )
    if size is not None and images.shape[1:3] != (size, size):
        raise ConfigError(
            f"--images {path}: images of {images.shape[1]}x{images.shape[2]} "
            f"pixels, but the dataset's are {size}x{size}"
        )
    if images.dtype == np.uint8:
        return
    if not np.issubdtype(images.dtype, np.floating):
        raise ConfigError(
            f"--images {path}: dtype {images.dtype}, expected uint8 (or float in [-1, 1])"
        )
    lo, hi = float(np.min(images)), float(np.max(images))
    if not (lo >= -1.0 and hi <= 1.0):
        raise ConfigError(
            f"--images {path}: float values in [{lo}, {hi}], expected [-1, 1] "
            "(or uint8 in [0, 255])"
        )


def image_set_settings(
    path: str, dataset: str, settings: EvalSettings, n: int, real: int | None = None
) -> dict[str, Any]:
    """The keys the metrics of ``settings`` read to score a set of ``n`` images: the common
    metric keys and each metric's own counts and settings (the flags, else their defaults; a
    sample count left unset is capped at ``n``, a real count at ``real``), checked as a run
    config would check them."""
    where = f"--images {path}"
    metrics = list(settings.metrics or FIELD_KEYS["metrics"].default)
    if settings.metrics is not None and not settings.metrics:
        raise ConfigError("--metrics: give at least one metric name")
    names.check_metric_names(metrics)
    values: dict[str, Any] = {k: FIELD_KEYS[k].default for k in names.COMMON_KEYS}
    values.update(on_missing_inception="error", inception_graph=settings.inception_graph)
    keys = {k: key for name in metrics for k, key in names.metric_spec(name).keys.items()}
    given = {k: v for k, v in settings.counts.items() if v is not None and k in keys}
    for key, spec in keys.items():
        values[key] = given.get(key, spec.default)
    for key in names.sample_count_keys():
        if key in keys and key not in given:
            values[key] = min(values[key], n)
        elif key in given and given[key] > n:
            raise ConfigError(f"--{key} {given[key]}: --images {path} holds only {n} images")
    if real is not None:
        for key in names.real_count_keys():
            if key in keys and key not in given:
                values[key] = min(values[key], real)
    if settings.fid_reference and "fid_reference" in keys:
        read_stats(settings.fid_reference)
        values["fid_reference"] = os.path.abspath(settings.fid_reference)
    for key, spec in keys.items():
        check_value(key, values[key], spec, where)
    try:
        names.check_metrics(metrics, dataset, values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return {"metrics": metrics, **values}


def evaluate_images(
    path: str, dataset: str, settings: EvalSettings, data_root: str | None = None
) -> dict[str, float]:
    """Score the image set in ``path`` against ``dataset``; prints and returns the values.

    Each metric reads the set from its start (its first ``*_num_samples`` images) with its own
    settings (:func:`image_set_settings`); no training config is made.
    """
    images = read_images(path)
    size = IMAGE_SIZE[dataset]
    check_image_set(images, path, size)
    n = len(images)
    values = image_set_settings(path, dataset, settings, n)
    real = None
    if names.reads_real(values["metrics"], values):
        real = training_data(dataset, data_root or DEFAULT_DATA_ROOT, True)
        if isinstance(real, np.ndarray):
            values = image_set_settings(path, dataset, settings, n, len(real))
    cursor = {"at": 0}

    def generate(z: np.ndarray) -> np.ndarray:
        start = cursor["at"]
        batch = np.asarray(images[start : start + len(z)])
        cursor["at"] = start + len(batch)
        if batch.dtype == np.uint8:
            return batch.astype(np.float32) / 255.0 * 2.0 - 1.0
        return batch.astype(np.float32)

    seed = 0 if settings.seed is None else int(settings.seed)
    with tempfile.TemporaryDirectory(prefix="bsn-eval-") as scratch:
        # the latents only count the images to take: one number each
        context, at = metric_context(values["metric_batch_size"], 1, scratch, seed, generate, real)
        callbacks = build_metrics(values)
        setup_callbacks(callbacks, context, path)
        at(seed, 0)
        result: dict[str, float] = {}
        for cb in callbacks:
            cursor["at"] = 0
            result.update(cb.evaluate(context, 0))
            cb.release()
    for k, v in result.items():
        print(f"{k}: {v:.6f}", flush=True)
    return result
