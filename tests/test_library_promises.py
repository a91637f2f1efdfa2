"""What the library (gan.bsn) promises its users, each pinned by one test: fit on (images,
labels) pairs, one clear error for a batch that does not split into n_dis D batches, ``import
gan`` without TensorFlow, examples/custom_loop.py against fit, and a 2-replica fit against a
one-device fit.

The tests marked ``portable`` use only keras, keras.ops, numpy and gan.bsn (and the example,
whose loop is written per backend), so they run on every Keras backend; the others drive
TensorFlow (MirroredStrategy).
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from gan import bsn
from gan.errors import DataError, UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
portable = pytest.mark.portable


@pytest.fixture
def deterministic(request):
    """Reproducible kernels: TensorFlow's CPU reductions otherwise differ in the last bits from
    call to call (the other backends' CPU kernels are deterministic)."""
    if keras.backend.backend() == "tensorflow":
        request.getfixturevalue("deterministic_ops")


def generator(latent_dim: int = 8) -> keras.Model:
    """z -> 4x4x8 -> batch norm, ReLU -> transposed conv to 8x8x3, tanh."""
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            keras.layers.Dense(4 * 4 * 8),
            keras.layers.Reshape((4, 4, 8)),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
        ]
    )


def discriminator() -> keras.Model:
    """8x8x3 -> BSN conv, LeakyReLU -> SN dense logit."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            bsn.SNConv2D(8, 3, strides=2, sn_mode="BSN", scale=1.2),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode="SN"),
        ]
    )


def compiled(weights: list | None = None, n_dis: int = 2) -> bsn.BSNGAN:
    """A BSNGAN of the tiny networks (``weights`` copied in), compiled with the paper's Adam."""
    model = bsn.BSNGAN(generator(), discriminator(), seed=3)
    if weights is not None:
        model.set_weights(weights)
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=1e-8),
        n_dis=n_dis,
    )
    return model


def images(n: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (n, 8, 8, 3)).astype(np.float32)


def every_variable(model: bsn.BSNGAN) -> dict[str, np.ndarray]:
    """The networks' weights, ``u``, batch-norm averages, draw counter and optimizer slots, by
    path (the optimizers' prefixed with d/ and g/)."""
    found = {v.path: v for v in model.variables}
    found.update({f"d/{v.path}": v for v in model.d_optimizer.variables})
    found.update({f"g/{v.path}": v for v in model.g_optimizer.variables})
    return {path: keras.ops.convert_to_numpy(v) for path, v in found.items()}


@portable
def test_fit_on_image_label_pairs_ends_with_the_variables_of_fit_on_images(deterministic):
    """fit ignores the labels of (images, labels) pairs: the same weights, images and seed end
    with exactly the same variables as fit on the images alone."""
    x = images(16)
    labels = np.arange(16, dtype=np.int32) % 3
    alone = compiled()
    start = alone.get_weights()
    paired = compiled(start)
    alone.fit(x, batch_size=8, shuffle=False, verbose=0)
    paired.fit(x, labels, batch_size=8, shuffle=False, verbose=0)
    assert int(keras.ops.convert_to_numpy(paired.g_optimizer.iterations)) == 2
    mine, theirs = every_variable(paired), every_variable(alone)
    assert len(mine) == len(theirs) > len(start)
    for (path, a), b in zip(mine.items(), theirs.values(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=path)
    moved = [not np.array_equal(a, b) for a, b in zip(alone.get_weights(), start, strict=True)]
    assert sum(moved) > len(moved) // 2  # fit trained: the comparison has teeth


@portable
@pytest.mark.parametrize(
    "n, batch_size, bad",
    [(12, 6, 6), (14, 8, 6)],
    ids=["every_batch", "the_last_partial_batch"],
)
def test_a_batch_that_does_not_split_into_n_dis_d_batches_is_one_clear_error(n, batch_size, bad):
    """A batch of ``bad`` images with n_dis = 4 (every batch, or only a dataset's last, partial
    one) is one DataError naming the batch and n_dis, never a backend's reshape error."""
    model = compiled(n_dis=4)
    with pytest.raises(DataError) as caught:
        model.fit(images(n), batch_size=batch_size, shuffle=False, verbose=0)
    assert str(caught.value) == (
        f"BSNGAN.fit: a batch of {bad} images does not split into n_dis = 4 equal D batches; "
        f"batch the dataset by a multiple of n_dis"
    )
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


@portable
def test_import_gan_needs_no_tensorflow(tmp_path):
    """``import gan`` with a ``tensorflow`` that fails to import first on sys.path works and
    loads no framework (gan/__init__.py imports nothing heavy)."""
    poisoned = tmp_path / "poisoned" / "tensorflow"
    poisoned.mkdir(parents=True)
    (poisoned / "__init__.py").write_text("raise ImportError('import gan imported tensorflow')\n")
    code = (
        "import sys, gan\n"
        "heavy = sorted({'tensorflow', 'keras', 'jax', 'torch', 'numpy'} & set(sys.modules))\n"
        "print('heavy', heavy)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{poisoned.parent}{os.pathsep}{REPO}")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "heavy []"


def load_custom_loop():
    spec = importlib.util.spec_from_file_location(
        "custom_loop", os.path.join(REPO, "examples", "custom_loop.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@portable
def test_custom_loop_example_ends_with_the_variables_of_fit(deterministic):
    """examples/custom_loop.py's loop and BSNGAN.fit, from the same weights, real batches and
    latents (the z that fit draws), end three iterations with n_dis = 2 with the same
    variables, to float32 rounding (the loop sums the hinge terms before the backward pass,
    fit after it), on the backend this process runs (the loop's ``minimize`` is written per
    backend). Both use SGD, whose step is proportional to the gradient: the G biases ahead of
    batch norm have a zero gradient in exact arithmetic, and Adam would turn its rounding noise
    into steps of the learning rate's size."""
    example = load_custom_loop()
    to_numpy = keras.ops.convert_to_numpy
    latent, b, n_dis, steps = 8, 4, 2, 3

    def sgd() -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(0.05)

    g, d = example.networks(latent, 8, "BSN")
    model = bsn.BSNGAN(*example.networks(latent, 8, "BSN"), seed=11)
    model.generator.set_weights(g.get_weights())
    model.discriminator.set_weights(d.get_weights())
    model.compile(d_optimizer=sgd(), g_optimizer=sgd(), n_dis=n_dis)
    zs = iter([model.sample_z(b) for _ in range(steps * n_dis)])  # the latents fit draws
    model.draws.assign(0)

    start = g.get_weights() + d.get_weights()
    x = images(steps * n_dis * b)
    g_opt, d_opt = sgd(), sgd()
    example.train(
        g,
        d,
        g_opt,
        d_opt,
        iter(x.reshape(-1, b, 8, 8, 3)),
        steps,
        n_dis,
        latent,
        lambda n: next(zs),
    )
    model.fit(x, batch_size=n_dis * b, shuffle=False, verbose=0)

    assert int(to_numpy(model.g_optimizer.iterations)) == steps == int(to_numpy(g_opt.iterations))
    pairs = [
        (g.variables, model.generator.variables),
        (d.variables, model.discriminator.variables),
        (g_opt.variables, model.g_optimizer.variables),
        (d_opt.variables, model.d_optimizer.variables),
    ]
    for loop_vars, fit_vars in pairs:
        for a, b in zip(loop_vars, fit_vars, strict=True):
            np.testing.assert_allclose(
                to_numpy(a), to_numpy(b), rtol=1e-5, atol=1e-6, err_msg=a.path
            )
    kernels = [
        float(np.max(np.abs(to_numpy(v) - w)))
        for v, w in zip(g.weights + d.weights, start, strict=True)
        if v.path.endswith("kernel")
    ]
    assert len(kernels) == 6 and min(kernels) > 1e-3, kernels  # trained far past the tolerance


def test_two_replica_fit_ends_with_the_one_device_variables(tmp_path):
    """BSNGAN.fit under gan.bsn.mirrored_strategy on 2 logical CPUs and on one device, from the
    same weights, global batches and latents, end with the same variables to float32 rounding
    (tests/replica_fit_check.py: a G without batch norm, since the paper's batch norm is per
    replica; SGD, since Adam would hide a wrong replica factor)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "replica_fit_check.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    r = json.loads(lines[0][len("RESULT ") :])
    assert r["replicas"] == 2
    for path, (diff, _) in r["diffs"].items():
        assert diff <= 1e-6, (path, diff)
    # The comparison has teeth: every kernel moved far more than the tolerance.
    kernels = {path: moved for path, (_, moved) in r["diffs"].items() if path.endswith("kernel")}
    assert len(kernels) == 4 and min(kernels.values()) > 1e-3, kernels
