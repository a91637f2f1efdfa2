"""The optimized iteration equals the original's schedule computed the straightforward way."""

import numpy as np
import pytest
import tensorflow as tf

from gan.config import validate_run_config
from gan.trainer import Trainer
from tests.straightforward_iteration import straightforward_iteration

IMAGES = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)


def _all_variables(t):
    return (
        t.generator.variables
        + t.discriminator.variables
        + t.g_opt.variables
        + t.d_opt.variables
        + [t.rng.state]
    )


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


@pytest.mark.parametrize(
    "over",
    [
        dict(sn_mode="BSN", n_dis=2),
        dict(sn_mode="SN", n_dis=1, loss="wgan_gp", d_gp_coe=10.0, gamma="diff"),
    ],
)
def test_optimized_iteration_matches_the_straightforward_schedule(
    tmp_path, over, deterministic_ops
):
    """Each iteration from the same state (weights, u, BN, Adam, RNG) gives the same result.

    The state is re-synchronised before every iteration: Adam steps by about lr * sign(g)
    where |g| is near its epsilon, so float round-off would otherwise grow between iterations.
    """
    cfg = validate_run_config(
        dict(
            dataset="cifar10",
            iteration=3,
            mg=4,
            batch_size=4,
            metrics=[],
            network_width=0.25,  # the schedules' equality does not depend on the width
            **over,
        )
    )
    fast = Trainer(cfg, str(tmp_path / "a"), IMAGES, seed=5)
    slow = Trainer(cfg, str(tmp_path / "b"), IMAGES, seed=5)
    # Adam moves a weight by about lr * sign(g) where |g| is far below its epsilon, so two
    # round-offs of a zero gradient (a bias before batch norm) become lr-sized moves, and with
    # n_dis 2 the second D step then sees different weights. An epsilon of 1 keeps round-off
    # small; the schedules' gradients are compared all the same (through m and v).
    for t in (fast, slow):
        t.d_opt.epsilon = t.g_opt.epsilon = 1.0
    for with_summary in (True, False, True):
        for x, y in zip(_all_variables(slow), _all_variables(fast), strict=True):
            x.assign(y)
        a = fast.train_iteration(with_summary)
        b = straightforward_iteration(slow, with_summary)  # eagerly: same kernels, no trace
        assert set(a) == set(b)
        for k in a:  # losses are means of O(1) outputs: float32 round-off is ~1e-6 absolute
            np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=1e-5, atol=1e-5, err_msg=k)
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
        lr = max(cfg.d_lr, cfg.g_lr)
        for i, ((w1, m1, v1), (w2, m2, v2)) in enumerate(
            zip(fast_trained, slow_trained, strict=True)
        ):
            np.testing.assert_allclose(m1, m2, rtol=1e-4, atol=1e-6 * m_scale, err_msg=f"m {i}")
            np.testing.assert_allclose(v1, v2, rtol=1e-4, atol=1e-6 * v_scale, err_msg=f"v {i}")
            meaningful = np.abs(m2) > 1e-4 * m_scale
            np.testing.assert_allclose(
                w1[meaningful], w2[meaningful], rtol=1e-5, atol=1e-6, err_msg=f"weight {i}"
            )
            assert np.abs(w1 - w2).max() <= 2 * lr, f"weight {i}"


def test_memory_saving_generator_matches_the_plain_ops(deterministic_ops):
    """``bn_relu_deconv`` (one saved tensor per layer) gives the plain ops' output, gradients
    and moving averages: the same kernels run, so all but the pre-batch-norm biases agree to
    the bit. Those biases' gradients are zero in exact arithmetic (batch norm removes any
    constant) and only their round-off differs."""
    from gan.networks.cnn import CNNGenerator

    saving = CNNGenerator(4, save_memory=True)
    plain = CNNGenerator(4, save_memory=False)
    rng = np.random.default_rng(0)
    for a, b in zip(saving.weights, plain.weights, strict=True):
        value = a.numpy()
        if "gamma" in a.path or "beta" in a.path:  # non-trivial affine batch norm
            value = rng.normal(1.0, 0.3, a.shape).astype(np.float32)
        a.assign(value)
        b.assign(value)
    z = tf.random.stateless_normal([8, 128], seed=[1, 2])
    weights = tf.random.stateless_normal([8, 32, 32, 3], seed=[3, 4])

    @tf.function
    def forward_backward(g):
        with tf.GradientTape() as tape:
            y = g(z, training=True, update_stats=2)
            loss = tf.reduce_sum(y * weights)
        return y, tape.gradient(loss, g.trainable_variables)

    y_saving, g_saving = forward_backward(saving)
    y_plain, g_plain = forward_backward(plain)
    np.testing.assert_array_equal(y_saving.numpy(), y_plain.numpy())
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in g_plain)
    for v, a, b in zip(saving.trainable_variables, g_saving, g_plain, strict=True):
        before_bn = "deconv/bias" in v.path and "layer4" not in v.path
        if before_bn:
            np.testing.assert_allclose(
                a.numpy(), b.numpy(), rtol=0, atol=1e-5 * scale, err_msg=v.path
            )
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=v.path)
    for a, b in zip(saving.non_trainable_variables, plain.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    # Inference mode is the plain path in both.
    np.testing.assert_array_equal(
        saving(z, training=False).numpy(), plain(z, training=False).numpy()
    )
