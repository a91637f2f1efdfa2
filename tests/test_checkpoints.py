"""Which checkpoints of a run ``--checkpoint`` names, and the FID variant a config builds."""

import numpy as np
import pytest

from gan.config import ConfigError
from gan.generator_checkpoints import list_checkpoints, select_checkpoints
from tests.helpers import run_config


def test_checkpoint_names_select_rotated_kept_and_all(trained_run):
    labels = [c.label for c in list_checkpoints(trained_run)]
    assert labels == ["model-1", "global_id-1", "model-3", "global_id-3"]

    def pick(which):
        return [c.label for c in select_checkpoints(trained_run, which)]

    assert pick("latest") == ["model-3"]
    assert pick("1") == ["model-1"]
    assert pick("kept") == ["global_id-1", "global_id-3"]
    assert pick("all") == ["model-1", "model-3"]
    with pytest.raises(ConfigError, match="no checkpoint 2; it has model-N for N in 1, 3"):
        select_checkpoints(trained_run, "2")
    with pytest.raises(ConfigError, match="expected latest, kept, all"):
        select_checkpoints(trained_run, "newest")


def test_a_fid_reference_in_the_config_builds_a_fid_against_it(tmp_path):
    from gan.metrics.inception import FrechetInceptionDistance
    from gan.metrics.inception.fid_against_stats import ReferenceFrechetDistance
    from gan.metrics.registry import build_metrics

    ref = str(tmp_path / "ref.npz")
    np.savez(ref, mu=np.zeros(4), sigma=np.eye(4))
    [own] = build_metrics(run_config(metrics=["fid"]))
    [fixed] = build_metrics(run_config(metrics=["fid"], fid_reference=ref))
    assert type(own) is FrechetInceptionDistance
    assert isinstance(fixed, ReferenceFrechetDistance) and fixed.reference == ref
    assert not fixed.runner.needs_real and own.runner.needs_real
