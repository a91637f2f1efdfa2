"""The optimized iteration equals the original's schedule computed the straightforward way."""

import numpy as np
import pytest
import tensorflow as tf

from gan.config import validate_run_config
from gan.reference import reference_iteration
from gan.trainer import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def _all_variables(t):
    return (t.generator.variables + t.discriminator.variables + t.g_opt.variables
            + t.d_opt.variables + [t.rng.state])


def _split_state(t):
    """(per trainable variable: weight, Adam m, Adam v; then u vectors and BN statistics)."""
    trained = []
    for model, opt in ((t.generator, t.g_opt), (t.discriminator, t.d_opt)):
        for v in model.trainable_variables:
            i = opt._get_variable_index(v)
            trained.append((v.numpy(), opt._momentums[i].numpy(), opt._velocities[i].numpy()))
    models = t.generator.variables + t.discriminator.variables
    buffers = [v.numpy() for v in models if not v.trainable]
    return trained, buffers


@pytest.mark.parametrize("over", [
    dict(sn_mode="BSN", n_dis=2),
    dict(sn_mode="SN", n_dis=1, loss="wgan_gp", d_gp_coe=10.0, gamma="diff"),
])
def test_optimized_iteration_matches_the_straightforward_schedule(tmp_path, over,
                                                                 deterministic_ops):
    """Each iteration from the same state (weights, u, BN, Adam, RNG) gives the same result.

    The state is re-synchronised before every iteration: Adam steps by about lr * sign(g)
    where |g| is near its epsilon, so float round-off would otherwise grow between iterations.
    """
    cfg = validate_run_config(dict(dataset="cifar10", iteration=3, mg=4, batch_size=4,
                                   metrics=[], **over))
    fast = Trainer(cfg, str(tmp_path / "a"), IMAGES, seed=5)
    slow = Trainer(cfg, str(tmp_path / "b"), IMAGES, seed=5)
    ref_fn = tf.function(lambda s: reference_iteration(slow, s))
    for with_summary in (True, False, True):
        for x, y in zip(_all_variables(slow), _all_variables(fast), strict=True):
            x.assign(y)
        a = fast.train_iteration(with_summary)
        b = ref_fn(with_summary)
        assert set(a) == set(b)
        for k in a:  # losses are means of O(1) outputs: float32 round-off is ~1e-6 absolute
            np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=1e-5, atol=1e-5,
                                       err_msg=k)
        fast_trained, fast_buffers = _split_state(fast)
        slow_trained, slow_buffers = _split_state(slow)
        # u is updated from the new weights, where a gradient element of round-off size can
        # move by one Adam step (about lr) more or less: allow 2e-5 on unit-norm vectors.
        for i, (x, y) in enumerate(zip(fast_buffers, slow_buffers, strict=True)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=2e-5, err_msg=f"u/BN {i}")
        # Adam's m and v are linear in this step's gradients and their squares, so they pin
        # the gradients. Some gradients are zero in exact arithmetic (a bias followed by batch
        # norm): their float32 round-off differs between the two orders of computation, so the
        # tolerance is relative to the largest moment, and where a moment is round-off only
        # the weight may move by up to one Adam step (about the learning rate) differently.
        m_scale = max(np.abs(m).max() for _, m, _ in slow_trained)
        v_scale = max(np.abs(v).max() for _, _, v in slow_trained)
        lr = max(cfg["d_lr"], cfg["g_lr"])
        for i, ((w1, m1, v1), (w2, m2, v2)) in enumerate(
                zip(fast_trained, slow_trained, strict=True)):
            np.testing.assert_allclose(m1, m2, rtol=1e-4, atol=1e-6 * m_scale, err_msg=f"m {i}")
            np.testing.assert_allclose(v1, v2, rtol=1e-4, atol=1e-6 * v_scale, err_msg=f"v {i}")
            meaningful = np.abs(m2) > 1e-4 * m_scale
            np.testing.assert_allclose(w1[meaningful], w2[meaningful], rtol=1e-5, atol=1e-6,
                                       err_msg=f"weight {i}")
            assert np.abs(w1 - w2).max() <= 2 * lr, f"weight {i}"
