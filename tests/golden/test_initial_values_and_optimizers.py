"""What a shared-weights comparison cannot see: the initializers' distributions on freshly built
networks, and the optimizers the runner builds, driven with crafted gradients against the
golden Adam (TensorFlow only: the runner).

Distribution checks use the sample's own size: a sample standard deviation of n values from a
distribution with standard deviation s has a standard error of at most about s / sqrt(n)
(s / sqrt(2n) for a normal, less for the lighter-tailed truncated normal and uniform); each
check allows 6 standard errors, which a correct initializer exceeds with probability < 1e-8
and a wrong scale (e.g. 0.05 for 0.02) misses by hundreds.
"""

import math

import numpy as np
import pytest

from tests.golden import port
from tests.golden import reference as ref

pytestmark = pytest.mark.golden

# Standard deviation of a standard normal truncated at +-2 (re-drawn beyond 2 std, as
# tf.truncated_normal_initializer and Keras' TruncatedNormal do): sqrt(1 - 4 phi(2) / (2
# Phi(2) - 1)) = 0.8796.
_phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
TRUNC_STD = math.sqrt(1 - 4 * _phi2 / math.erf(2 / math.sqrt(2)))


def _check_std(values: np.ndarray, std: float, what: str) -> None:
    n = values.size
    se = std / math.sqrt(n)
    assert abs(values.mean()) <= 6 * se, f"{what}: mean {values.mean():.3g} (n={n})"
    assert abs(values.std() - std) <= 6 * se, f"{what}: std {values.std():.5g} != {std:.5g}"


def _weights(model) -> dict[str, np.ndarray]:
    return {v.path.split("/", 1)[1]: np.asarray(v.numpy(), np.float64) for v in model.weights}


def test_cnn_initializers_follow_the_original():
    g, d = port.networks(sn_mode="BSN", network_width=1.0)
    dw, gw = _weights(d), _weights(g)
    convs = [v for k, v in dw.items() if "conv/kernel" in k]
    assert len(convs) == 7
    for i, w in enumerate(convs):
        # fjxmlzn/BSN no_gamma-CNN/gan/op.py:118-121: truncated normal, stddev 0.02.
        assert np.abs(w).max() <= 2 * 0.02, f"D conv {i} not truncated at 2 std"
        _check_std(w, 0.02 * TRUNC_STD, f"D conv {i}")
    # op.py:16-20 (linear): normal, stddev 0.02 (not truncated: ~4.6% beyond 2 std).
    dense = dw["layer7_dense/kernel"]
    _check_std(dense, 0.02, "D dense")
    g_kernels = {k: v for k, v in gw.items() if k.endswith("/kernel")}
    assert len(g_kernels) == 5
    for k, w in g_kernels.items():
        # op.py:16-20 (G's linear) and :78-81 (deconv2d): normal, stddev 0.02.
        _check_std(w, 0.02, f"G {k}")
        frac = np.mean(np.abs(w) > 0.04)
        assert abs(frac - 0.0455) <= 6 * math.sqrt(0.0455 / w.size) + 1e-9, f"G {k} tails"
    for k, v in list(dw.items()) + list(gw.items()):
        if k.endswith("/bias"):  # op.py:32-35, :98-101, :158-159: constant 0
            assert not v.any(), k
    _check_u(d)
    for bn in port.batch_norms(g):  # tf.contrib batch_norm: beta 0, gamma 1, mean 0, var 1
        assert np.all(bn.gamma.numpy() == 1) and not bn.beta.numpy().any()
        assert not bn.moving_mean.numpy().any() and np.all(bn.moving_variance.numpy() == 1)


def _check_u(d) -> None:
    """u, u_t: tf.truncated_normal_initializer() (std 1, truncated at 2; fjxmlzn/BSN
    no_gamma-CNN/gan/sn.py:23), pooled over all layers."""
    us = np.concatenate(
        [np.ravel(v.numpy()) for layer in port.normalized_layers(d) for v in layer.u_variables()]
    )
    assert np.abs(us).max() <= 2.0
    _check_std(us, TRUNC_STD, "u")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = int(np.prod(shape[:-2]))
    return shape[-2] * rf, shape[-1] * rf


def test_resnet_initializers_follow_the_original():
    """Variance scaling, fan_avg, uniform (fjxmlzn/BSN no_gamma-ResNet/gan/op.py: linear,
    conv2d): limit sqrt(3 scale / ((fan_in + fan_out) / 2)), scale 2.0 for the blocks' 3x3
    convs (op.py:237, :251, :289, :305), 1.0 for shortcuts (:264, :325, :346), the dense
    layers and G's last conv (network.py:64, :121)."""
    g, d = port.networks(network="resnet", sn_mode="BSN", network_width=1.0)
    checked = 0
    for model in (g, d):
        for k, w in _weights(model).items():
            if not k.endswith("/kernel"):
                if k.endswith("/bias"):
                    assert not w.any(), k
                continue
            scale = 2.0 if ("conv1" in k or "conv2" in k) else 1.0
            fan_in, fan_out = _fans(w.shape)
            limit = math.sqrt(3 * scale / ((fan_in + fan_out) / 2))
            assert np.abs(w).max() <= limit * (1 + 1e-6), f"{k}: beyond the uniform limit"
            if w.size >= 1000:
                _check_std(w, limit / math.sqrt(3), k)
                checked += 1
    assert checked >= 10
    _check_u(d)


def test_runner_adam_matches_the_golden_adam_on_crafted_gradients(tmp_path):
    """The trainer's D and G optimizers: the paper's lr, betas and epsilon 1e-8, and two Adam
    steps on gradients spanning 1e-10..1 (where epsilon decides the step) equal the golden
    TF1 Adam's."""
    t = port.trainer(str(tmp_path))
    g, d, g_opt, d_opt = port.trainer_parts(t)
    for opt, model in ((d_opt, d), (g_opt, g)):
        settings = port.adam_of(opt)
        assert settings["lr"] == pytest.approx(ref.ADAM_LR, rel=1e-6)
        assert settings["beta1"] == ref.ADAM_BETA1 and settings["beta2"] == ref.ADAM_BETA2
        assert settings["epsilon"] == ref.ADAM_EPSILON
        assert settings["iterations"] == 0
        variables = model.trainable_variables
        rng = np.random.default_rng(9)

        def crafted(v, rng=rng):
            mags = 10.0 ** rng.uniform(-10, 0, v.shape)
            return (mags * rng.choice([-1.0, 1.0], v.shape)).astype(np.float32)

        before = [np.asarray(v.numpy(), np.float64) for v in variables]
        steps = [[crafted(v) for v in variables] for _ in range(2)]
        for grads in steps:
            opt.apply_gradients(zip(grads, variables, strict=True))
        after = [np.asarray(v.numpy(), np.float64) for v in variables]

        adam = ref.Adam()
        with ref.float64():
            params = ref.f64(before)
            slots = adam.init(params)
            for grads in steps:
                params, slots = adam.step(params, ref.f64(grads), slots)
            gold = ref.to_numpy(params)
        for i, (a, b, w0) in enumerate(zip(after, gold, before, strict=True)):
            # The float32 weight after the step is rounded once: 1 ulp of the weight (up to
            # 1.2e-7 for a batch-norm gamma of 1), and the float32 step itself 2e-3 relative (1e-9
            # absolute, 1e-5 lr, where the step is far below lr).
            ulp = np.spacing(np.maximum(np.abs(w0), np.abs(a)).astype(np.float32)).astype(float)
            err = np.abs((a - w0) - (b - w0))
            bound = 2e-3 * np.abs(b - w0) + ulp + 1e-9 * ref.ADAM_LR / 1e-4
            assert np.all(err <= bound), f"var {i}: worst {np.max(err - bound):.3g} over"
