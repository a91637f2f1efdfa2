"""The float32 noise floor of the port's iteration, behind the tolerances of
:data:`tests.golden.harness.TOL`:

    python -m tests.golden.noise_floor

Runs the trainer's CNN iteration twice from the same weights, once with every input (real
batches, z, alpha) moved by 1 ulp (``np.nextafter`` away from zero), and prints, per quantity,
the largest change: the spread float32 round-off alone produces. Not collected by pytest.
"""

from __future__ import annotations

import datetime
import os
import tempfile

import numpy as np

from tests.golden import harness, port

CASES = {
    "sn-hinge": dict(sn_mode="SN"),
    "bsn-diff-gamma-wgan-gp-ndis2": dict(
        sn_mode="BSN", gamma="diff", loss="wgan_gp", d_gp_coe=10.0, n_dis=2
    ),
}


def nudged(arrays: list) -> list:
    """Every element moved by one float32 ulp away from zero."""
    inf = np.float32(np.inf)
    return [np.nextafter(a, np.where(a >= 0, inf, -inf).astype(np.float32)) for a in arrays]


def one_run(over: dict, draws: harness.Draws) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as run_dir:
        t = port.trainer(run_dir, **over)
        port.pin_draws(t, draws.reals, draws.zs, draws.alphas)
        stats = port.run_iteration(t, with_summary=True, traced=False)
        return stats, harness.port_state(*port.trainer_parts(t))


def spread(a: dict, b: dict) -> dict[str, float]:
    """Largest change per quantity between two runs (losses absolute: means of O(1) values;
    sigmas relative; moments relative to the largest moment)."""
    out = {}
    losses = [k for k in a[0] if k.startswith("loss/") or k in ("d/real", "d/fake")]
    out["losses (abs)"] = max(abs(a[0][k] - b[0][k]) for k in losses)
    sigmas = [k for k in a[0] if k.startswith("d/sigma")]
    out["sigmas (rel)"] = max(abs(a[0][k] - b[0][k]) / abs(b[0][k]) for k in sigmas)
    sa, sb = a[1], b[1]

    def most(x, y):
        return max(float(np.max(np.abs(p - q))) for p, q in zip(x, y, strict=True))

    out["u (abs)"] = most(harness.leaves(sa["states"]), harness.leaves(sb["states"]))
    out["BN averages (abs)"] = most(harness.leaves(sa["avgs"]), harness.leaves(sb["avgs"]))
    for net in ("d", "g"):
        for k in ("m", "v"):
            xs, ys = harness.leaves(sa[f"{net}_slots"][k]), harness.leaves(sb[f"{net}_slots"][k])
            scale = max(float(np.max(np.abs(y))) for y in ys)
            out[f"{net} Adam {k} (/max)"] = most(xs, ys) / scale
        out[f"{net} weights (abs)"] = most(harness.leaves(sa[net]), harness.leaves(sb[net]))
    return out


def main() -> None:
    print(f"float32 noise floor, {datetime.date.today()}, {os.cpu_count()} CPUs")
    for name, over in CASES.items():
        cfg = port.run_config(**over)
        draws = harness.make_draws(cfg, iterations=1)
        moved = harness.Draws(nudged(draws.reals), nudged(draws.zs), nudged(draws.alphas))
        result = spread(one_run(over, draws), one_run(over, moved))
        print(f"\n{name}:")
        for k, v in result.items():
            print(f"  {k:24s} {v:.2g}")


if __name__ == "__main__":
    main()
