"""The report recognises a run that never learned (issue 24 item 8): the quickstart's BSSN run
kept its shapes_fid at ~453 at every row, and its D loss at 0 from about iteration 240, so the
FID-rise rule could not fire and the report said "0 diverged"."""

from __future__ import annotations

import csv
import math
import os

from gan.report import write_report
from gan.report.rules import never_learned
from tests.test_report import (  # noqa: F401  (sweep is a fixture)
    SCALAR_STEPS,
    SN_TAGS,
    sweep,
    write_metrics,
    write_scalars,
    write_task,
)

HEADER = "global_id,shapes_fid"


def _failures(results_root: str) -> list[dict[str, str]]:
    with open(os.path.join(results_root, "report", "failures.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_a_run_whose_d_loss_is_pinned_at_zero_is_reported_as_never_learned(tmp_path):
    task_dir = write_task(
        tmp_path,
        '[{"sn_mode": ["BSN"], "scale": [1.0, 1.6]}, '
        '{"sn_mode": ["BSN"], "scale": [1.2], "loss": ["wgan_gp"], '
        '"d_gp_coe": [10.0]}]',
    )
    from gan.tasks import load_task

    runs = {(r.config.scale, r.config.loss): r for r in load_task(task_dir).runs}
    healthy, stuck, wgan = runs[1.0, "hinge"], runs[1.6, "hinge"], runs[1.2, "wgan_gp"]
    write_metrics(healthy.run_dir, [(90.0,), (47.0,), (36.0,)], header=HEADER)
    write_scalars(healthy.run_dir, SN_TAGS)
    write_metrics(stuck.run_dir, [(453.0,), (453.1,), (452.9,)], header=HEADER)  # no rise
    write_scalars(stuck.run_dir, {"loss/d": lambda s: 0.0 if s >= 80 else 1.5 - s / 100})
    write_metrics(wgan.run_dir, [(90.0,), (47.0,), (36.0,)], header=HEADER)
    write_scalars(wgan.run_dir, {"loss/d": lambda s: 0.0})  # no floor at 0: not a symptom
    for run in runs.values():
        open(os.path.join(run.run_dir, "COMPLETED"), "w").close()

    summary = write_report(task_dir)
    root = os.path.dirname(os.path.dirname(summary.markdown_path))
    rows = [r for r in _failures(root) if r["kind"] == "diverged"]
    assert [r["folder"] for r in rows] == [stuck.name]
    assert rows[0]["iteration"] == "80"
    assert rows[0]["detail"].startswith(
        "never learned: the discriminator's loss loss/d is at "
        f"most 0.001 at 22 of its {len(SCALAR_STEPS)} logged"
    )
    with open(summary.markdown_path) as f:
        text = f.read()
    assert "1 diverged" in text and "never learned" in text


def test_no_healthy_synthetic_run_of_the_report_tests_is_flagged(sweep):  # noqa: F811
    task_dir, _, results_root = sweep
    write_report(task_dir)
    details = [r["detail"] for r in _failures(results_root) if r["kind"] == "diverged"]
    assert details and not [d for d in details if "never learned" in d]


def test_a_loss_that_recovers_or_is_too_short_is_not_never_learned(tmp_path):
    from gan.report.records import RunRecord, Series
    from gan.tasks import load_task

    task_dir = write_task(tmp_path, '[{"sn_mode": ["BSN"]}]')
    run = load_task(task_dir).runs[0]

    def record(values):
        steps = list(range(0, 10 * len(values), 10))
        return RunRecord(
            run=run,
            variant=(),
            state="completed",
            scalars={"loss/d": Series.from_pairs(dict(zip(steps, values, strict=True)))},
        )

    assert never_learned(record([1.0] * 10 + [0.0] * 20)) is not None
    assert never_learned(record([0.0] * 20 + [1.0])) is None  # recovered at the end
    assert never_learned(record([1.0] * 21 + [0.0] * 9)) is None  # under a third
    assert never_learned(record([0.0] * 9)) is None  # too few points to say
    assert never_learned(record([1.0] * 10 + [math.nan] * 5 + [0.0] * 10)) is not None
