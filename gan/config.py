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
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gan.dataset_files import IMAGE_SIZE
from gan.errors import ConfigError
from gan.keys import (
    REQUIRED,
    Key,
    check_value,
    non_negative,
    one_of,
    optional_positive,
    positive,
    unknown_key_message,
)
from gan.metrics.names import check_metrics, metric_keys
from gan.modes import GAMMAS, SN_MODES
from gan.networks.specs import STREAMED_DATASETS, check_network, known_network
from gan.plugins import load_plugins


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


def _module_names(v: Any) -> str | None:
    if all(isinstance(m, str) and m and all(p.isidentifier() for p in m.split(".")) for m in v):
        return None
    return "a list of module names (strings such as 'my_package.my_networks')"


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


@dataclass(frozen=True, init=False)
class RunConfig:
    """One run's validated config: every key of :data:`RUN_KEYS` as an attribute.

    Constructing one imports the ``plugins`` modules first (they may register networks and
    metrics), then checks every value and every combination (:meth:`_check_rules`); ``where``
    names the source in the messages. The registered metrics' own keys (their counts and
    settings, :mod:`gan.metrics.names`) are read as attributes like the fields. Build one from
    a dict with :func:`validate_run_config`, change one with :meth:`replace`.
    """

    plugins: tuple[str, ...] = _key(
        (list, tuple),
        (),
        "modules imported before the rest of the config is checked, e.g. ['my_networks']: "
        "they register networks and metrics (importable from the project folder, where runs "
        "start)",
        _module_names,
    )
    # what is trained
    dataset: str = _key(_STR, REQUIRED, "training data", one_of(DATASETS))
    network: str = _key(_STR, "cnn", "generator/discriminator architecture", known_network)
    loss: str = _key(_STR, "hinge", "GAN loss", one_of(LOSSES))
    gamma: str = _key(
        _STR,
        "none",
        "learnable D scaling: none, one shared (same) or per layer (diff)",
        one_of(GAMMAS),
    )
    sn_mode: str = _key(
        _STR, "SN", "spectral normalization of D: none, SN or BSN", one_of(SN_MODES)
    )
    scale: float = _key(
        _NUM, 1.0, "constant factor on every normalized D kernel (SSN/BSSN when != 1)", positive
    )
    d_gp_coe: float | None = _key(_NUM, None, "gradient-penalty coefficient (WGAN-GP only)")
    mg: int | None = _key(
        _INT, None, "CNN generator's first feature-map size (4/6/8 for 32/48/64 px)", positive
    )
    network_width: float = _key(
        _NUM,
        1.0,
        "channel multiplier of G and D, CNN and ResNet (1.0: "
        "the paper's networks; smaller for the quickstart, quick tries "
        "and tests)",
        positive,
    )
    latent_dim: int = _key(_INT, 128, "size of z", positive)
    # schedule
    iteration: int = _key(_INT, REQUIRED, "number of training iterations", positive)
    run: int = _key(
        _INT, 0, "repetition index (a label; also the default seed offset)", non_negative
    )
    seed: int | None = _key(
        _INT + (type(None),), None, "seed for weights and sampling; None draws one"
    )
    batch_size: int = _key(_INT, 64, "batch size of every D and G step (CNN)", positive)
    d_batch_size: int | None = _key(
        _INT, None, "batch of each D step (ResNet; split over num_gpus)", positive
    )
    g_batch_size: int | None = _key(
        _INT, None, "batch of the G step (ResNet; split over num_gpus)", positive
    )
    n_dis: int = _key(_INT, 1, "D steps per iteration", positive)
    g_lr: float = _key(_NUM, 1e-4, "G Adam learning rate", positive)
    g_beta1: float = _key(_NUM, 0.5, "G Adam beta1", non_negative)
    g_beta2: float = _key(_NUM, 0.999, "G Adam beta2", non_negative)
    d_lr: float = _key(_NUM, 1e-4, "D Adam learning rate", positive)
    d_beta1: float = _key(_NUM, 0.5, "D Adam beta1", non_negative)
    d_beta2: float = _key(_NUM, 0.999, "D Adam beta2", non_negative)
    num_gpus: int = _key(
        _INT,
        1,
        "devices one run splits each batch over (ResNet; the task's "
        "gpu entries must list that many ids)",
        positive,
    )
    # outputs
    summary_freq: int = _key(_INT, 1, "TensorBoard diagnostics every N iterations", positive)
    vis_freq: int = _key(_INT, 200, "sample grid every N iterations", positive)
    vis_num_h: int = _key(_INT, 10, "sample grid rows", positive)
    vis_num_w: int = _key(_INT, 10, "sample grid columns", positive)
    metric_freq: int = _key(_INT, 10000, "metrics every N iterations", positive)
    save_checkpoint_freq: int = _key(_INT, 10000, "checkpoint every N iterations", positive)
    extra_checkpoint_freq: int | None = _key(
        _INT + (type(None),),
        None,
        "kept checkpoint every N iterations (None: never)",
        optional_positive,
    )
    time_freq: int = _key(_INT, 1000, "time.txt line every N iterations", positive)
    restore: bool = _key(_BOOL, False, "accepted for the original configs; runs always resume")
    # metrics
    metrics: tuple[str, ...] = _key(
        (list, tuple), ("inception_score", "fid"), "metric callbacks, in CSV order", _metric_list
    )
    metric_batch_size: int = _key(_INT, 64, "batch size of the metric networks", positive)
    inception_batch_size: int = _key(
        _INT,
        0,
        "images per Inception forward (0: 16 without a GPU, metric_batch_size with one)",
        non_negative,
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
        one_of(MISSING_INCEPTION),
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
        one_of(PRECISIONS),
    )
    diagnostics: bool = _key(_BOOL, True, "log sigmas and gradient norms every summary_freq")
    inter_op_threads: int = _key(
        _INT,
        0,
        "ops TensorFlow may run side by side (0: 1 on a "
        "machine without a GPU, where each op already uses every "
        "core; TensorFlow's default with one)",
        non_negative,
    )
    gpu_memory_growth: bool = _key(
        _BOOL,
        True,
        "let TensorFlow take GPU memory as it needs it "
        "instead of all of it at start, so several runs can share "
        "one GPU (e.g. 'gpu': ['0', '0']); False: TensorFlow's "
        "default",
    )

    # the registered metrics' own keys (gan/metrics/names.py), in registration order
    metric_values: tuple[tuple[str, Any], ...] = dataclasses.field(
        default=(), init=False, repr=False
    )

    def __init__(self, *, where: str = "config", **values: Any) -> None:
        """Check ``values`` (a run config's keys; ``where`` names the source in messages)."""
        plugins = values.get("plugins", ())
        check_value("plugins", plugins, FIELD_KEYS["plugins"], where)
        load_plugins(plugins, where)  # before the rest: they may register networks and metrics
        own = metric_keys()
        for key in values:
            if key not in FIELD_KEYS and key not in own:
                raise ConfigError(unknown_key_message(key, RUN_KEYS, where))
        extra = []
        for key, spec in (*FIELD_KEYS.items(), *own.items()):  # the first problem in order
            value = values.get(key, spec.default)
            if value is REQUIRED:
                raise ConfigError(f"{where}: missing required key {key!r} ({spec.doc})")
            check_value(key, value, spec, where)
            if isinstance(value, list):
                value = tuple(value)
            if key in FIELD_KEYS:
                object.__setattr__(self, key, value)
            else:
                extra.append((key, value))
        object.__setattr__(self, "metric_values", tuple(extra))
        self._check_rules(where)

    def __getattr__(self, name: str) -> Any:
        """A registered metric's key (``fid_num_samples`` ...), read like the other keys."""
        for key, value in self.__dict__.get("metric_values", ()):
            if key == name:
                return value
        raise AttributeError(f"{type(self).__name__!r} has no key {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Every key and value, lists for sequences (what ``config.json`` holds)."""
        return {key: self.value(key) for key in (*FIELD_KEYS, *dict(self.metric_values))}

    def value(self, key: str) -> Any:
        """The value of ``key`` as a config file writes it (a list for a sequence)."""
        value = getattr(self, key)
        return list(value) if isinstance(value, tuple) else value

    def replace(self, where: str = "config", **changes: Any) -> RunConfig:
        """A copy with ``changes`` applied, checked as a new config (unknown keys refused)."""
        return RunConfig(**{**self.to_dict(), **changes}, where=where)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The (H, W, C) of the dataset's images as the training code loads them."""
        size = IMAGE_SIZE[self.dataset]
        return size, size, 3

    def _check_rules(self, where: str) -> None:
        """Raise ConfigError for a combination of keys the code does not train with."""
        try:
            check_metrics(self.metrics, self.dataset, self)
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


#: The keys every run config has (the fields of :class:`RunConfig`).
FIELD_KEYS: dict[str, Key] = {
    f.name: f.metadata["key"] for f in dataclasses.fields(RunConfig) if "key" in f.metadata
}


class _RunKeys(Mapping[str, Key]):
    """Every key a run config may have: its fields, then the registered metrics' own keys
    (a live view: a metric registered later adds its keys)."""

    def _all(self) -> dict[str, Key]:
        return {**FIELD_KEYS, **metric_keys()}

    def __getitem__(self, key: str) -> Key:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


RUN_KEYS: Mapping[str, Key] = _RunKeys()


SCHEDULER_KEYS: dict[str, Key] = {
    "gpu": Key((list,), REQUIRED, "one entry per worker: an id string or a list of ids"),
    "force_rerun": Key(_BOOL, False, "rerun runs that already completed"),
    "result_root_folder": Key(
        _STR + (type(None),), None, "where run folders go (default results/<task>)"
    ),
    "log_file": Key(_STR + (type(None),), "worker.log", "per-run stdout+stderr file"),
    "scheduler_log_file_path": Key(_STR + (type(None),), "scheduler.log", "scheduler log"),
    "temp_folder": Key(_STR, "temp", "accepted for the original configs; unused"),
    "config_string_value_maxlen": Key(_INT, 30, "folder names cut each value to this", positive),
    "ignored_keys_for_folder_name": Key((list,), [], "test keys left out of folder names"),
    "ignored_characters_for_folder_name": Key(
        (list,), [" ", "[", "]"], "characters removed from folder names"
    ),
    "test_config_string_indicator": Key(_STR, "-", "between key and value in folder names"),
    "test_config_string_separator": Key(_STR, ",", "after each value in folder names"),
    "test_config_string_inst_separator": Key(_STR, "+", "accepted for the original configs"),
}


def fill_and_check(cfg: dict[str, Any], known: Mapping[str, Key], where: str) -> dict[str, Any]:
    """Return ``cfg`` with defaults filled in, after checking every key and value."""
    for key in cfg:
        if key not in known:
            raise ConfigError(unknown_key_message(key, known, where))
    out: dict[str, Any] = {}
    for key, spec in known.items():
        if key in cfg:
            value = cfg[key]
        elif spec.default is REQUIRED:
            raise ConfigError(f"{where}: missing required key {key!r} ({spec.doc})")
        else:
            value = spec.default
        check_value(key, value, spec, where)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def with_defaults_of_new_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` (a run's ``config.json``) plus each run-config key it lacks whose value in
    ``new`` is that key's default: a key added to the code after the run started, which leaves
    the run's meaning as it was."""
    keys = {**FIELD_KEYS, **metric_keys()}
    added = {}
    for key, value in new.items():
        if key not in old and key in keys and keys[key].default is not REQUIRED:
            default = keys[key].default
            if value == (list(default) if isinstance(default, tuple) else default):
                added[key] = value
    return {**old, **added}


def validate_run_config(cfg: Mapping[str, Any], where: str = "config") -> RunConfig:
    """Check one expanded run config (a dict) and return it as a :class:`RunConfig`."""
    return RunConfig(**cfg, where=where)


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
