"""An independent float64 implementation of the original's method, for the golden tests.

Written from the original's TF1 source (fjxmlzn/BSN at 10862a2), not from ``gan/``: this module
imports nothing from ``gan/``. Every rule cites the original's file and line. Forward passes are
``jax.numpy`` in float64 (inside :func:`float64`, a scoped ``jax.enable_x64``, never the
process-wide flag); gradients, including WGAN-GP's second derivatives, come from ``jax.grad``.

Parameters are plain nested dicts / lists of NumPy arrays (the adapter ``tests/golden/port.py``
reads them from the port's variables):

* a normalized layer: ``{"w": kernel, "b": bias}`` (conv ``[kh, kw, in, out]``, dense
  ``[in, out]``), its power-iteration state ``{"u": [1, out], "u_t": [1, in] or None}``;
* CNN D: ``{"convs": [layer x 7], "dense": layer, "gammas": [...]}`` (0, 1 or 8 gammas);
* CNN G: ``{"dense": {"w", "b"}, "bns": [{"gamma", "beta"} x 4], "deconvs": [{"w", "b"} x 4]}``
  with the moving averages ``[{"mean", "var"} x 4]`` kept apart;
* ResNet D: ``{"blocks": [[conv1, conv2, shortcut], ...], "dense": layer, "gammas": [...]}``;
* ResNet G: ``{"dense", "blocks": [{"bn1", "conv1", "bn2", "conv2", "shortcut"}], "bn",
  "conv"}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

# fjxmlzn/BSN no_gamma-CNN/gan/sn.py:12 (_l2normalize's eps).
L2_EPS = 1e-12
# fjxmlzn/BSN no_gamma-CNN/gan/network.py:142 (lrelu(..., leak=0.1) after every D conv).
LEAK = 0.1
# fjxmlzn/BSN no_gamma-CNN/gan/gan.py:60 (self.EPS in the slopes and WGAN-GP's norm).
SLOPE_EPS = 1e-8
# fjxmlzn/BSN no_gamma-CNN/gan/op.py:55 (batch_norm(epsilon=1e-5, momentum=0.9)), run by
# tf.contrib.layers.batch_norm (op.py:62) on TF1's fused kernel, which raises any epsilon below
# 1.001e-5 to it (tensorflow r1.14 python/ops/nn_impl.py fused_batch_norm: min_epsilon).
BN_MOMENTUM = 0.9
BN_EPSILON = max(1e-5, 1.001e-5)
# tf.train.AdamOptimizer's defaults (fjxmlzn/BSN no_gamma-CNN/gan/gan.py:150 passes lr, beta1,
# beta2 only; TF1's epsilon default is 1e-8); lr/betas from no_gamma-CNN/config.py:28-33.
ADAM_EPSILON = 1e-8
ADAM_LR, ADAM_BETA1, ADAM_BETA2 = 1e-4, 0.5, 0.999
# WGAN-GP coefficient of the gamma families: fjxmlzn/BSN diff_gamma-CNN/config.py:20.
D_GP_COE = 10.0


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Scoped float64 for JAX (Keras may run on JAX in the same process: no global flag)."""
    with jax.enable_x64(True):
        yield


def f64(tree):
    """A pytree of arrays as float64 ``jnp`` arrays (None stays None)."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float64)), tree)


def to_numpy(tree):
    """A pytree of ``jnp`` arrays as NumPy float64 arrays."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def l2n(x):
    """``x / (||x||_2 + 1e-12)`` (fjxmlzn/BSN no_gamma-CNN/gan/sn.py:12-13)."""
    return x / (jnp.sum(x**2) ** 0.5 + L2_EPS)


def power_iteration(w, u, transpose: bool = False):
    """One power iteration from ``u``: ``(sigma, u')``, differentiable through v and u'.

    fjxmlzn/BSN no_gamma-CNN/gan/sn.py:18-21 (the transpose swaps the conv's in/out axes, then
    ``reshape(W, [-1, out])``), :38-39 (v, u'), :55 (sigma = v M u'^T); no stop_gradient.
    """
    if transpose:
        w = jnp.transpose(w, (0, 1, 3, 2))
    m = jnp.reshape(w, (-1, w.shape[-1]))
    v = l2n(u @ m.T)
    u_new = l2n(v @ m)
    sigma = (v @ m @ u_new.T)[0, 0]
    return sigma, u_new


def layer_sigmas(layer: dict, state: dict) -> list:
    """The logged sigmas of one layer: ``[sigma]`` (SN) or ``[(s1 + s2) / 2, s1, s2]`` (BSN)
    (fjxmlzn/BSN no_gamma-CNN/gan/op.py:123-143)."""
    s1, _ = power_iteration(layer["w"], state["u"])
    if state.get("u_t") is None:
        return [s1]
    s2, _ = power_iteration(layer["w"], state["u_t"], transpose=True)
    return [(s1 + s2) / 2, s1, s2]


def updated_u(layer: dict, state: dict) -> dict:
    """``u <- u'`` from the current W (the SN_OP collection's assign, fjxmlzn/BSN
    no_gamma-CNN/gan/sn.py:64, run after each D step at gan.py:358 and :366)."""
    _, u = power_iteration(layer["w"], state["u"])
    out = {"u": u, "u_t": None}
    if state.get("u_t") is not None:
        _, out["u_t"] = power_iteration(layer["w"], state["u_t"], transpose=True)
    return out


def normalized(layer: dict, state: dict, scale: float, gamma):
    """``(kernel, bias)`` of a normalized layer: ``scale * gamma * W / sigma`` and ``gamma * b``.

    no_gamma: W / sigma times the constant scale, the bias untouched (fjxmlzn/BSN
    no_gamma-CNN/gan/op.py:149-150 conv, :29-30 dense). same/diff gamma: W / sigma and the bias
    both times the learnable gamma (diff_gamma-CNN/gan/op.py: conv and linear, ``w * scale``,
    ``biases * scale``), scale 1 there.
    """
    sigma = layer_sigmas(layer, state)[0]
    w = layer["w"] / sigma * scale
    b = layer["b"]
    if gamma is not None:
        w, b = w * gamma, b * gamma
    return w, b


def conv(x, w, stride: int = 1):
    """``tf.nn.conv2d(x, w, [1, s, s, 1], 'SAME')`` (fjxmlzn/BSN no_gamma-CNN/gan/op.py:152)."""
    return jax.lax.conv_general_dilated(
        x, w, (stride, stride), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def deconv(x, w, stride: int):
    """``tf.nn.conv2d_transpose`` with SAME padding and an output ``stride`` times larger
    (fjxmlzn/BSN no_gamma-CNN/gan/op.py:84-88): by definition the gradient of the SAME conv
    with kernel ``w`` ``[kh, kw, out, in]`` with respect to its input."""
    b, h, wd, _ = x.shape
    shape = (b, h * stride, wd * stride, w.shape[2])
    _, vjp = jax.vjp(lambda y: conv(y, w, stride), jnp.zeros(shape, x.dtype))
    return vjp(x)[0]


def leaky_relu(x, leak: float = LEAK):
    """``max(x, leak * x)`` (fjxmlzn/BSN no_gamma-CNN/gan/op.py:171-174)."""
    return jnp.maximum(x, leak * x)


# (kernel, stride) of the seven D convs: fjxmlzn/BSN no_gamma-CNN/gan/network.py:127-244.
CNN_D_STRIDES = (1, 2, 1, 2, 1, 2, 1)


def gamma_of(gammas: list, i: int):
    """Layer ``i``'s gamma: none, the one shared (same_gamma-CNN/gan/network.py) or its own
    (diff_gamma-CNN/gan/network.py:128-135, one per layer, 8 in all)."""
    if not gammas:
        return None
    return gammas[0] if len(gammas) == 1 else gammas[i]


def cnn_d(params: dict, states: list, x, scale: float = 1.0):
    """The CNN D's logits ``[B, 1]`` (fjxmlzn/BSN no_gamma-CNN/gan/network.py:123-256)."""
    h = x
    for i, (layer, stride) in enumerate(zip(params["convs"], CNN_D_STRIDES, strict=True)):
        w, b = normalized(layer, states[i], scale, gamma_of(params["gammas"], i))
        h = leaky_relu(conv(h, w, stride) + b)
    h = jnp.reshape(h, (h.shape[0], -1))  # op.py:10-12 (linear's flatten)
    w, b = normalized(params["dense"], states[-1], scale, gamma_of(params["gammas"], 7))
    return h @ w + b


def batch_norm(x, bn: dict):
    """Training-mode batch norm and its batch statistics.

    Normalizes with the biased batch variance (scale=True: gamma and beta; fjxmlzn/BSN
    no_gamma-CNN/gan/op.py:62-68); returns ``(y, mean, Bessel-corrected variance)``, the values
    TF1's fused kernel moves the moving averages towards.
    """
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    var = jnp.mean((x - mean) ** 2, axis=axes)
    n = np.prod([x.shape[a] for a in axes])
    y = bn["gamma"] * (x - mean) / jnp.sqrt(var + BN_EPSILON) + bn["beta"]
    return y, mean, var * n / (n - 1)


def moved(avg: dict, mean, var, times: int = 1) -> dict:
    """Moving averages after ``times`` updates ``m <- m - (m - batch) * (1 - momentum)``
    (tf.contrib.layers.batch_norm with decay=0.9, updates_collections=None: in place, on every
    training-mode call; fjxmlzn/BSN no_gamma-CNN/gan/op.py:62-68)."""
    m, v = avg["mean"], avg["var"]
    for _ in range(times):
        m = m - (m - mean) * (1 - BN_MOMENTUM)
        v = v - (v - var) * (1 - BN_MOMENTUM)
    return {"mean": m, "var": v}


def cnn_g(params: dict, z, mg: int):
    """The CNN G in training mode: ``(images, [(mean, unbiased var)] per BN)``
    (fjxmlzn/BSN no_gamma-CNN/gan/network.py:55-112)."""
    stats = []
    h = z @ params["dense"]["w"] + params["dense"]["b"]
    h, m, v = batch_norm(h, params["bns"][0])
    stats.append((m, v))
    h = jnp.reshape(jax.nn.relu(h), (-1, mg, mg, h.shape[-1] // (mg * mg)))
    for bn, dc in zip(params["bns"][1:], params["deconvs"][:3], strict=True):
        h = deconv(h, dc["w"], 2) + dc["b"]  # network.py:69-75 (4x4, stride 2)
        h, m, v = batch_norm(h, bn)
        stats.append((m, v))
        h = jax.nn.relu(h)
    last = params["deconvs"][3]
    return jnp.tanh(deconv(h, last["w"], 1) + last["b"]), stats  # network.py:101-110


def upsample(x):
    """fjxmlzn/BSN no_gamma-ResNet/gan/op.py:195-215 (``unpooling``: a 2x2 ones-kernel
    transposed conv, each pixel copied to a 2x2 block)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def avg_pool(x):
    """``tf.nn.avg_pool(ksize=2, strides=2, 'SAME')`` on even sizes (no_gamma-ResNet/gan/
    op.py:310)."""
    b, h, w, c = x.shape
    return jnp.mean(jnp.reshape(x, (b, h // 2, 2, w // 2, 2, c)), axis=(2, 4))


def resnet_d(params: dict, states: list, x, scale: float = 1.0):
    """The ResNet D's logits (fjxmlzn/BSN no_gamma-ResNet/gan/network.py:135-235 with
    op.py:268-355 ``down_resnet``): per block [ReLU (not the first), conv 3x3, ReLU, conv 3x3,
    pool (not the last)] + shortcut (first: pool then 1x1 conv; others: 1x1 conv then pool);
    then ReLU, sum over H and W, SN dense."""
    h = x
    n = len(params["blocks"])
    for i, block in enumerate(params["blocks"]):
        first, down = i == 0, i < n - 1
        gains = [gamma_of(params["gammas"], 3 * i + j) for j in range(3)]
        lay = [normalized(block[j], states[3 * i + j], scale, gains[j]) for j in range(3)]
        out = h if first else jax.nn.relu(h)
        out = conv(out, lay[0][0]) + lay[0][1]
        out = conv(jax.nn.relu(out), lay[1][0]) + lay[1][1]
        if down:
            out = avg_pool(out)
        if first:
            s = avg_pool(h) if down else h
            s = conv(s, lay[2][0]) + lay[2][1]
        else:
            s = conv(h, lay[2][0]) + lay[2][1]
            if down:
                s = avg_pool(s)
        h = out + s
    h = jnp.sum(jax.nn.relu(h), axis=(1, 2))
    w, b = normalized(params["dense"], states[-1], scale, gamma_of(params["gammas"], 3 * n))
    return h @ w + b


def resnet_g(params: dict, z):
    """The ResNet G in training mode: ``(images, [(mean, unbiased var)] per BN)``
    (fjxmlzn/BSN no_gamma-ResNet/gan/network.py:55-124, op.py:217-265 ``up_resnet``)."""
    stats = []
    c0 = params["blocks"][0]["bn1"]["gamma"].shape[0]
    h = z @ params["dense"]["w"] + params["dense"]["b"]
    h = jnp.reshape(h, (-1, 4, 4, c0))
    for blk in params["blocks"]:
        o, m, v = batch_norm(h, blk["bn1"])
        stats.append((m, v))
        o = conv(upsample(jax.nn.relu(o)), blk["conv1"]["w"]) + blk["conv1"]["b"]
        o, m, v = batch_norm(o, blk["bn2"])
        stats.append((m, v))
        o = conv(jax.nn.relu(o), blk["conv2"]["w"]) + blk["conv2"]["b"]
        h = o + conv(upsample(h), blk["shortcut"]["w"]) + blk["shortcut"]["b"]
    h, m, v = batch_norm(h, params["bn"])
    stats.append((m, v))
    return jnp.tanh(conv(jax.nn.relu(h), params["conv"]["w"]) + params["conv"]["b"]), stats


def hinge_d(d_real, d_fake):
    """``(real, fake)`` hinge terms mean(relu(1 - D(x))), mean(relu(1 + D(G(z))))
    (fjxmlzn/BSN no_gamma-CNN/gan/gan.py:120-125)."""
    return jnp.mean(jax.nn.relu(1.0 - d_real)), jnp.mean(jax.nn.relu(1.0 + d_fake))


def wgan_d(d_real, d_fake):
    """``(real, fake)`` WGAN terms -mean(D(x)), mean(D(G(z))) (fjxmlzn/BSN
    diff_gamma-CNN/gan/gan.py:122-123)."""
    return -jnp.mean(d_real), jnp.mean(d_fake)


def gradient_penalty(d: Callable, real, fake, alpha):
    """mean((sqrt(||grad D(x_hat)||^2 + 1e-8) - 1)^2) at ``x_hat = x + alpha (G(z) - x)``
    (fjxmlzn/BSN diff_gamma-CNN/gan/gan.py:125-145)."""
    x_hat = real + alpha * (fake - real)
    grads = jax.grad(lambda x: jnp.sum(d(x)))(x_hat)
    slopes = jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3)) + SLOPE_EPS)
    return jnp.mean((slopes - 1.0) ** 2)


def slopes(d: Callable, x):
    """Per-sample ``sqrt(||dD/dx||^2 + 1e-8)`` (fjxmlzn/BSN no_gamma-CNN/gan/gan.py:127-147)."""
    grads = jax.grad(lambda y: jnp.sum(d(y)))(x)
    return jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3)) + SLOPE_EPS)


@dataclass(frozen=True)
class Adam:
    """tf.train.AdamOptimizer (TF1): ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``w <- w - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (tensorflow r1.14
    python/training/adam.py _apply_dense), with the paper's settings (fjxmlzn/BSN
    no_gamma-CNN/gan/gan.py:149-161, config.py:28-33)."""

    lr: float = ADAM_LR
    beta1: float = ADAM_BETA1
    beta2: float = ADAM_BETA2
    epsilon: float = ADAM_EPSILON

    def init(self, params):
        """Zero moments and step 0 for a parameter pytree."""
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return {"m": zeros, "v": zeros, "t": 0}

    def step(self, params, grads, slots):
        """One update; returns ``(params, slots)``. A None gradient leaves its variable and
        moments alone (TF1's minimize skips variables without a gradient)."""
        t = slots["t"] + 1
        lr_t = self.lr * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        m = jax.tree_util.tree_map(
            lambda m, g: self.beta1 * m + (1 - self.beta1) * g, slots["m"], grads
        )
        v = jax.tree_util.tree_map(
            lambda v, g: self.beta2 * v + (1 - self.beta2) * g**2, slots["v"], grads
        )
        new = jax.tree_util.tree_map(
            lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + self.epsilon), params, m, v
        )
        return new, {"m": m, "v": v, "t": t}


@dataclass(frozen=True)
class Setup:
    """What an iteration needs besides the weights: the family and the method's settings."""

    family: str = "cnn"  # "cnn" or "resnet"
    loss: str = "hinge"  # "hinge" or "wgan_gp"
    scale: float = 1.0
    d_gp_coe: float = D_GP_COE
    mg: int = 4
    d_adam: Adam | None = None
    g_adam: Adam | None = None
    slopes: bool = False  # also compute the per-sample input-gradient norms

    def d(self, params, states, x):
        fn = cnn_d if self.family == "cnn" else resnet_d
        return fn(params, states, x, self.scale)

    def g(self, params, z):
        return cnn_g(params, z, self.mg) if self.family == "cnn" else resnet_g(params, z)


def d_loss(setup: Setup, d_params, states, real, fake, alpha=None):
    """``(loss, terms)``: the D loss of ``setup.loss`` and its logged parts."""
    d = lambda x: setup.d(d_params, states, x)  # noqa: E731
    d_real, d_fake = d(real), d(fake)
    terms = hinge_d if setup.loss == "hinge" else wgan_d
    real_t, fake_t = terms(d_real, d_fake)
    out = {"loss/d/real": real_t, "loss/d/fake": fake_t, "d/real": jnp.mean(d_real)}
    out["d/fake"] = jnp.mean(d_fake)
    loss = real_t + fake_t
    if setup.loss == "wgan_gp":
        gp = gradient_penalty(d, real, fake, alpha)
        out["loss/d/gp"] = gp
        loss = loss + setup.d_gp_coe * gp
    out["loss/d"] = loss
    return loss, out


def sigma_list(d_params: dict, states: list) -> list:
    """Every normalized layer's logged sigmas, input to output."""
    return [layer_sigmas(lay, st) for lay, st in zip(all_layers(d_params), states, strict=True)]


def all_layers(d_params: dict) -> list:
    """The normalized layers in sigma order."""
    if "convs" in d_params:
        return d_params["convs"] + [d_params["dense"]]
    return [lay for block in d_params["blocks"] for lay in block] + [d_params["dense"]]


@partial(jax.jit, static_argnums=0)
def d_eval(setup: Setup, d_params, states, real, fake, alpha=None):
    """The D loss's gradient and this step's stats (losses, sigmas, and with
    ``setup.slopes`` the slopes) on the current weights and u; compiled once per setup and
    shapes."""
    (_, stats), grads = jax.value_and_grad(d_loss, argnums=1, has_aux=True)(
        setup, d_params, states, real, fake, alpha
    )
    stats["sigmas"] = sigma_list(d_params, states)
    if setup.slopes:
        d = lambda x: setup.d(d_params, states, x)  # noqa: E731
        stats["slopes/real"], stats["slopes/fake"] = slopes(d, real), slopes(d, fake)
    return stats, grads


@partial(jax.jit, static_argnums=0)
def g_forward(setup: Setup, g_params, z):
    """G(z) in training mode and its BN batch statistics (compiled)."""
    return setup.g(g_params, z)


@partial(jax.jit, static_argnums=0)
def g_eval(setup: Setup, g_params, d_params, states, z):
    """``(-mean(D(G(z))), BN batch statistics, gradient to G's params)`` (compiled)."""

    def loss(gp):
        fake, bn = setup.g(gp, z)
        return -jnp.mean(setup.d(d_params, states, fake)), bn

    (value, bn), grads = jax.value_and_grad(loss, has_aux=True)(g_params)
    return value, bn, grads


@partial(jax.jit, static_argnums=0)
def new_states(setup: Setup, d_params, states):
    """``u <- u'`` of every normalized layer from the current W (compiled)."""
    return [updated_u(lay, st) for lay, st in zip(all_layers(d_params), states, strict=True)]


def d_step(setup: Setup, d_params, states, d_slots, real, fake, alpha=None):
    """One D update and ``u <- u'`` from the new weights; ``(params, states, slots, stats)``
    with the stats (losses, sigmas before the update, slopes) of this step."""
    stats, grads = d_eval(setup, d_params, states, real, fake, alpha)
    stats = dict(stats, d_grads=grads)
    d_params, d_slots = setup.d_adam.step(d_params, grads, d_slots)
    return d_params, new_states(setup, d_params, states), d_slots, stats


def g_step(setup: Setup, g_params, g_slots, d_params, states, z):
    """One G update on ``-mean(D(G(z)))`` (fjxmlzn/BSN no_gamma-CNN/gan/gan.py:116, :149-154);
    no ``u`` moves (the D call on fakes uses NO_OPS, gan.py:105-109). Returns
    ``(params, slots, loss, batch statistics of this forward, grads)``."""
    value, bn, grads = g_eval(setup, g_params, d_params, states, z)
    g_params, g_slots = setup.g_adam.step(g_params, grads, g_slots)
    return g_params, g_slots, value, bn, grads


def move_all(avgs: list, bn_stats: list, times: int = 1) -> list:
    """Every BN's moving averages after ``times`` updates on its batch statistics."""
    return [moved(a, m, v, times) for a, (m, v) in zip(avgs, bn_stats, strict=True)]


def cnn_iteration(setup: Setup, state: dict, draws: list, alphas: list | None = None) -> dict:
    """One iteration of the CNN families (fjxmlzn/BSN no_gamma-CNN/gan/gan.py:353-371).

    ``state``: ``d``, ``states`` (u per layer), ``g``, ``avgs`` (BN moving averages),
    ``d_slots``, ``g_slots``. ``draws``: ``n_dis`` pairs (real, z). Each D step runs G(z) in
    training mode (its BN averages move once, in place, op.py:62-68), updates D, then moves
    every u (gan.py:358, :366). The G step reuses the last feed_dict's z (gan.py:368-370): a
    second G forward on the same z and weights, so the averages move a second time.
    """
    s = dict(state)
    stats = {}
    for i, (real, z) in enumerate(draws):
        fake, bn = g_forward(setup, s["g"], z)
        s["avgs"] = move_all(s["avgs"], bn)
        alpha = None if alphas is None else alphas[i]
        s["d"], s["states"], s["d_slots"], stats = d_step(
            setup, s["d"], s["states"], s["d_slots"], real, fake, alpha
        )
    z = draws[-1][1]
    s["g"], s["g_slots"], stats["loss/g"], bn, stats["g_grads"] = g_step(
        setup, s["g"], s["g_slots"], s["d"], s["states"], z
    )
    s["avgs"] = move_all(s["avgs"], bn)
    s["stats"] = stats
    return s


def resnet_iteration(
    setup: Setup, state: dict, draws: list, g_z, alphas: list | None = None
) -> dict:
    """One iteration of the ResNet family (fjxmlzn/BSN no_gamma-ResNet/gan/gan.py:512-530).

    Each D step: G(z) in training mode without running the BN update ops (those run only with
    the G step, gan.py:144-145, :527-528), the D update, ``u <- u'`` (:518). The G step draws a
    fresh z of g_batch_size (:526) and moves the BN averages once. The stats are those of the
    last D step, before its update.
    """
    s = dict(state)
    stats = {}
    for i, (real, z) in enumerate(draws):
        fake, _ = g_forward(setup, s["g"], z)
        alpha = None if alphas is None else alphas[i]
        s["d"], s["states"], s["d_slots"], stats = d_step(
            setup, s["d"], s["states"], s["d_slots"], real, fake, alpha
        )
    s["g"], s["g_slots"], stats["loss/g"], bn, stats["g_grads"] = g_step(
        setup, s["g"], s["g_slots"], s["d"], s["states"], g_z
    )
    s["avgs"] = move_all(s["avgs"], bn)
    s["stats"] = stats
    return s
