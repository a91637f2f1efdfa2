"""The task trainer's ResNet iteration against the golden float64 reference (TensorFlow only:
the runner): from the same weights, u, real batches and z, every u, the batch-norm moving
averages (moved in the G step only), the Adam moments, the weights, the sigmas after the
update and the G loss on the fresh G-step z."""

import numpy as np
import pytest

from tests.golden import harness, port
from tests.golden import reference as ref

pytestmark = pytest.mark.golden

CASES = {
    "bsn-hinge": dict(sn_mode="BSN"),
    "sn-diff-gamma-wgan-gp-ndis2": dict(
        sn_mode="SN", gamma="diff", loss="wgan_gp", d_gp_coe=10.0, n_dis=2
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_resnet_iteration_matches_the_golden_reference(tmp_path, name):
    t = port.trainer(str(tmp_path), network="resnet", **CASES[name])
    cfg = t.config
    g, d, g_opt, d_opt = port.trainer_parts(t)
    state = harness.golden_state(g, d)
    draws = harness.make_draws(cfg, iterations=1, resnet=True)
    zs = harness.port_queue_zs(draws, cfg, resnet=True)
    queue = port.pin_draws(t, draws.reals, zs, draws.alphas)
    # Eagerly: the schedule's graph loop over n_dis would read the pinned draws once.
    stats = port.run_iteration(t, with_summary=False, traced=False)
    assert not queue.zs and not queue.alphas and not queue.reals, "unused pinned draws"

    gold = harness.golden_run(cfg, state, draws, iterations=1)
    np.testing.assert_allclose(
        stats["loss/g"], gold["stats"]["loss/g"], **harness.TOL["loss"], err_msg="loss/g"
    )
    harness.assert_states_match(harness.port_state(g, d, g_opt, d_opt), gold, lr=cfg.d_lr)
    # The sigmas the ResNet logs: those of the weights and u after the last D step.
    with ref.float64():
        gold_sigmas = [
            float(s) for layer in ref.sigma_list(ref.f64(gold["d"]), ref.f64(gold["states"]))
            for s in layer
        ]  # fmt: skip
    np.testing.assert_allclose(port.sigmas(d), gold_sigmas, **harness.TOL["sigma"])
