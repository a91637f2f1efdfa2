"""``gan.bsn.BSNGAN.fit`` against the golden float64 reference: the paper's CNN networks
(1/16 width), one fit step of n_dis D steps and a G step from the same weights, u, real
batches, z and alpha."""

import numpy as np
import pytest

from tests.golden import harness, port

# One xdist worker for both: the fit test reuses the CNN cases' compiled reference steps.
pytestmark = [pytest.mark.golden, pytest.mark.xdist_group("golden-cnn")]

# The CNN iteration test's heaviest case, so that in one process the reference's compiled
# steps are shared.
OVER = dict(sn_mode="BSN", gamma="diff", loss="wgan_gp", d_gp_coe=10.0, n_dis=2)


def test_fit_step_matches_the_golden_reference():
    cfg = port.run_config(**OVER)
    g, d = port.networks(**OVER)
    state = harness.golden_state(g, d)
    draws = harness.make_draws(cfg, iterations=1)
    model = port.bsngan(g, d, cfg, draws.zs, draws.alphas)
    logs = port.fit(model, np.concatenate(draws.reals), steps=1)

    gold = harness.golden_run(cfg, state, draws, iterations=1)
    names = ["loss/d", "loss/d/real", "loss/d/fake", "loss/d/gp", "loss/g", "d/real", "d/fake"]
    harness.assert_stats_match(logs, gold, names)
    for key, value in harness.golden_sigma_scalars(gold["stats"]).items():
        np.testing.assert_allclose(logs[key], value, **harness.TOL["sigma"], err_msg=key)
    mine = harness.port_state(g, d, model.g_optimizer, model.d_optimizer)
    harness.assert_states_match(mine, gold, lr=cfg.d_lr)
