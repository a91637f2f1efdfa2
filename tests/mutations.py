# ruff: noqa: E501 (the mutation table keeps one entry per line block, exact texts unwrapped)
"""Mutation check of the method's tests: each entry of MUTATIONS is a small change to the
paper's method; the named tests must fail on it.

    python tests/mutations.py [--only NAME ...] [--timeout S] [--baseline]

For each mutation, in a temporary copy of the repository's tracked files (as they are in the
working tree), the exact ``old`` text in ``file`` is replaced by ``new``; then the named tests
run there (``pytest -n 0``) with a time limit. A mutation whose ``old`` text is not found is
reported "NOT APPLIED" (code moves between branches: update the entry). Prints a table
mutation / test / caught | MISSED | not applied | timeout, with the date and the CPU model.
``--baseline`` also runs every named test unmutated first (they must pass).

Not collected by pytest (no ``test_`` prefix). Edit the table to add or move a mutation.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

# name, file, old text -> new text (exactly once in the file), the test(s) that must fail.
MUTATIONS: list[dict] = [
    dict(
        name="hinge D loss with a flipped sign (real term)",
        file="gan/bsn/losses.py",
        old="return ops.mean(ops.relu(1.0 - d_real))",
        new="return ops.mean(ops.relu(1.0 + d_real))",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="Adam epsilon 1e-7 (paper: 1e-8)",
        file="gan/trainer.py",
        old="ADAM_EPSILON = 1e-8",
        new="ADAM_EPSILON = 1e-7",
        tests=["tests/golden/test_initial_values_and_optimizers.py::test_runner_adam_matches_the_golden_adam_on_crafted_gradients"],
    ),
    dict(
        name="LeakyReLU slope 0.2 in the CNN D (paper: 0.1)",
        file="gan/networks/cnn.py",
        old="LEAK = 0.1",
        new="LEAK = 0.2",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="CNN D conv init std 0.05 (paper: 0.02)",
        file="gan/networks/cnn.py",
        old="kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),",
        new="kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.05),",
        tests=["tests/golden/test_initial_values_and_optimizers.py::test_cnn_initializers_follow_the_original"],
    ),
    dict(
        name="u initial std 0.5 (paper: truncated normal std 1)",
        file="gan/bsn/layers.py",
        old="u_init = keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0)",
        new="u_init = keras.initializers.TruncatedNormal(mean=0.0, stddev=0.5)",
        tests=["tests/golden/test_initial_values_and_optimizers.py::test_cnn_initializers_follow_the_original"],
    ),
    dict(
        name="ResNet D block conv1 init scale 1.0 (paper: 2.0)",
        file="gan/networks/resnet.py",
        old='self.conv1 = SNConv2D(self.filters, 3, kernel_initializer=_vs(2.0), name="conv1"',
        new='self.conv1 = SNConv2D(self.filters, 3, kernel_initializer=_vs(1.0), name="conv1"',
        tests=["tests/golden/test_initial_values_and_optimizers.py::test_resnet_initializers_follow_the_original"],
    ),
    dict(
        name="BSNGAN under MirroredStrategy without the division by the replica count",
        file="gan/bsn/steps/tensorflow.py",
        old="return loss if self.num_replicas == 1 else loss / float(self.num_replicas)",
        new="return loss",
        tests=["tests/golden/test_two_replica_fit.py"],
    ),
    dict(
        name="examples/dcgan_fit.py without BackupAndRestore",
        file="examples/dcgan_fit.py",
        old='keras.callbacks.BackupAndRestore(os.path.join(args.out, "backup")),',
        new="",
        tests=["tests/test_examples.py::test_dcgan_example_resumes_an_interrupted_fit_from_its_backup"],
    ),
    dict(
        name="BN epsilon not raised to TF1's fused minimum 1.001e-5",
        file="gan/modes.py",
        old="FUSED_BN_MIN_EPSILON = 1.001e-5",
        new="FUSED_BN_MIN_EPSILON = 1e-5",
        tests=["tests/golden/test_layers.py::test_batch_norm_matches_the_original_fused_batch_norm"],
    ),
    dict(
        name="BN momentum 0.99 (paper: 0.9)",
        file="gan/bsn/batch_norm.py",
        old="def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, **kwargs):",
        new="def __init__(self, momentum: float = 0.99, epsilon: float = 1e-5, **kwargs):",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="BN moving variance without the Bessel correction",
        file="gan/bsn/batch_norm.py",
        old="unbiased = variance * n / ops.maximum(n - 1.0, 1.0)",
        new="unbiased = variance",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="a fresh z (and real batch) for the CNN G step",
        file="gan/bsn/steps/tensorflow.py",
        old="    if not shared:\n        with tf.GradientTape() as g_tape:",
        new="    if True:\n        _, z = draw(n_dis - 1)\n        with tf.GradientTape() as g_tape:",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="CNN G batch-norm averages moved once per G step's forward (paper: twice)",
        file="gan/bsn/steps/tensorflow.py",
        old="fake = g(z, training=True, update_stats=2)",
        new="fake = g(z, training=True, update_stats=1)",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="ResNet G batch-norm averages also moved in the D steps",
        file="gan/schedules/resnet.py",
        old="fake = self.generator(z, training=True, update_stats=False)",
        new="fake = self.generator(z, training=True, update_stats=True)",
        tests=["tests/golden/test_resnet_iteration.py::test_resnet_iteration_matches_the_golden_reference[bsn-hinge]"],
    ),
    dict(
        name="sigma without the gradient through u and v (stop_gradient)",
        file="gan/bsn/sn.py",
        old="sigma = ops.matmul(ops.matmul(v, w_mat), ops.transpose(u_new))[0, 0]",
        new="sigma = ops.matmul(ops.matmul(ops.stop_gradient(v), w_mat), ops.transpose(ops.stop_gradient(u_new)))[0, 0]",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="WGAN-GP penalty without d_gp_coe",
        file="gan/bsn/steps/tensorflow.py",
        old="penalty = parts.d_gp_coe * gp",
        new="penalty = gp",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-same-gamma-wgan-gp]"],
    ),
    dict(
        name="gamma not applied to the bias",
        file="gan/bsn/layers.py",
        old="return self.bias if gain is None else self.bias * gain",
        new="return self.bias",
        tests=["tests/golden/test_layers.py::test_sn_conv2d_matches_the_golden_layer"],
    ),
    dict(
        name="scale applied twice",
        file="gan/bsn/layers.py",
        old="w = w * self.scale\n",
        new="w = w * self.scale * self.scale\n",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[bssn-hinge-ndis2]"],
    ),
    dict(
        name="BSN without its transposed-kernel sigma (sigma(W) only)",
        file="gan/bsn/layers.py",
        old="return [(found[0] + found[1]) / 2.0, found[0], found[1]]",
        new="return [found[0], found[0], found[1]]",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[bssn-hinge-ndis2]"],
    ),
    dict(
        name="u also moved in the G step",
        file="gan/bsn/steps/tensorflow.py",
        old="    parts.g_opt.apply_gradients(zip(grads, g_vars, strict=True))\n    return stats",
        new="    parts.g_opt.apply_gradients(zip(grads, g_vars, strict=True))\n    update_u(parts.discriminator)\n    return stats",
        tests=["tests/golden/test_cnn_iteration.py::test_cnn_iteration_matches_the_golden_reference[sn-hinge]"],
    ),
    dict(
        name="fit() with one D step too few",
        file="gan/bsn/steps/tensorflow.py",
        old="return paper_iteration(parts, draw, model.n_dis, model.diagnostics)",
        new="return paper_iteration(parts, draw, max(1, model.n_dis - 1), model.diagnostics)",
        tests=["tests/golden/test_fit.py"],
    ),
    dict(
        name="resume without the RNG state",
        file="gan/trainer.py",
        old="                rng=self.rng,\n",
        new="",
        tests=["tests/test_trainer.py::test_resumed_run_ends_with_the_same_variables_as_an_uninterrupted_one"],
    ),
    dict(
        name="no status.json update on SIGTERM",
        file="gan/run.py",
        old="    if not finished:\n        update_status(",
        new="    if not finished:\n        return EXIT_INTERRUPTED\n        update_status(",
        tests=["tests/test_run_endings.py::test_sigterm_mid_run"],
    ),
    dict(
        name="JAX step: no u update after a D step",
        file="gan/bsn/steps/jax.py",
        old="        _, left = values.run(lambda: update_u(model.discriminator))\n        values.current.update(left)\n",
        new="",
        tests=["tests/test_backends.py::test_fit_ends_alike_on_the_three_backends"],
    ),
    dict(
        name="PyTorch step: no u update after a D step",
        file="gan/bsn/steps/torch.py",
        old="        with torch.no_grad():\n            update_u(model.discriminator)\n",
        new="",
        tests=["tests/test_backends.py::test_fit_ends_alike_on_the_three_backends"],
    ),
]  # fmt: skip

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def copy_tracked(dest: str) -> None:
    """Copy the repository's tracked files, as they are in the working tree, to ``dest``."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = os.path.join(REPO, name)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, name)) or dest, exist_ok=True)
        shutil.copy2(src, os.path.join(dest, name))


def run_tests(root: str, tests: list[str], timeout: float) -> tuple[str, str]:
    """("pass" | "fail" | "timeout", the first failure line) of ``pytest -n 0`` on ``tests``
    in ``root``."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    try:
        proc = subprocess.run(
            cmd + tests, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout", ""
    if proc.returncode == 5:
        raise SystemExit(f"error: no test collected for {tests}: fix the table")
    why = next((ln[1:].strip() for ln in proc.stdout.splitlines() if ln.startswith("E ")), "")
    return ("pass" if proc.returncode == 0 else "fail"), why[:110]


def main(argv: list[str] | None = None) -> int:
    """Run the table's mutations; prints the result table; exit status 1 if one is MISSED or
    not applied."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="*", help="run only mutations whose name contains one of these")
    p.add_argument("--timeout", type=float, default=900, help="seconds per mutation's tests")
    p.add_argument("--baseline", action="store_true", help="run the tests unmutated first")
    args = p.parse_args(argv)
    chosen = [
        m
        for m in MUTATIONS
        if not args.only or any(s.lower() in m["name"].lower() for s in args.only)
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mutations-") as root:
        copy_tracked(root)
        if args.baseline:
            for test in sorted({t for m in chosen for t in m["tests"]}):
                if run_tests(root, [test], args.timeout)[0] != "pass":
                    print(f"error: {test} fails without any mutation", file=sys.stderr)
                    return 2
        for m in chosen:
            path = os.path.join(root, m["file"])
            with open(path) as f:
                original = f.read()
            start, why = time.monotonic(), ""
            if original.count(m["old"]) != 1:
                found = original.count(m["old"])
                print(f"NOT APPLIED: {m['name']}: old text found {found}x in {m['file']}")
                result = "not applied"
            else:
                with open(path, "w") as f:
                    f.write(original.replace(m["old"], m["new"]))
                try:
                    outcome, why = run_tests(root, m["tests"], args.timeout)
                finally:
                    with open(path, "w") as f:
                        f.write(original)
                result = {"fail": "caught", "pass": "MISSED", "timeout": "timeout"}[outcome]
            rows.append((m["name"], " ".join(m["tests"]), result, time.monotonic() - start))
            print(f"{result:>11}  {rows[-1][3]:6.0f} s  {m['name']}", flush=True)
            if why:
                print(f"{'':>21}{why}", flush=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\nMutations of the method, {stamp}, {cpu_model()}:\n")
    print("| mutation | test that must fail | result |")
    print("|---|---|---|")
    for name, tests, result, _ in rows:
        short = " ".join(t.replace("tests/", "", 1) for t in tests.split())
        print(f"| {name} | `{short}` | {result} |")
    return 0 if all(r[2] == "caught" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
