"""Training-step speed and memory of the CNN configs: ``python benchmarks/train_step.py``.

In one run it prints:

* the machine's fp32 matmul throughput (GFLOP/s of ``[n, n] @ [n, n]`` inside ``tf.function``,
  median of repeated calls), the bound the training step is compared with;
* per config (cifar10, stl10, celeba CNN; batch 64, n_dis 1 as in the paper's CIFAR runs)
  and with / without the per-iteration diagnostics (sigmas and input-gradient norms): the
  median ms per iteration over ``--iters`` iterations after warm-up, for this port's step and,
  with ``--reference``, for the original's schedule computed the straightforward way
  (``tests/straightforward_iteration.py``);
* the FLOPs per iteration, counted by TensorFlow's graph profiler
  (``tf.compat.v1.profiler`` ``float_operation``: the registered FLOP statistics of every op
  in the traced step, i.e. convolutions, matmuls and their gradients at 2 FLOPs per
  multiply-add plus one per element of element-wise ops), for the original's schedule and for
  this port's step; the achieved GFLOP/s (the original's FLOPs over this step's time, the
  issue's measure) and its fraction of the matmul bound;
* peak RSS of the process, and with ``--celeba_memory`` the peak RSS of a CelebA run (a
  generated uint8 array of the real size, 202,599 x 64 x 64 x 3, loaded through the training
  code's own path, then ``Trainer.train``: the metrics set up, ``--memory_iterations``
  iterations (200: the step's memory settles over the first ~150), IS and FID half-way and
  at the end on a stand-in Inception graph of the real architecture
  (``benchmarks/metrics.py``'s Keras InceptionV3 with random weights), a checkpoint)
  measured in a fresh process.

With ``--compare_fit=cifar10`` it also times, in one process and interleaved over
``--alternations`` rounds, the same networks (batch 64, SN) with and without diagnostics run
by: the task trainer's step as its loop calls it (``Trainer.train_iteration``); that step with
one part switched to what ``fit`` does (a fixed real batch in place of the in-graph gather;
``z`` from ``BSNGAN``'s counter-based draw in place of the trainer's ``tf.random.Generator``);
``BSNGAN.fit`` on a NumPy array (each batch timed by a callback, from its start to its logs);
and the original's schedule computed the straightforward way.

Data is random uint8 of each dataset's shape, so no download is needed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from gan.bsn import BSNGAN  # noqa: E402
from gan.bsn.steps.tensorflow import paper_iteration  # noqa: E402
from gan.config import RunConfig, validate_run_config  # noqa: E402
from gan.dataset_files import IMAGE_SIZE, to_unit_range  # noqa: E402
from gan.run import configure_runtime  # noqa: E402
from gan.trainer import ADAM_EPSILON, Trainer  # noqa: E402
from tests.straightforward_iteration import straightforward_iteration  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["cifar10", "stl10", "celeba"], "CNN configs to measure")
flags.DEFINE_integer("iters", 30, "timed iterations per setting (after warm-up)")
flags.DEFINE_integer("warmup", 3, "untimed iterations per setting")
flags.DEFINE_integer("batch_size", 64, "batch size")
flags.DEFINE_integer("n_dis", 1, "D steps per iteration")
flags.DEFINE_string("sn_mode", "SN", "SN or BSN")
flags.DEFINE_integer("num_images", 2000, "size of the random in-memory dataset")
flags.DEFINE_bool("jit_compile", False, "compile the iteration with XLA")
flags.DEFINE_string("precision", "float32", "float32 or mixed_bfloat16")
flags.DEFINE_integer("inter_op_threads", 0, "the run config key (0: 1 without a GPU)")
flags.DEFINE_bool(
    "reference", True, "also time the original's schedule (tests/straightforward_iteration.py)"
)
flags.DEFINE_list(
    "compare_fit",
    [],
    "CNN configs whose trainer step, BSNGAN.fit step and original schedule are timed "
    "interleaved (e.g. cifar10)",
)
flags.DEFINE_integer("alternations", 3, "rounds of the --compare_fit timings")
flags.DEFINE_integer("matmul_n", 2048, "matrix size of the matmul throughput probe")
flags.DEFINE_bool(
    "celeba_memory",
    False,
    "measure a CelebA-sized run's peak RSS (writes a 2.5 GB .npy to a temporary folder)",
)
flags.DEFINE_list(
    "memory_metrics",
    ["inception_score", "fid"],
    "metrics the CelebA memory probe evaluates (IS/FID on a stand-in graph of the "
    "real architecture: Keras InceptionV3 with random weights)",
)
flags.DEFINE_integer("memory_is_samples", 1000, "is_num_samples of the memory probe")
flags.DEFINE_integer(
    "memory_is_splits",
    10,
    "is_num_splits of the memory probe (the paper's "
    "10 splits of 5,000 hold what 5,000 samples in 1 split hold)",
)
flags.DEFINE_integer("memory_fid_samples", 1000, "fid_num_samples of the memory probe")
flags.DEFINE_integer("memory_fid_real", 1000, "fid_num_real of the memory probe")
flags.DEFINE_integer(
    "memory_iterations",
    200,
    "training iterations of the memory probe (the step's memory settles over the first ~150)",
)
flags.DEFINE_integer(
    "memory_summary_freq",
    1,
    "summary_freq of the memory probe (the paper's "
    "1: diagnostics every iteration; > 1 also traces the step without them)",
)
flags.DEFINE_integer(
    "memory_images",
    202599,
    "images in the CelebA memory probe's array (the "
    "real set's 202,599; fewer only to check the script runs)",
)
flags.DEFINE_string("_memory_child", None, "internal: data root of the CelebA memory probe")

MG = {"cifar10": 4, "stl10": 6, "celeba": 8}


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def matmul_gflops(n: int, repeats: int = 10) -> float:
    """Median fp32 GFLOP/s of one ``[n, n] @ [n, n]`` (2 n^3 FLOPs) inside ``tf.function``."""
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    f = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    float(f(a, b))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        float(f(a, b))
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / float(np.median(times)) / 1e9


def graph_gflop(fn: tf.types.experimental.GenericFunction, *args) -> float:
    """GFLOP of one call of ``fn(*args)`` by the graph profiler's ``float_operation``."""
    graph = fn.get_concrete_function(*args).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops / 1e9


def median_seconds(step, iters: int, warmup: int) -> float:
    """Median seconds of ``step()``; each call reads one scalar back to wait for the device."""
    for _ in range(warmup):
        float(step()["loss/g"])
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        float(step()["loss/g"])
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def random_images(name: str) -> np.ndarray:
    """``--num_images`` random uint8 images of dataset ``name``'s shape."""
    size = IMAGE_SIZE[name]
    return np.random.default_rng(0).integers(
        0, 256, (FLAGS.num_images, size, size, 3), dtype=np.uint8
    )


def step_config(name: str) -> RunConfig:
    """The run config of dataset ``name``'s CNN at the flags' batch, n_dis, sn_mode."""
    return validate_run_config(
        dict(
            dataset=name,
            mg=MG[name],
            iteration=10**9,
            batch_size=FLAGS.batch_size,
            n_dis=FLAGS.n_dis,
            sn_mode=FLAGS.sn_mode,
            metrics=[],
            jit_compile=FLAGS.jit_compile,
            precision=FLAGS.precision,
        )
    )


def run_config(name: str, bound: float) -> None:
    images, cfg = random_images(name), step_config(name)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, run_dir, images, seed=0)
        reference = tf.function(
            lambda s: straightforward_iteration(trainer, s), jit_compile=FLAGS.jit_compile
        )
        for diag in (True, False):
            ref_gflop = graph_gflop(reference, diag)
            own_gflop = graph_gflop(trainer._iteration_fn, diag)
            sec = median_seconds(
                lambda d=diag: trainer.train_iteration(d), FLAGS.iters, FLAGS.warmup
            )
            ref_ms = "-"
            if FLAGS.reference:
                ref_sec = median_seconds(lambda d=diag: reference(d), FLAGS.iters, FLAGS.warmup)
                ref_ms = f"{ref_sec * 1000:.0f}"
            achieved = ref_gflop / sec
            print(
                f"| {name} | {'yes' if diag else 'no'} | {sec * 1000:.0f} | {ref_ms} | "
                f"{ref_gflop:.1f} | {own_gflop:.1f} | {achieved:.0f} | "
                f"{100 * achieved / bound:.0f}% |",
                flush=True,
            )


class BatchTimes(keras.callbacks.Callback):
    """Seconds of each ``fit`` batch, from its start to its logs (read back as numbers)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        float(logs["loss/g"])
        self.seconds.append(time.perf_counter() - self._start)


def fit_model(trainer: Trainer, diagnostics: bool) -> BSNGAN:
    """A ``BSNGAN`` of the trainer's networks, compiled with the run config's Adam settings."""
    cfg = trainer.config
    model = BSNGAN(trainer.generator, trainer.discriminator, seed=trainer.seed)
    model.compile(
        d_optimizer=keras.optimizers.Adam(
            cfg.d_lr, beta_1=cfg.d_beta1, beta_2=cfg.d_beta2, epsilon=ADAM_EPSILON
        ),
        g_optimizer=keras.optimizers.Adam(
            cfg.g_lr, beta_1=cfg.g_beta1, beta_2=cfg.g_beta2, epsilon=ADAM_EPSILON
        ),
        loss=cfg.loss,
        n_dis=cfg.n_dis,
        gp_weight=cfg.d_gp_coe if cfg.d_gp_coe is not None else 10.0,
        diagnostics=diagnostics,
    )
    return model


def fit_seconds(model: BSNGAN, real: np.ndarray, iters: int, warmup: int) -> float:
    """Median seconds of a ``fit`` batch over ``iters`` batches after ``warmup``."""
    timer = BatchTimes()
    model.fit(
        real,
        batch_size=FLAGS.batch_size * model.n_dis,
        epochs=1,
        steps_per_epoch=warmup + iters,
        verbose=0,
        callbacks=[timer],
    )
    return float(np.median(timer.seconds[warmup:]))


def fit_comparison(name: str) -> None:
    """Time the trainer's step, its variants, ``BSNGAN.fit`` and the original's schedule on
    the same networks, interleaved over ``--alternations`` rounds; print one row per round
    and setting, and the median ratios to the trainer's step."""
    images, cfg = random_images(name), step_config(name)
    steps = FLAGS.warmup + FLAGS.iters
    # fit's NumPy input: the same images in [-1, 1], repeated to last one call's batches.
    need = steps * FLAGS.batch_size * cfg.n_dis
    real = np.resize(to_unit_range(images), (max(need, len(images)),) + images.shape[1:])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cfg, run_dir, images, seed=0)
        s = trainer.schedule
        batch = s.batch_size
        models = {diag: fit_model(trainer, diag) for diag in (True, False)}
        fixed = tf.constant(real[: batch * s.n_dis].reshape((s.n_dis, batch) + images.shape[1:]))

        def variant(draw):
            return tf.function(lambda d: paper_iteration(s.parts, draw, s.n_dis, d))

        stepped = {
            "trainer": lambda d: trainer.train_iteration(d),
            "fixed real batch": variant(lambda i: (fixed[i], s.sample_z(batch))),
            "fit's z draw": variant(lambda i: (s.sample_real(batch), models[True].sample_z(batch))),
            "original schedule": tf.function(lambda d: straightforward_iteration(trainer, d)),
        }
        names = list(stepped) + ["BSNGAN.fit"]
        print(f"{name}, batch {batch}, n_dis {cfg.n_dis}, {cfg.sn_mode}: ms per iteration")
        print("| round | diagnostics | load (1 min) | " + " | ".join(names) + " |")
        print("|---" * (3 + len(names)) + "|")
        ratios: dict[str, list[float]] = {n: [] for n in names}
        for r in range(FLAGS.alternations):
            for diag in (True, False):
                order = names[r % len(names) :] + names[: r % len(names)]
                ms = {}
                for n in order:
                    if n == "BSNGAN.fit":
                        sec = fit_seconds(models[diag], real, FLAGS.iters, FLAGS.warmup)
                    else:
                        call = functools.partial(stepped[n], diag)
                        sec = median_seconds(call, FLAGS.iters, FLAGS.warmup)
                    ms[n] = 1000 * sec
                for n in names:
                    ratios[n].append(ms[n] / ms["trainer"])
                print(
                    f"| {r + 1} | {'yes' if diag else 'no'} | {os.getloadavg()[0]:.2f} | "
                    + " | ".join(f"{ms[n]:.0f}" for n in names)
                    + " |",
                    flush=True,
                )
        print("ratio to the trainer's step, median (range) over rounds and settings:")
        for n in names[1:]:
            print(f"  {n}: {np.median(ratios[n]):.3f} ({min(ratios[n]):.3f}-{max(ratios[n]):.3f})")


def celeba_memory() -> None:
    """Write a CelebA-sized uint8 array (and the stand-in Inception graph) and report a
    training process's peak RSS."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "CelebA"))
        path = os.path.join(root, "CelebA", "celeba.npy")
        shape = (FLAGS.memory_images, 64, 64, 3)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        rng = np.random.default_rng(0)
        for i in range(0, shape[0], 20000):
            out[i : i + 20000] = rng.integers(0, 256, out[i : i + 20000].shape, dtype=np.uint8)
        out.flush()
        del out
        if {"inception_score", "fid", "kid"} & set(FLAGS.memory_metrics):
            from benchmarks.metrics import keras_standin_graph_def

            with open(os.path.join(root, "inception.pb"), "wb") as f:
                f.write(keras_standin_graph_def().SerializeToString())
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            f"--_memory_child={root}",
            f"--batch_size={FLAGS.batch_size}",
            f"--precision={FLAGS.precision}",
            f"--inter_op_threads={FLAGS.inter_op_threads}",
            f"--memory_metrics={','.join(FLAGS.memory_metrics)}",
            f"--memory_is_samples={FLAGS.memory_is_samples}",
            f"--memory_is_splits={FLAGS.memory_is_splits}",
            f"--memory_fid_samples={FLAGS.memory_fid_samples}",
            f"--memory_fid_real={FLAGS.memory_fid_real}",
            f"--memory_summary_freq={FLAGS.memory_summary_freq}",
            f"--memory_iterations={FLAGS.memory_iterations}",
            f"--memory_images={FLAGS.memory_images}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        print(result.stdout.strip() or result.stderr[-2000:])
        if result.returncode:
            sys.exit(f"the CelebA memory probe failed (exit {result.returncode})")


def memory_child(root: str) -> None:
    """The CelebA memory probe: a CelebA run of ``--memory_iterations`` iterations through
    ``Trainer.train`` (the metrics set up, every iteration's TensorBoard scalars, the metrics
    half-way and at the end, a sample grid and a checkpoint at the end); peak RSS after
    loading, before and after the first evaluation, and at the end."""
    from gan.dataset_files import load_images
    from gan.metrics.registry import build_metrics

    n = FLAGS.memory_iterations
    cfg = validate_run_config(
        dict(
            dataset="celeba",
            data_root=root,
            mg=8,
            iteration=n,
            batch_size=FLAGS.batch_size,
            metrics=FLAGS.memory_metrics,
            precision=FLAGS.precision,
            inception_graph=os.path.join(root, "inception.pb"),
            is_num_samples=FLAGS.memory_is_samples,
            is_num_splits=FLAGS.memory_is_splits,
            fid_num_samples=FLAGS.memory_fid_samples,
            fid_num_real=FLAGS.memory_fid_real,
            swd_num_samples=FLAGS.memory_fid_samples,
            summary_freq=FLAGS.memory_summary_freq,
            vis_freq=n,
            metric_freq=max(1, n // 2),
            save_checkpoint_freq=n,
        )
    )
    with tempfile.TemporaryDirectory() as run_dir:
        t0 = time.perf_counter()
        trainer = Trainer(
            cfg, run_dir, load_images("celeba", root), metric_callbacks=build_metrics(cfg), seed=0
        )
        load_s = time.perf_counter() - t0
        loaded = peak_rss_mb()
        stage: dict[str, float] = {}
        log_metrics = trainer.log_metrics

        def measured_log_metrics(global_id: int) -> dict[str, float]:
            stage.setdefault("trained", peak_rss_mb())
            t0 = time.perf_counter()
            out = log_metrics(global_id)
            stage.setdefault("metric_s", time.perf_counter() - t0)
            stage.setdefault("evaluated", peak_rss_mb())
            return out

        trainer.log_metrics = measured_log_metrics
        trainer.train()
    count = FLAGS.memory_images
    print(
        f"celeba run, {FLAGS.precision} ({count}x64x64x3 uint8 = "
        f"{count * 64 * 64 * 3 / 2**20:.0f} MiB): peak RSS {loaded:.0f} MiB after loading "
        f"({load_s:.0f} s), {stage['trained']:.0f} MiB after setting the metrics up and "
        f"{n // 2} iterations (summary_freq {cfg.summary_freq}), {stage['evaluated']:.0f} "
        f"MiB after the first evaluation, {peak_rss_mb():.0f} MiB at the end of the run "
        f"({n - n // 2} more iterations, a sample grid, the second evaluation, a "
        f"checkpoint); evaluations of {', '.join(FLAGS.memory_metrics)} with "
        f"{FLAGS.memory_is_samples} IS samples in {FLAGS.memory_is_splits} splits and "
        f"{FLAGS.memory_fid_samples} + {FLAGS.memory_fid_real} FID images, "
        f"{stage['metric_s']:.0f} s each"
    )


def main(argv: list[str]) -> None:
    del argv
    threads = configure_runtime(
        validate_run_config(
            dict(dataset="cifar10", mg=4, iteration=1, inter_op_threads=FLAGS.inter_op_threads)
        )
    )
    if FLAGS._memory_child:
        memory_child(FLAGS._memory_child)
        return
    bound = matmul_gflops(FLAGS.matmul_n)
    print(
        f"fp32 matmul ({FLAGS.matmul_n}^2): {bound:.0f} GFLOP/s; "
        f"batch {FLAGS.batch_size}, n_dis {FLAGS.n_dis}, {FLAGS.sn_mode}, "
        f"jit_compile={FLAGS.jit_compile}, precision={FLAGS.precision}, "
        f"inter_op_threads={threads or 'TensorFlow default'}"
    )
    if FLAGS.datasets:
        print(
            "| config | diagnostics | ms/iter | original schedule ms/iter | original GFLOP/iter "
            "| this step GFLOP/iter | achieved GFLOP/s | of matmul |"
        )
        print("|---|---|---|---|---|---|---|---|")
    for name in FLAGS.datasets:
        run_config(name, bound)
    for name in FLAGS.compare_fit:
        fit_comparison(name)
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MiB")
    if FLAGS.celeba_memory:
        celeba_memory()


if __name__ == "__main__":
    app.run(main)
