"""The one adapter between the golden tests and the port (``gan/``).

Every access to the port's modules, classes and variable layout lives here, so that when the
port's APIs move only this file changes. The tests read the port's weights as the nested
dicts of :mod:`tests.golden.reference`, pin its random draws (real batches, z, WGAN-GP's alpha)
to given arrays, and run its real code paths: the task trainer's traced iteration and
``gan.bsn.BSNGAN.fit``.
"""

from __future__ import annotations

import numpy as np

# Tiny inputs: 32x32 CIFAR-shaped uint8 images, the networks at 1/16 of the paper's channels.
IMAGES = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
WIDTH = 1 / 16
BATCH = 4


# ------------------------------------------------------------------ public gan.bsn API
def bsn_api():
    """The library module (``gan.bsn``: layers, BSNGAN, update_u)."""
    from gan import bsn

    return bsn


# -------------------------------------------------------------------------- builders
def run_config(**over):
    """A validated tiny run config (CIFAR-10 shapes, width 1/16, batch 4, no metrics)."""
    from gan.config import validate_run_config

    cfg = dict(
        dataset="cifar10",
        mg=4,
        iteration=2,
        batch_size=BATCH,
        network_width=WIDTH,
        metrics=[],
        vis_freq=1000,
        save_checkpoint_freq=1000,
    )
    if over.get("network") == "resnet":
        cfg.pop("mg")
        cfg.pop("batch_size")
        cfg.update(d_batch_size=BATCH, g_batch_size=BATCH + 2)
    cfg.update(over)
    return validate_run_config(cfg)


def trainer(run_dir: str, **over):
    """The task trainer of ``run_config(**over)`` on :data:`IMAGES`."""
    from gan.trainer import Trainer

    return Trainer(run_config(**over), run_dir, IMAGES, seed=3)


def networks(**over):
    """Freshly built ``(generator, discriminator)`` of ``run_config(**over)``."""
    from gan.networks.specs import build_networks

    return build_networks(run_config(**over), (32, 32, 3))


def adam_epsilon() -> float:
    """The epsilon the runner builds its Adam optimizers with."""
    from gan.trainer import ADAM_EPSILON

    return ADAM_EPSILON


def fused_bn_min_epsilon() -> float:
    """The port's lower bound on batch norm's epsilon."""
    from gan.layers import FUSED_BN_MIN_EPSILON

    return FUSED_BN_MIN_EPSILON


def batch_norms(model) -> list:
    """Every batch-norm layer of a generator, in forward order."""
    from gan.layers import BatchNorm

    return [layer for layer in model._flatten_layers() if isinstance(layer, BatchNorm)]


def normalized_layers(model) -> list:
    """Every spectrally normalized layer of a discriminator, in sigma order."""
    return list(model.normalized_layers)


# ------------------------------------------------------------------ weights as dicts
def _np(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float64)


def _norm_layer(layer, read=_np) -> tuple[dict, dict]:
    params = {"w": read(layer.kernel), "b": read(layer.bias)}
    state = {"u": read(layer.u), "u_t": None if layer.u_t is None else read(layer.u_t)}
    return params, state


def _dense(layer, read=_np) -> dict:
    return {"w": read(layer.kernel), "b": read(layer.bias)}


def _bn(bn, read=_np) -> tuple[dict, dict]:
    return (
        {"gamma": read(bn.gamma), "beta": read(bn.beta)},
        {"mean": read(bn.moving_mean), "var": read(bn.moving_variance)},
    )


def d_weights(d, read=_np) -> tuple[dict, list]:
    """``(params, states)`` of a CNN or ResNet discriminator (see reference's docstring);
    ``read`` maps each variable (default: to a float64 array; ``variables`` keeps it)."""
    gammas = [read(g) for g in d.gammas]
    dense, dense_state = _norm_layer(d.dense, read)
    if hasattr(d, "convs"):
        pairs = [_norm_layer(c, read) for c in d.convs]
        params = {"convs": [p for p, _ in pairs], "dense": dense, "gammas": gammas}
        return params, [s for _, s in pairs] + [dense_state]
    blocks, states = [], []
    for block in d.blocks:
        pairs = [_norm_layer(c, read) for c in (block.conv1, block.conv2, block.shortcut)]
        blocks.append([p for p, _ in pairs])
        states += [s for _, s in pairs]
    return {"blocks": blocks, "dense": dense, "gammas": gammas}, states + [dense_state]


def g_weights(g, read=_np) -> tuple[dict, list]:
    """``(params, moving averages)`` of a CNN or ResNet generator."""
    if hasattr(g, "deconvs"):
        bns = [_bn(b, read) for b in g.bns]
        params = {
            "dense": _dense(g.dense, read),
            "bns": [p for p, _ in bns],
            "deconvs": [_dense(c, read) for c in g.deconvs + [g.out_conv]],
        }
        return params, [a for _, a in bns]
    blocks, avgs = [], []
    for blk in g.blocks:
        (bn1, a1), (bn2, a2) = _bn(blk.bn1, read), _bn(blk.bn2, read)
        blocks.append(
            {
                "bn1": bn1,
                "conv1": _dense(blk.conv1, read),
                "bn2": bn2,
                "conv2": _dense(blk.conv2, read),
                "shortcut": _dense(blk.shortcut, read),
            }
        )
        avgs += [a1, a2]
    bn, a = _bn(g.out_bn, read)
    params = {
        "dense": _dense(g.dense, read),
        "blocks": blocks,
        "bn": bn,
        "conv": _dense(g.out_conv, read),
    }
    return params, avgs + [a]


def variables(v):
    """``read`` for :func:`d_weights` / :func:`g_weights` that keeps the variable itself."""
    return v


def adam_slots(opt, params_of_variables) -> tuple:
    """The optimizer's ``(m, v)`` as two pytrees shaped like ``params_of_variables`` (a
    ``d_weights``/``g_weights`` params tree read with :func:`variables`)."""
    import jax

    def slot(which):
        def read(v):
            i = opt._get_variable_index(v)
            return _np((opt._momentums if which == "m" else opt._velocities)[i])

        return jax.tree_util.tree_map(read, params_of_variables)

    return slot("m"), slot("v")


def trainable_paths(model) -> list[str]:
    """The trainable variables' paths, in ``model.trainable_variables`` order."""
    return [v.path for v in model.trainable_variables]


def adam_of(opt) -> dict:
    """An optimizer's settings and step count."""
    return {
        "lr": float(np.asarray(opt.learning_rate)),
        "beta1": float(opt.beta_1),
        "beta2": float(opt.beta_2),
        "epsilon": float(opt.epsilon),
        "iterations": int(opt.iterations.numpy()),
    }


# ------------------------------------------------------------------------ pinned draws
class _Queue:
    """Stands in for the run's ``tf.random.Generator``: ``normal`` returns the queued z,
    ``uniform`` the queued WGAN-GP alphas, in order (checking the requested shape)."""

    def __init__(self, zs: list, alphas: list):
        self.zs, self.alphas = list(zs), list(alphas)

    @staticmethod
    def _pop(queue: list, shape, what: str):
        import tensorflow as tf

        if not queue:
            raise AssertionError(f"the port drew one {what} more than the golden run pinned")
        value = queue.pop(0)
        static = [tf.get_static_value(s) for s in shape]
        if len(static) != value.ndim or any(
            s is not None and int(s) != n for s, n in zip(static, value.shape, strict=True)
        ):
            raise AssertionError(f"the port drew {what} of shape {shape}, pinned {value.shape}")
        return tf.constant(value, tf.float32)

    def normal(self, shape, *args, **kwargs):
        return self._pop(self.zs, shape, "z")

    def uniform(self, shape, *args, **kwargs):
        return self._pop(self.alphas, shape, "alpha")


def pin_draws(t, reals: list, zs: list, alphas: list = ()) -> _Queue:
    """Make trainer ``t`` draw the given real batches (in [-1, 1]), z and alphas in order."""
    import tensorflow as tf

    queue = _Queue(zs, alphas)
    pending = list(reals)

    def sample_real(n):
        assert pending, "the port drew one real batch more than pinned"
        value = pending.pop(0)
        assert value.shape[0] == n
        return tf.constant(value, tf.float32)

    t.schedule.rng = queue
    t.schedule.sample_real = sample_real
    queue.reals = pending
    return queue


def run_iteration(t, with_summary: bool = True, traced: bool = True) -> dict[str, float]:
    """One iteration of trainer ``t``'s schedule; its stats as floats.

    ``traced``: as the trainer runs it, one ``tf.function`` (traced afresh, so the pinned
    draws are read at this trace); else eagerly (a graph loop over ``n_dis`` would read the
    pinned draws once).
    """
    import tensorflow as tf

    fn = tf.function(t.schedule.iteration) if traced else t.schedule.iteration
    return {k: float(v) for k, v in fn(with_summary).items()}


def trainer_parts(t):
    """``(generator, discriminator, g_opt, d_opt)`` of a trainer."""
    return t.generator, t.discriminator, t.g_opt, t.d_opt


# ----------------------------------------------------------------------------- fit()
def bsngan(generator, discriminator, cfg, zs: list, alphas: list = ()):
    """A compiled ``BSNGAN`` of the two networks with the runner's Adam settings, its z and
    alphas pinned; run eagerly, so every step reads the next pinned draw."""
    import keras

    bsn = bsn_api()
    model = bsn.BSNGAN(generator, discriminator)
    model.compile(
        d_optimizer=keras.optimizers.Adam(
            cfg.d_lr, beta_1=cfg.d_beta1, beta_2=cfg.d_beta2, epsilon=adam_epsilon()
        ),
        g_optimizer=keras.optimizers.Adam(
            cfg.g_lr, beta_1=cfg.g_beta1, beta_2=cfg.g_beta2, epsilon=adam_epsilon()
        ),
        loss=cfg.loss,
        n_dis=cfg.n_dis,
        gp_weight=cfg.d_gp_coe or 0.0,
        diagnostics=True,
        run_eagerly=True,
    )
    queue = _Queue(zs, alphas)
    model.sample_z = lambda n: queue.normal((int(n), model.latent_dim))
    model.uniform = queue.uniform
    return model


def fit(model, reals: np.ndarray, steps: int) -> dict[str, float]:
    """``model.fit`` on ``reals`` (``steps`` batches of n_dis D batches each); last logs."""
    batch = reals.shape[0] // steps
    logs = model.fit(reals, batch_size=batch, epochs=1, shuffle=False, verbose=0).history
    return {k: float(v[-1]) for k, v in logs.items()}


def sigmas(d) -> list[float]:
    """Every logged sigma of a discriminator on its current weights and u, flattened in
    layer order (BSN layers: mean, sigma(W), sigma(W^T))."""
    out: list[float] = []

    def walk(node):
        if isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
        else:
            out.append(float(np.asarray(node)))

    walk([layer.sigmas() for layer in normalized_layers(d)])
    return out
