"""The task trainer's CNN iteration against the golden float64 reference, from the same
weights, u, real batches, z and alpha: losses, sigmas, slopes, every u, the batch-norm moving
averages, the Adam moments (the gradients) and the weights after the update."""

import numpy as np
import pytest

from tests.golden import harness, port

# One xdist worker for both: the fit test reuses the CNN cases' compiled reference steps.
pytestmark = [pytest.mark.golden, pytest.mark.xdist_group("golden-cnn")]

CASES = {
    # SN, hinge, one D step: also the slopes of the diagnostics.
    "sn-hinge": dict(sn_mode="SN"),
    # BSSN (scale 1.5), two D steps: the second D step sees the first one's update and u.
    "bssn-hinge-ndis2": dict(sn_mode="BSN", scale=1.5, n_dis=2),
    # SSN: SN with scale != 1.
    "ssn-hinge": dict(sn_mode="SN", scale=0.7),
    # same_gamma with WGAN-GP (one learnable gamma on every kernel and bias).
    "sn-same-gamma-wgan-gp": dict(sn_mode="SN", gamma="same", loss="wgan_gp", d_gp_coe=10.0),
    # diff_gamma with WGAN-GP, BSN, two D steps.
    "bsn-diff-gamma-wgan-gp-ndis2": dict(
        sn_mode="BSN", gamma="diff", loss="wgan_gp", d_gp_coe=10.0, n_dis=2
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cnn_iteration_matches_the_golden_reference(tmp_path, name):
    t = port.trainer(str(tmp_path), **CASES[name])
    cfg = t.config
    g, d, g_opt, d_opt = port.trainer_parts(t)
    state = harness.golden_state(g, d)
    draws = harness.make_draws(cfg, iterations=1)
    queue = port.pin_draws(t, draws.reals, draws.zs, draws.alphas)
    slopes = name == "sn-hinge"
    stats = port.run_iteration(t, with_summary=True, traced=False)
    assert not queue.zs and not queue.alphas and not queue.reals, "unused pinned draws"

    gold = harness.golden_run(cfg, state, draws, iterations=1, slopes=slopes)
    names = ["loss/d", "loss/d/real", "loss/d/fake", "loss/g", "d/real", "d/fake"]
    if cfg.loss == "wgan_gp":
        names.append("loss/d/gp")
    harness.assert_stats_match(stats, gold, names)
    for key, value in harness.golden_sigma_scalars(gold["stats"]).items():
        np.testing.assert_allclose(stats[key], value, **harness.TOL["sigma"], err_msg=key)
    if slopes:
        for which in ("real", "fake"):
            s = gold["stats"][f"slopes/{which}"]
            for stat, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
                key = f"d/{stat}_{which}_slopes"
                np.testing.assert_allclose(stats[key], fn(s), **harness.TOL["sigma"], err_msg=key)
    harness.assert_states_match(harness.port_state(g, d, g_opt, d_opt), gold, lr=cfg.d_lr)
