"""Wall time of the quickstart as a new user runs it: ``python benchmarks/quickstart.py``.

Runs ``python main.py`` (the quickstart task, its exact config, the real path: scheduler ->
``gan.run`` -> trainer -> metrics -> report) with a temporary results folder and, by default,
an empty cache folder (``BSN_CACHE_DIR``), so the shapes classifier is trained as on a fresh
clone. It prints the wall time, the machine's fp32 matmul GFLOP/s (``train_step.py``'s probe,
measured before and after the run) and the wall time scaled to a 100 GFLOP/s machine
(``wall * GFLOP/s / 100``), the figure the quickstart is sized against (under 10 minutes), and
the load average, since a busy machine inflates the wall time more than the short probe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

# Also defines the --matmul_n flag (the probe's matrix size) used here.
from benchmarks.train_step import matmul_gflops  # noqa: E402
from gan.config import REPO_ROOT  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_bool(
    "fresh_cache",
    True,
    "use an empty cache folder, so the shapes classifier is "
    "trained as on a fresh clone (False: the user's cache)",
)
flags.DEFINE_bool("show_output", False, "print main.py's console output")
flags.DEFINE_float("reference_gflops", 100.0, "the machine speed the estimate is scaled to")
flags.DEFINE_string(
    "results_dir",
    None,
    "keep the quickstart's run folders and report here "
    "(default: a temporary folder, deleted afterwards); give a new folder, as "
    "completed runs in it would be skipped",
)

flags.DEFINE_string(
    "set",
    "",
    "main.py's --set, e.g. iteration=2 to check that the script "
    "runs (the figure is then not the quickstart's)",
)
flags.DEFINE_string("only", "", "main.py's --only (the same caveat)")

BUDGET_S = 600.0


def main(argv: list[str]) -> None:
    del argv
    before = matmul_gflops(FLAGS.matmul_n)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if FLAGS.fresh_cache:
            env["BSN_CACHE_DIR"] = os.path.join(tmp, "cache")
        results = FLAGS.results_dir or os.path.join(tmp, "quickstart")
        cmd = [
            sys.executable,
            os.path.join(REPO_ROOT, "main.py"),
            "--results_dir",
            results,
            "--set",
            FLAGS.set,
            "--only",
            FLAGS.only,
        ]
        t0 = time.perf_counter()
        result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    after = matmul_gflops(FLAGS.matmul_n)
    if FLAGS.show_output or result.returncode != 0:
        print(result.stdout + result.stderr[-5000:])
    gflops = (before + after) / 2
    estimate = wall * gflops / FLAGS.reference_gflops
    changed = " ".join(f"--{k} {v!r}" for k, v in (("set", FLAGS.set), ("only", FLAGS.only)) if v)
    print(
        f"quickstart (python main.py{' ' + changed if changed else ''}): exit "
        f"{result.returncode}, wall {wall:.0f} s ({wall / 60:.1f} min)"
        + ("; shortened: not the quickstart's figure" if changed else "")
    )
    print(
        f"fp32 matmul ({FLAGS.matmul_n}^2): {before:.0f} GFLOP/s before, {after:.0f} after; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"scaled to {FLAGS.reference_gflops:.0f} GFLOP/s: {estimate:.0f} s "
        f"({estimate / 60:.1f} min; budget {BUDGET_S / 60:.0f} min)"
    )
    if result.returncode != 0:
        sys.exit(result.returncode)


if __name__ == "__main__":
    app.run(main)
