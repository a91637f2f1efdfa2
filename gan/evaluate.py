"""``python main.py evaluate RUN_DIR|TASK``: score checkpoints after training, as training does.

The metric callbacks are training's (``gan.metrics.registry.build_metrics``) and see the same
``MetricContext`` as ``Trainer.metric_context``: the real-subset generator
``default_rng([seed, 2])``, the sample latents ``default_rng([sample_seed, 3, global_id])``
drawn as float32 and run through inference-mode G in batches of ``metric_batch_size``, and the
callbacks' kept state (the FID real subset, SWD's seed and real set) read from
``checkpoint/metric_state.npz`` by metric name. So with the run's own settings and seed, a
checkpoint scores what training logged for it.

Results go to ``RUN_DIR/eval/metrics.csv`` (never training's ``metrics.csv``): one row per
(``global_id``, settings), with the columns ``global_id, checkpoint``, the settings
(``SETTING_COLUMNS``) and every metric column evaluated so far (the registry's order,
:func:`gan.metrics.names.all_columns`; empty where a metric was not asked for). A row whose
settings match and whose asked-for columns are filled is skipped, so an interrupted evaluation
resumes; the file is rewritten atomically after each checkpoint.

``evaluate --images FILE --dataset NAME`` scores an image set (``sample``'s formats) the same
way against the dataset, printing the values.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gan.config import DEFAULT_DATA_ROOT, RUN_KEYS, ConfigError, RunConfig, validate_run_config
from gan.data import IMAGE_SIZE
from gan.errors import MetricError
from gan.generator_checkpoints import (
    generate_fn,
    restore_generator,
    select_checkpoints,
    writable_folder,
)
from gan.metrics import names
from gan.metrics.base import MetricContext
from gan.metrics.reference_stats import read_stats
from gan.real_data import run_data
from gan.run_folder import (
    CHECKPOINT_DIR,
    EVAL_DIR,
    EVAL_METRICS_FILE,
    METRIC_STATE_FILE,
    atomic_path,
    read_run_config,
    read_seed,
    require_run_folder,
)
from gan.sample import read_images

SETTING_COLUMNS = (
    "sample_seed",
    "metric_batch_size",
    "is_num_samples",
    "is_num_splits",
    "fid_num_samples",
    "fid_num_real",
    "fid_reference",
    "swd_num_samples",
    "swd_patches_per_image",
)


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


def row_settings(config: RunConfig, sample_seed: int) -> dict[str, str]:
    """The settings columns of a row, as strings."""
    values = {"sample_seed": sample_seed, "fid_reference": config.fid_reference or ""}
    for key in SETTING_COLUMNS:
        if key not in values:
            values[key] = getattr(config, key)
    return {k: str(values[k]) for k in SETTING_COLUMNS}


class EvalCsv:
    """``eval/metrics.csv``: rows keyed by (global_id, settings), rewritten atomically."""

    def __init__(self, path: str):
        self.path = path
        self.known = names.all_columns()
        self.rows: list[dict[str, str]] = []
        self.extra: list[str] = []
        if os.path.isfile(path):
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                fields = list(reader.fieldnames or [])
                missing = [c for c in ("global_id", *SETTING_COLUMNS) if c not in fields]
                if missing:
                    raise ConfigError(
                        f"{path}: not an evaluation table (no column "
                        f"{', '.join(missing)}); move it away"
                    )
                self.extra = [
                    c
                    for c in fields
                    if c not in self.known
                    and c not in ("global_id", "checkpoint", *SETTING_COLUMNS)
                ]
                self.rows = [dict(r) for r in reader]

    def _key(self, row: dict[str, Any]) -> tuple:
        return (int(row["global_id"]),) + tuple(str(row.get(k, "")) for k in SETTING_COLUMNS)

    def find(self, global_id: int, settings: dict[str, str]) -> dict[str, str] | None:
        key = self._key({"global_id": global_id, **settings})
        return next((r for r in self.rows if self._key(r) == key), None)

    def done(self, global_id: int, settings: dict[str, str], columns: Sequence[str]) -> bool:
        """Whether a row with these settings holds every column of ``columns``."""
        row = self.find(global_id, settings)
        return row is not None and all(row.get(c, "") != "" for c in columns)

    def put(
        self, global_id: int, label: str, settings: dict[str, str], values: dict[str, float]
    ) -> None:
        """Fill (or add) the row of ``global_id`` and ``settings`` and rewrite the file."""
        row = self.find(global_id, settings)
        if row is None:
            row = {"global_id": str(global_id), **settings}
            self.rows.append(row)
        row["checkpoint"] = label
        for k, v in values.items():
            row[k] = f"{float(v):.12f}" if isinstance(v, (float, np.floating)) else str(v)
        self.rows.sort(key=lambda r: int(r["global_id"]))
        self._write()

    def fieldnames(self) -> list[str]:
        used = {k for r in self.rows for k, v in r.items() if v not in ("", None)}
        metrics = [c for c in self.known if c in used] + [c for c in self.extra if c in used]
        return ["global_id", "checkpoint", *metrics, *SETTING_COLUMNS]

    def _write(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with atomic_path(self.path, sync=True, sync_folder=False) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.fieldnames(), extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self.rows)


def metric_context(
    config: RunConfig,
    run_dir: str,
    seed: int,
    generate: Callable[[np.ndarray], np.ndarray],
    real: Any,
):
    """Training's ``MetricContext`` (``Trainer.metric_context``) for ``generate`` (float32
    z -> images in [-1, 1], one batch) and the real data ``real`` (an array or the streamed
    ImageNet folder). Returns the context and a function that sets the sample latents'
    generator for a ``global_id`` (``Trainer.log_metrics``)."""
    rng = np.random.default_rng([seed, 2])
    bs = config.metric_batch_size
    latent_dim = config.latent_dim
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
        config=config,
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
    return names.reads_real(config)


def evaluate_run(run_dir: str, settings: EvalSettings, progress: bool = True) -> list[dict]:
    """Evaluate the checkpoints ``settings.checkpoint`` names of one run into
    ``eval/metrics.csv``; returns the rows evaluated or found."""
    # TensorFlow: imported here so that the CLI and the report importing this module do not.
    from gan.metrics.registry import build_metrics, metric_columns
    from gan.variants import build_generator

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
    context, at = metric_context(config, eval_dir, seed, lambda z: fn(z).numpy(), real)
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


def evaluate_images(
    path: str, dataset: str, settings: EvalSettings, data_root: str | None = None
) -> dict[str, float]:
    """Score the image set in ``path`` against ``dataset``; prints and returns the values.

    Each metric reads the set from its start (its first ``*_num_samples`` images); a count
    left unset is the run-config default capped at the set's size.
    """
    # TensorFlow: imported here so that the CLI and the report importing this module do not.
    from gan.metrics.registry import build_metrics

    images = read_images(path)
    size = IMAGE_SIZE[dataset]
    check_image_set(images, path, size)
    n = len(images)
    counts = dict(settings.counts)
    for key in names.sample_count_keys():
        if counts.get(key) is None:
            counts[key] = min(int(RUN_KEYS[key].default), n)
        elif counts[key] > n:
            raise ConfigError(f"--{key} {counts[key]}: --images {path} holds only {n} images")
    base = {
        "dataset": dataset,
        "mg": size // 8,
        "iteration": 1,
        "data_root": data_root or DEFAULT_DATA_ROOT,
        "imagenet_allow_subset": True,
    }
    if dataset == "imagenet":
        base.update(network="resnet", mg=None, d_batch_size=64, g_batch_size=64)
    config = eval_config(
        validate_run_config(base, where=f"--images {path}"),
        EvalSettings(
            metrics=settings.metrics,
            counts=counts,
            fid_reference=settings.fid_reference,
            inception_graph=settings.inception_graph,
        ),
    )
    real = run_data(config) if needs_real_data(config) else None
    if real is not None and isinstance(real, np.ndarray):
        config = config.replace(
            **{key: min(getattr(config, key), len(real)) for key in names.real_count_keys()}
        )
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
        context, at = metric_context(config, scratch, seed, generate, real)
        callbacks = build_metrics(config)
        setup_callbacks(callbacks, context, path)
        at(seed, 0)
        values: dict[str, float] = {}
        for cb in callbacks:
            cursor["at"] = 0
            values.update(cb.evaluate(context, 0))
            cb.release()
    for k, v in values.items():
        print(f"{k}: {v:.6f}", flush=True)
    return values
