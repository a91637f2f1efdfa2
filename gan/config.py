"""The run config: every key a run may have, its type, default and meaning, and every rule.

A task's ``config.py`` keeps the original grammar (``scheduler_config``, ``global_config``,
``test_config``); each expanded run config (global keys updated by one test combination) becomes
a :class:`RunConfig`, a frozen object whose construction checks each key and every combination
the code supports (metric names, network, precision and dataset), so a misspelt key or a wrong
value fails before anything trains, with a message naming the key, the value and what was
expected. Code reads its attributes; ``config.json`` holds :meth:`RunConfig.to_dict`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import InitVar, dataclass
from typing import Any

from gan.data import IMAGE_SIZE
from gan.errors import ConfigError
from gan.metrics.names import check_metrics
from gan.modes import GAMMAS, SN_MODES
from gan.networks.specs import NETWORKS, network_spec, networks_where


def _project_root() -> str:
    """The clone holding this package (its ``tasks/`` and ``main.py`` next to ``gan/``), or the
    working directory when the package is installed (site-packages is no place for data)."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tasks, main = os.path.join(parent, "tasks"), os.path.join(parent, "main.py")
    is_clone = os.path.isdir(tasks) and os.path.isfile(main)
    return parent if is_clone else os.getcwd()


# data/, results/ and tasks/ are looked for here; runs are launched with it as working directory.
REPO_ROOT = _project_root()
DEFAULT_DATA_ROOT = os.path.join(REPO_ROOT, "data")
DEFAULT_RESULTS_ROOT = os.path.join(REPO_ROOT, "results")

DATASETS = ("cifar10", "stl10", "celeba", "imagenet", "shapes")
LOSSES = ("hinge", "wgan_gp")
MISSING_INCEPTION = ("error", "skip")
PRECISIONS = ("float32", "mixed_bfloat16")
STREAMED_DATASETS = ("imagenet",)


_REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One known run-config key: accepted types, default and an extra check."""

    types: tuple[type, ...]
    default: Any
    doc: str
    check: Callable[[Any], str | None] | None = None


def _positive(v: Any) -> str | None:
    return None if v > 0 else "a positive number"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "a number >= 0"


def _one_of(choices: Collection[str]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else "one of " + ", ".join(repr(c) for c in choices)

    return check


def _optional_positive(v: Any) -> str | None:
    return None if v is None or v > 0 else "a positive integer or None (never)"


def _metric_list(v: Any) -> str | None:
    if all(isinstance(m, str) for m in v):
        return None
    return "a list of metric names (strings)"


_INT = (int,)
_NUM = (int, float)
_STR = (str,)
_BOOL = (bool,)


def _key(
    types: tuple[type, ...],
    default: Any,
    doc: str,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """A :class:`RunConfig` field described by a :class:`Key` (a required one defaults to a
    marker that construction refuses)."""
    return dataclasses.field(default=default, metadata={"key": Key(types, default, doc, check)})


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """One run's validated config: every key of :data:`RUN_KEYS` as an attribute.

    Constructing one checks every value and every combination (:meth:`_check_rules`);
    ``where`` names the source in the messages. Build one from a dict with
    :func:`validate_run_config`, change one with :meth:`replace`.
    """

    # what is trained
    dataset: str = _key(_STR, _REQUIRED, "training data", _one_of(DATASETS))
    network: str = _key(_STR, "cnn", "generator/discriminator architecture", _one_of(NETWORKS))
    loss: str = _key(_STR, "hinge", "GAN loss", _one_of(LOSSES))
    gamma: str = _key(
        _STR,
        "none",
        "learnable D scaling: none, one shared (same) or per layer (diff)",
        _one_of(GAMMAS),
    )
    sn_mode: str = _key(
        _STR, "SN", "spectral normalization of D: none, SN or BSN", _one_of(SN_MODES)
    )
    scale: float = _key(
        _NUM, 1.0, "constant factor on every normalized D kernel (SSN/BSSN when != 1)", _positive
    )
    d_gp_coe: float | None = _key(_NUM, None, "gradient-penalty coefficient (WGAN-GP only)")
    mg: int | None = _key(
        _INT, None, "CNN generator's first feature-map size (4/6/8 for 32/48/64 px)", _positive
    )
    network_width: float = _key(
        _NUM,
        1.0,
        "channel multiplier of G and D, CNN and ResNet (1.0: "
        "the paper's networks; smaller for the quickstart, quick tries "
        "and tests)",
        _positive,
    )
    latent_dim: int = _key(_INT, 128, "size of z", _positive)
    # schedule
    iteration: int = _key(_INT, _REQUIRED, "number of training iterations", _positive)
    run: int = _key(
        _INT, 0, "repetition index (a label; also the default seed offset)", _non_negative
    )
    seed: int | None = _key(
        _INT + (type(None),), None, "seed for weights and sampling; None draws one"
    )
    batch_size: int = _key(_INT, 64, "batch size of every D and G step (CNN)", _positive)
    d_batch_size: int | None = _key(
        _INT, None, "batch of each D step (ResNet; split over num_gpus)", _positive
    )
    g_batch_size: int | None = _key(
        _INT, None, "batch of the G step (ResNet; split over num_gpus)", _positive
    )
    n_dis: int = _key(_INT, 1, "D steps per iteration", _positive)
    g_lr: float = _key(_NUM, 1e-4, "G Adam learning rate", _positive)
    g_beta1: float = _key(_NUM, 0.5, "G Adam beta1", _non_negative)
    g_beta2: float = _key(_NUM, 0.999, "G Adam beta2", _non_negative)
    d_lr: float = _key(_NUM, 1e-4, "D Adam learning rate", _positive)
    d_beta1: float = _key(_NUM, 0.5, "D Adam beta1", _non_negative)
    d_beta2: float = _key(_NUM, 0.999, "D Adam beta2", _non_negative)
    num_gpus: int = _key(
        _INT,
        1,
        "devices one run splits each batch over (ResNet; the task's "
        "gpu entries must list that many ids)",
        _positive,
    )
    # outputs
    summary_freq: int = _key(_INT, 1, "TensorBoard diagnostics every N iterations", _positive)
    vis_freq: int = _key(_INT, 200, "sample grid every N iterations", _positive)
    vis_num_h: int = _key(_INT, 10, "sample grid rows", _positive)
    vis_num_w: int = _key(_INT, 10, "sample grid columns", _positive)
    metric_freq: int = _key(_INT, 10000, "metrics every N iterations", _positive)
    save_checkpoint_freq: int = _key(_INT, 10000, "checkpoint every N iterations", _positive)
    extra_checkpoint_freq: int | None = _key(
        _INT + (type(None),),
        None,
        "kept checkpoint every N iterations (None: never)",
        _optional_positive,
    )
    time_freq: int = _key(_INT, 1000, "time.txt line every N iterations", _positive)
    restore: bool = _key(_BOOL, False, "accepted for the original configs; runs always resume")
    # metrics
    metrics: tuple[str, ...] = _key(
        (list, tuple), ("inception_score", "fid"), "metric callbacks, in CSV order", _metric_list
    )
    metric_batch_size: int = _key(_INT, 64, "batch size of the metric networks", _positive)
    inception_batch_size: int = _key(
        _INT,
        0,
        "images per Inception forward (0: 16 without a GPU, metric_batch_size with one)",
        _non_negative,
    )
    is_num_samples: int = _key(_INT, 50000, "generated samples for the Inception Score", _positive)
    is_num_splits: int = _key(_INT, 10, "splits for the Inception Score", _positive)
    fid_num_samples: int = _key(_INT, 10000, "generated samples for FID", _positive)
    fid_num_real: int = _key(_INT, 5000, "real images for FID (a subset fixed per run)", _positive)
    fid_reference: str | None = _key(
        _STR + (type(None),),
        None,
        "FID against these fixed "
        "statistics (mu, sigma .npz from `main.py fid_stats`) "
        "instead of the run's fid_num_real subset (None)",
    )
    inception_graph: str | None = _key(
        _STR + (type(None),),
        None,
        "path of inceptionv1_for_inception_score.pb (None: cache/download)",
    )
    on_missing_inception: str = _key(
        _STR,
        "error",
        "what to do when the Inception graph cannot be had",
        _one_of(MISSING_INCEPTION),
    )
    swd_num_samples: int = _key(_INT, 2048, "generated (and real) images for SWD", _positive)
    swd_patches_per_image: int = _key(
        _INT, 64, "SWD patches per image and pyramid level", _positive
    )
    # data and speed
    data_root: str = _key(_STR, DEFAULT_DATA_ROOT, "folder holding CIFAR10/, STL10/, CelebA/, ...")
    imagenet_allow_subset: bool = _key(
        _BOOL,
        False,
        "accept an ImageNet folder with fewer than "
        "the 1000 classes / 1,281,167 images of ILSVRC2012 "
        "(quick tries)",
    )
    jit_compile: bool = _key(_BOOL, False, "compile the training step with XLA")
    precision: str = _key(
        _STR,
        "float32",
        "float32, or mixed_bfloat16 (bfloat16 convolutions "
        "and matmuls; spectral-norm math, batch-norm statistics, losses and "
        "variables stay float32)",
        _one_of(PRECISIONS),
    )
    diagnostics: bool = _key(_BOOL, True, "log sigmas and gradient norms every summary_freq")
    inter_op_threads: int = _key(
        _INT,
        0,
        "ops TensorFlow may run side by side (0: 1 on a "
        "machine without a GPU, where each op already uses every "
        "core; TensorFlow's default with one)",
        _non_negative,
    )
    gpu_memory_growth: bool = _key(
        _BOOL,
        True,
        "let TensorFlow take GPU memory as it needs it "
        "instead of all of it at start, so several runs can share "
        "one GPU (e.g. 'gpu': ['0', '0']); False: TensorFlow's "
        "default",
    )

    where: InitVar[str] = "config"

    def __post_init__(self, where: str) -> None:
        for f in dataclasses.fields(self):  # the first problem in schema order
            value, spec = getattr(self, f.name), f.metadata["key"]
            if value is _REQUIRED:
                raise ConfigError(f"{where}: missing required key {f.name!r} ({spec.doc})")
            check_value(f.name, value, spec, where)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        self._check_rules(where)

    def to_dict(self) -> dict[str, Any]:
        """Every key and value, lists for sequences (what ``config.json`` holds)."""
        return {f.name: self.value(f.name) for f in dataclasses.fields(self)}

    def value(self, key: str) -> Any:
        """The value of ``key`` as a config file writes it (a list for a sequence)."""
        value = getattr(self, key)
        return list(value) if isinstance(value, tuple) else value

    def replace(self, where: str = "config", **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied, checked as a new config (unknown keys refused)."""
        for key in changes:
            if key not in RUN_KEYS:
                raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
        return dataclasses.replace(self, where=where, **changes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The (H, W, C) of the dataset's images as the training code loads them."""
        size = IMAGE_SIZE[self.dataset]
        return size, size, 3

    def _check_rules(self, where: str) -> None:
        """Raise ConfigError for a combination of keys the code does not train with."""
        try:
            check_metrics(self)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if self.loss == "wgan_gp":
            if self.d_gp_coe is None:
                raise ConfigError(
                    f"{where}: loss 'wgan_gp' needs d_gp_coe (the penalty "
                    "coefficient, 10 in the paper)"
                )
            if self.d_gp_coe < 0:
                raise ConfigError(f"{where}: d_gp_coe = {self.d_gp_coe!r}, expected a number >= 0")
        check_network(self, self.image_shape, where)
        if self.jit_compile and (self.num_gpus > 1 or self.dataset in STREAMED_DATASETS):
            raise ConfigError(
                f"{where}: jit_compile is not available with num_gpus > 1 or the "
                "streamed imagenet data"
            )
        if self.gamma != "none" and self.scale != 1.0:
            raise ConfigError(
                f"{where}: gamma {self.gamma!r} learns the scale; leave scale at "
                f"1.0 (got {self.scale!r})"
            )
        if self.sn_mode == "none" and self.gamma != "none":
            raise ConfigError(
                f"{where}: gamma {self.gamma!r} scales normalized layers; it needs "
                "sn_mode 'SN' or 'BSN'"
            )


RUN_KEYS: dict[str, Key] = {f.name: f.metadata["key"] for f in dataclasses.fields(RunConfig)}


SCHEDULER_KEYS: dict[str, Key] = {
    "gpu": Key((list,), _REQUIRED, "one entry per worker: an id string or a list of ids"),
    "force_rerun": Key(_BOOL, False, "rerun runs that already completed"),
    "result_root_folder": Key(
        _STR + (type(None),), None, "where run folders go (default results/<task>)"
    ),
    "log_file": Key(_STR + (type(None),), "worker.log", "per-run stdout+stderr file"),
    "scheduler_log_file_path": Key(_STR + (type(None),), "scheduler.log", "scheduler log"),
    "temp_folder": Key(_STR, "temp", "accepted for the original configs; unused"),
    "config_string_value_maxlen": Key(_INT, 30, "folder names cut each value to this", _positive),
    "ignored_keys_for_folder_name": Key((list,), [], "test keys left out of folder names"),
    "ignored_characters_for_folder_name": Key(
        (list,), [" ", "[", "]"], "characters removed from folder names"
    ),
    "test_config_string_indicator": Key(_STR, "-", "between key and value in folder names"),
    "test_config_string_separator": Key(_STR, ",", "after each value in folder names"),
    "test_config_string_inst_separator": Key(_STR, "+", "accepted for the original configs"),
}


def _type_name(types: tuple[type, ...]) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "True/False",
        list: "a list",
        tuple: "a list",
        type(None): "None",
    }
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def unknown_key_message(key: str, known: dict[str, Key], where: str) -> str:
    """The error text for a key not in ``known``, with the closest known names."""
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(sorted(known))}"


def check_value(key: str, value: Any, spec: Key, where: str) -> None:
    """Raise ConfigError unless ``value`` has the type and range ``spec`` asks for."""
    if value is None and spec.default is None:
        return
    ok_type = isinstance(value, spec.types) and not (
        isinstance(value, bool) and bool not in spec.types
    )
    if isinstance(value, float) and not math.isfinite(value):
        ok_type = False
    if not ok_type:
        raise ConfigError(f"{where}: {key} = {value!r}, expected {_type_name(spec.types)}")
    if spec.check is not None and value is not None:
        problem = spec.check(value)
        if problem:
            raise ConfigError(f"{where}: {key} = {value!r}, expected {problem}")


def fill_and_check(cfg: dict[str, Any], known: dict[str, Key], where: str) -> dict[str, Any]:
    """Return ``cfg`` with defaults filled in, after checking every key and value."""
    for key in cfg:
        if key not in known:
            raise ConfigError(unknown_key_message(key, known, where))
    out: dict[str, Any] = {}
    for key, spec in known.items():
        if key in cfg:
            value = cfg[key]
        elif spec.default is _REQUIRED:
            raise ConfigError(f"{where}: missing required key {key!r} ({spec.doc})")
        else:
            value = spec.default
        check_value(key, value, spec, where)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def validate_run_config(cfg: Mapping[str, Any], where: str = "config") -> RunConfig:
    """Check one expanded run config (a dict) and return it as a :class:`RunConfig`."""
    for key in cfg:
        if key not in RUN_KEYS:
            raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
    return RunConfig(**cfg, where=where)


def check_network(config: RunConfig, image_shape: tuple[int, ...], where: str = "config") -> None:
    """Raise ConfigError unless ``config``'s network (its :class:`~gan.networks.specs.
    NetworkSpec`) trains with this config and ``image_shape`` (H, W, C): the keys it needs,
    the streamed data, the dataset, the batch split over ``num_gpus``, the precision and the
    image size (e.g. the CNN's ``mg``). Checked for the dataset's images when a config is made,
    and again when a run builds its networks for the images it loaded.
    """
    spec = network_spec(config.network)
    name = spec.name
    for key, what in spec.needs.items():
        if getattr(config, key) is None:
            raise ConfigError(
                f"{where}: network {name!r} needs {key}" + (f" ({what})" if what else "")
            )
    if config.dataset in STREAMED_DATASETS and not spec.streams_data:
        streaming = " or ".join(repr(s.name) for s in networks_where(lambda s: s.streams_data))
        raise ConfigError(f"{where}: dataset {config.dataset!r} needs network {streaming}")
    if spec.datasets is not None and config.dataset not in spec.datasets:
        raise ConfigError(
            f"{where}: network {name!r} trains on dataset "
            f"{' or '.join(map(repr, spec.datasets))} only, not "
            f"{config.dataset!r}"
        )
    for key in spec.split_keys:
        value = getattr(config, key)
        if value is not None and value % config.num_gpus:
            raise ConfigError(
                f"{where}: {key} = {value} does not split evenly over "
                f"num_gpus = {config.num_gpus} devices"
            )
    if config.num_gpus != 1 and not spec.split_keys:
        split = " or ".join(repr(s.name) for s in networks_where(lambda s: bool(s.split_keys)))
        raise ConfigError(
            f"{where}: num_gpus = {config.num_gpus}: splitting batches over "
            f"devices is implemented for network {split} only; use num_gpus 1"
        )
    if config.precision not in spec.precisions:
        titles = " and ".join(
            s.title for s in networks_where(lambda s: config.precision in s.precisions)
        )
        raise ConfigError(
            f"{where}: precision {config.precision!r} is implemented for the "
            f"{titles} networks only; use precision {spec.precisions[0]!r} with "
            f"network {name!r}"
        )
    problem = (
        spec.check_images(config, int(image_shape[0]), int(image_shape[1]))
        if spec.check_images
        else None
    )
    if problem:
        raise ConfigError(f"{where}: {problem}")


def parse_assignments(text: str, where: str) -> dict[str, Any]:
    """Parse ``k=v,k2=v2`` (values as Python literals, else strings) from a command-line flag."""
    out: dict[str, Any] = {}
    if not text:
        return out
    for item in _split_top_level(text):
        if "=" not in item:
            raise ConfigError(f"{where}: {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        key, raw = key.strip(), raw.strip()
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out[key] = value
    return out


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if cur:
        parts.append("".join(cur))
    return [p for p in (p.strip() for p in parts) if p]
