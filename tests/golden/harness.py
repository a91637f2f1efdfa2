"""Runs the port and the golden reference from the same state and compares them.

The port side goes through :mod:`tests.golden.port` only; the golden side is
:mod:`tests.golden.reference` in float64. Tolerances are :data:`TOL` (see its table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np

from tests.golden import port
from tests.golden import reference as ref

# Tolerances per quantity. Two float32 measurements set them (docs/faithfulness.md, "Golden
# tests"): the noise floor, the largest change of each quantity when every input of the port's
# iteration (real batches, z, alpha) moves by 1 ulp (``python -m tests.golden.noise_floor``,
# CNN SN hinge and BSN diff-gamma WGAN-GP n_dis 2), and the port-vs-golden difference of the
# passing runs (float32 evaluation error, larger than the floor: 8-layer networks and their
# second derivatives round at every op). Each tolerance is about 10x the larger of the two.
#
# ==================  =====================  =========  ==========  ============================
# quantity            compared as            1-ulp      port vs     tolerance
#                                            floor      golden
# ==================  =====================  =========  ==========  ============================
# losses, D means     absolute               6.8e-9     2.5e-7      atol 2e-6 + rtol 1e-5
# sigmas              relative               1.1e-7     2e-8        rtol 1e-5 (+ atol 1e-6)
# u, u_t (norm 1)     absolute               4.3e-8     2.1e-7      2e-6
# BN moving avgs      absolute               6.0e-8     1.6e-7      atol 2e-6 + rtol 1e-5
# Adam m, v           abs. / largest moment  7.8e-7     4.7e-6      3e-5 x max + rtol 1e-3
# weights (|m| big)   absolute               4.5e-8     1.1e-7      atol 1e-7 + rtol 1e-5
# weights (|m| tiny)  absolute               1.2e-6     2.4e-6      2 lr (one Adam step of a
#                                                                   round-off gradient)
# ==================  =====================  =========  ==========  ============================
TOL = {
    "loss": dict(rtol=1e-5, atol=2e-6),
    "sigma": dict(rtol=1e-5, atol=1e-6),
    "u": 2e-6,
    "bn": dict(rtol=1e-5, atol=2e-6),
    "moment_rtol": 1e-3,
    "moment_atol": 3e-5,
    "weight": dict(rtol=1e-5, atol=1e-7),
}


@dataclass
class Draws:
    """Pinned draws of one run: per D step a real batch, z and alpha; G-step z (ResNet)."""

    reals: list = field(default_factory=list)
    zs: list = field(default_factory=list)
    alphas: list = field(default_factory=list)
    g_zs: list = field(default_factory=list)


def make_draws(cfg, iterations: int, seed: int = 7, resnet: bool = False) -> Draws:
    """Real batches uniform in [-1, 1], z ~ N(0, I), alpha ~ U[0, 1), as float32 values."""
    rng = np.random.default_rng(seed)
    b = cfg.d_batch_size if resnet else cfg.batch_size
    out = Draws()
    for _ in range(iterations):
        for _ in range(cfg.n_dis):
            out.reals.append(rng.uniform(-1, 1, (b, 32, 32, 3)).astype(np.float32))
            out.zs.append(rng.standard_normal((b, cfg.latent_dim)).astype(np.float32))
            if cfg.loss == "wgan_gp":
                out.alphas.append(rng.uniform(0, 1, (b, 1, 1, 1)).astype(np.float32))
        if resnet:
            out.g_zs.append(
                rng.standard_normal((cfg.g_batch_size, cfg.latent_dim)).astype(np.float32)
            )
    return out


def port_queue_zs(draws: Draws, cfg, resnet: bool) -> list:
    """The z in the order the port's generator draws them (ResNet: the G step's z after the
    D steps' of each iteration)."""
    if not resnet:
        return list(draws.zs)
    out = []
    for it, g_z in enumerate(draws.g_zs):
        out += draws.zs[it * cfg.n_dis : (it + 1) * cfg.n_dis] + [g_z]
    return out


def golden_state(g, d) -> dict:
    """The reference's iteration state read from the port's networks (fresh optimizers)."""
    d_params, states = port.d_weights(d)
    g_params, avgs = port.g_weights(g)
    adam = ref.Adam()
    with ref.float64():
        return {
            "d": ref.f64(d_params),
            "states": ref.f64(states),
            "g": ref.f64(g_params),
            "avgs": ref.f64(avgs),
            "d_slots": adam.init(ref.f64(d_params)),
            "g_slots": adam.init(ref.f64(g_params)),
        }


def setup_for(cfg, slopes: bool = False) -> ref.Setup:
    """The reference's settings of a run config (loss, scale, d_gp_coe, family)."""
    return ref.Setup(
        family="resnet" if cfg.network == "resnet" else "cnn",
        loss=cfg.loss,
        scale=cfg.scale,
        d_gp_coe=cfg.d_gp_coe if cfg.loss == "wgan_gp" else 0.0,
        mg=cfg.mg or 4,
        d_adam=ref.Adam(),
        g_adam=ref.Adam(),
        slopes=slopes,
    )


def golden_run(cfg, state: dict, draws: Draws, iterations: int, slopes: bool = False) -> dict:
    """``iterations`` reference iterations from ``state`` on ``draws``; the final state as
    NumPy (``stats`` from the last iteration)."""
    setup = setup_for(cfg, slopes)
    n = cfg.n_dis
    with ref.float64():
        s = state
        for it in range(iterations):
            pairs = [
                (ref.f64(draws.reals[it * n + i]), ref.f64(draws.zs[it * n + i])) for i in range(n)
            ]
            alphas = (
                [ref.f64(a) for a in draws.alphas[it * n : (it + 1) * n]] if draws.alphas else None
            )
            if setup.family == "cnn":
                s = ref.cnn_iteration(setup, s, pairs, alphas)
            else:
                s = ref.resnet_iteration(setup, s, pairs, ref.f64(draws.g_zs[it]), alphas)
        return ref.to_numpy({k: v for k, v in s.items() if k not in ("d_slots", "g_slots")}) | {
            "d_slots": ref.to_numpy({"m": s["d_slots"]["m"], "v": s["d_slots"]["v"]}),
            "g_slots": ref.to_numpy({"m": s["g_slots"]["m"], "v": s["g_slots"]["v"]}),
        }


def leaves(tree) -> list:
    """The non-None leaves of a pytree, in order."""
    return jax.tree_util.tree_leaves(tree)


def port_state(g, d, g_opt, d_opt) -> dict:
    """The port's state after training, shaped like :func:`golden_run`'s."""
    d_params, states = port.d_weights(d)
    g_params, avgs = port.g_weights(g)
    d_m, d_v = port.adam_slots(d_opt, port.d_weights(d, port.variables)[0])
    g_m, g_v = port.adam_slots(g_opt, port.g_weights(g, port.variables)[0])
    return {
        "d": d_params,
        "states": states,
        "g": g_params,
        "avgs": avgs,
        "d_slots": {"m": d_m, "v": d_v},
        "g_slots": {"m": g_m, "v": g_v},
    }


def assert_states_match(mine: dict, gold: dict, lr: float) -> None:
    """The port's final state equals the golden one within :data:`TOL`: u vectors, BN moving
    averages, Adam moments (the gradients) and weights."""
    for i, (a, b) in enumerate(zip(leaves(mine["states"]), leaves(gold["states"]), strict=True)):
        assert np.abs(a - b).max() <= TOL["u"], f"u #{i}: max diff {np.abs(a - b).max():.3g}"
    for i, (a, b) in enumerate(zip(leaves(mine["avgs"]), leaves(gold["avgs"]), strict=True)):
        np.testing.assert_allclose(a, b, **TOL["bn"], err_msg=f"BN moving average #{i}")
    for net in ("d", "g"):
        slots_a, slots_b = mine[f"{net}_slots"], gold[f"{net}_slots"]
        scale = {k: max(np.abs(x).max() for x in leaves(slots_b[k])) for k in ("m", "v")}
        for k in ("m", "v"):
            for i, (a, b) in enumerate(zip(leaves(slots_a[k]), leaves(slots_b[k]), strict=True)):
                np.testing.assert_allclose(
                    a,
                    b,
                    rtol=TOL["moment_rtol"],
                    atol=TOL["moment_atol"] * scale[k],
                    err_msg=f"{net} Adam {k} #{i}",
                )
        m_leaves = leaves(slots_b["m"])
        for i, (a, b) in enumerate(zip(leaves(mine[net]), leaves(gold[net]), strict=True)):
            meaningful = np.abs(m_leaves[i]) > 1e-3 * scale["m"]
            np.testing.assert_allclose(
                a[meaningful], b[meaningful], **TOL["weight"], err_msg=f"{net} weight #{i}"
            )
            assert np.abs(a - b).max() <= 2 * lr, f"{net} weight #{i}"


def assert_stats_match(stats: dict, gold: dict, names: list[str]) -> None:
    """The port's logged ``names`` equal the golden iteration's within :data:`TOL`."""
    gs = gold["stats"]
    for name in names:
        np.testing.assert_allclose(stats[name], gs[name], **TOL["loss"], err_msg=name)


def golden_sigma_scalars(gold_stats: dict) -> dict[str, float]:
    """The last D step's sigmas, named as the port logs them (CNN: d/sigma{i}[_{j}])."""
    out = {}
    for i, sig in enumerate(gold_stats["sigmas"]):
        if len(sig) == 1:
            out[f"d/sigma{i}"] = float(sig[0])
        else:
            for j, s in enumerate(sig):
                out[f"d/sigma{i}_{j}"] = float(s)
    return out
