"""An iteration's evaluation stages, the stop that abandons one, and the record it leaves.

At iteration N the trainer may run two stages: ``metrics`` (every ``metric_freq``) and
``extra`` (every ``extra_checkpoint_freq``: a sample grid, an evaluation and a kept
checkpoint). A stop during one abandons it (:class:`EvaluationAbandoned`); checkpoint N is
saved with ``checkpoint/pending_evaluation.json`` naming the stages left, which the resumed run
reads (:func:`read_pending`) and runs first.
"""

from __future__ import annotations

import json
import os

METRICS_STAGE = "metrics"  # the metric_freq evaluation of an iteration
EXTRA_STAGE = "extra"  # the extra_checkpoint_freq sample grid, evaluation and kept checkpoint


class EvaluationAbandoned(BaseException):
    """A stop was requested during a metric evaluation: the evaluation is given up (it is redone
    after the resume) so the checkpoint is saved at once. Raised by ``log_metrics`` when the
    stop came before it, or by the run's signal handler while ``Trainer.evaluating``; a
    BaseException (as KeyboardInterrupt) so a metric's ``except Exception`` cannot swallow it."""


def read_pending(path: str, global_id: int) -> list[str]:
    """The evaluation stages of iteration ``global_id`` a stop left, from the record ``path``
    beside the checkpoints; a record of another iteration is stale and removed."""
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        record = {}
    stages = record.get("stages") if isinstance(record, dict) else None
    if (
        isinstance(record, dict)
        and record.get("global_id") == global_id
        and global_id >= 0
        and isinstance(stages, list)
        and all(s in (METRICS_STAGE, EXTRA_STAGE) for s in stages)
    ):
        return stages
    os.remove(path)
    return []
