"""The after-training subcommands of ``main.py``: their flags and argument checks.

``sample RUN_DIR``, ``evaluate RUN_DIR|TASK`` (or ``evaluate --images FILE --dataset NAME``),
``fid_stats --dataset NAME`` and ``export RUN_DIR --out DIR``; the work is done by
``gan.sample``, ``gan.evaluate``, ``gan.fid_stats`` and ``gan.export``. Bad input raises
``ConfigError`` (a ``gan.errors.UserError``: ``gan/cli.py`` prints it as one ``error:`` line and
exits 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from absl import flags

from gan.config import ConfigError

SAMPLE, EVALUATE, FID_STATS, EXPORT = "sample", "evaluate", "fid_stats", "export"
COMMANDS = (SAMPLE, EVALUATE, FID_STATS, EXPORT)

FLAGS = flags.FLAGS
flags.DEFINE_string("checkpoint", "latest", "sample/evaluate/export: the checkpoint: latest, "
                    "N (model-N, else the kept global_id-N), and for evaluate also kept or all.")
flags.DEFINE_string("num", "", "sample: images to write (default 50000); fid_stats: 'all' "
                    "(default) or a number of dataset images.")
flags.DEFINE_integer("seed", None, "sample: latent seed (default 0); evaluate: sample seed "
                     "(default: the run's seed, as training); fid_stats: subset seed (0).")
flags.DEFINE_string("out", None, "sample: a .npz, .npy or a folder for PNGs; export: the "
                    "folder to write; fid_stats: the file (default "
                    "<data_root>/fid_stats/<dataset>-<graph>-<N>.npz).")
flags.DEFINE_bool("overwrite", False, "sample/export/fid_stats: replace an existing output.")
flags.DEFINE_integer("batch_size", 256, "sample: latents per generator call.", lower_bound=1)
flags.DEFINE_list("metrics", None, "evaluate: metric names, e.g. inception_score,fid,kid,swd "
                  "(default: the run's metrics).")
flags.DEFINE_integer("is_num_samples", None, "evaluate: samples for the Inception Score.")
flags.DEFINE_integer("is_num_splits", None, "evaluate: splits of the Inception Score.")
flags.DEFINE_integer("fid_num_samples", None, "evaluate: generated samples for FID and KID.")
flags.DEFINE_integer("fid_num_real", None, "evaluate: real images for FID and KID (changing "
                     "it draws a new real subset instead of the run's).")
flags.DEFINE_integer("swd_num_samples", None, "evaluate: samples (and real images) for SWD.")
flags.DEFINE_string("fid_reference", None, "evaluate: FID against these statistics (a "
                    "fid_stats or TTUR .npz with mu and sigma).")
flags.DEFINE_string("inception_graph", None, "evaluate/fid_stats: the Inception graph file "
                    "(default: as training finds it).")
flags.DEFINE_string("images", None, "evaluate: score this image set (.npz, .npy or PNG folder) "
                    "against --dataset instead of a run.")
flags.DEFINE_string("dataset", None, "fid_stats, evaluate --images: the dataset name.")
flags.DEFINE_string("data_root", None, "fid_stats, evaluate --images: folder holding the "
                    "datasets (default: data/).")

_OWN = {"checkpoint", "num", "seed", "out", "overwrite", "batch_size", "metrics",
        "is_num_samples", "is_num_splits", "fid_num_samples", "fid_num_real", "swd_num_samples",
        "fid_reference", "inception_graph", "images", "dataset", "data_root"}
_COUNTS = ("is_num_samples", "is_num_splits", "fid_num_samples", "fid_num_real",
           "swd_num_samples")
_USED = {
    SAMPLE: {"checkpoint", "num", "seed", "out", "overwrite", "batch_size"},
    EVALUATE: {"checkpoint", "seed", "metrics", "fid_reference", "inception_graph", "images",
               "dataset", "data_root", "only", "shard", "results_dir", *_COUNTS},
    FID_STATS: {"num", "seed", "out", "overwrite", "inception_graph", "dataset", "data_root"},
    EXPORT: {"checkpoint", "out", "overwrite"},
}
# main.py's training and report flags that no after-training command reads.
_MAIN = {"dry_run", "only", "set", "results_dir", "force_rerun", "gpu", "shard"}


def _check_flags(command: str) -> None:
    unused = sorted(name for name in (_OWN | _MAIN) - _USED[command] if FLAGS[name].present)
    if unused:
        raise ConfigError(f"{', '.join('--' + n for n in unused)}: not used by {command}")


def _one_arg(command: str, args: Sequence[str], what: str) -> str:
    if len(args) != 1:
        raise ConfigError(f"{command} takes one {what}, got "
                          f"{' '.join(args) if args else 'none'}")
    return args[0]


def _num(default: int) -> int:
    text = FLAGS.num.strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--num {text!r}: expected a number of images") from None


def sample_command(args: Sequence[str]) -> int:
    """``sample RUN_DIR [--out PATH] [--num N] [--seed S] [--checkpoint C]``."""
    from gan.sample import DEFAULT_NUM, sample_run

    _check_flags(SAMPLE)
    run_dir = _one_arg(SAMPLE, args, "run folder")
    out = FLAGS.out
    if not out:
        from gan.checkpoints import require_run_folder
        from gan.run_folder import EVAL_DIR, EVAL_SAMPLES_FILE

        out = os.path.join(require_run_folder(run_dir), EVAL_DIR, EVAL_SAMPLES_FILE)
        os.makedirs(os.path.dirname(out), exist_ok=True)
    sample_run(run_dir, out, num=_num(DEFAULT_NUM), seed=FLAGS.seed or 0,
               checkpoint=FLAGS.checkpoint, batch_size=FLAGS.batch_size,
               overwrite=FLAGS.overwrite)
    return 0


def evaluate_settings():
    """The ``EvalSettings`` given by the flags."""
    from gan.evaluate import EvalSettings

    return EvalSettings(metrics=FLAGS.metrics, counts={k: FLAGS[k].value for k in _COUNTS},
                        fid_reference=FLAGS.fid_reference, inception_graph=FLAGS.inception_graph,
                        seed=FLAGS.seed, checkpoint=FLAGS.checkpoint)


def evaluate_command(args: Sequence[str], task_runs: Callable[[str], list[str]]) -> int:
    """``evaluate RUN_DIR|TASK`` or ``evaluate --images FILE --dataset NAME``; ``task_runs``
    gives the run folders of a task argument (after ``--only`` and ``--shard``)."""
    from gan.evaluate import evaluate_images, evaluate_run
    from gan.run_folder import is_run_folder

    _check_flags(EVALUATE)
    settings = evaluate_settings()
    if FLAGS.images:
        if args:
            raise ConfigError(f"evaluate --images takes no run or task, got {' '.join(args)}")
        if not FLAGS.dataset:
            raise ConfigError("evaluate --images needs --dataset (the real images to compare "
                              "with)")
        evaluate_images(FLAGS.images, FLAGS.dataset, settings, FLAGS.data_root)
        return 0
    for name in ("dataset", "data_root"):
        if FLAGS[name].present:
            raise ConfigError(f"--{name}: used by evaluate --images only")
    target = _one_arg(EVALUATE, args, "run folder or task")
    if is_run_folder(target):
        for name in ("only", "shard"):
            if FLAGS[name].present:
                raise ConfigError(f"--{name}: selects runs of a task, not of one run folder")
        evaluate_run(target, settings)
        return 0
    if os.path.isdir(target) and not os.path.isfile(os.path.join(target, "config.py")):
        from gan.checkpoints import require_run_folder

        require_run_folder(target)  # says it is not a run folder
    from gan.checkpoints import list_checkpoints

    run_dirs = task_runs(target)
    done = 0
    for run_dir in run_dirs:
        if not is_run_folder(run_dir) or not list_checkpoints(run_dir):
            print(f"{run_dir}: no checkpoint yet, skipped", flush=True)
            continue
        evaluate_run(run_dir, settings)
        done += 1
    print(f"evaluated {done} of {len(run_dirs)} runs", flush=True)
    return 0


def fid_stats_command(args: Sequence[str]) -> int:
    """``fid_stats --dataset NAME [--num all|N] [--out FILE]``."""
    from gan.fid_stats import fid_stats_command as run

    _check_flags(FID_STATS)
    if args:
        raise ConfigError(f"fid_stats takes no positional argument, got {' '.join(args)}")
    if not FLAGS.dataset:
        raise ConfigError("fid_stats needs --dataset (e.g. cifar10)")
    run(FLAGS.dataset, FLAGS.data_root, FLAGS.num or "all", FLAGS.seed or 0,
        FLAGS.inception_graph, FLAGS.out, FLAGS.overwrite)
    return 0


def export_command(args: Sequence[str]) -> int:
    """``export RUN_DIR --out DIR [--checkpoint C]``."""
    from gan.export import export_run

    _check_flags(EXPORT)
    run_dir = _one_arg(EXPORT, args, "run folder")
    if not FLAGS.out:
        raise ConfigError("export needs --out DIR (the folder to write)")
    export_run(run_dir, FLAGS.out, checkpoint=FLAGS.checkpoint, overwrite=FLAGS.overwrite)
    return 0
