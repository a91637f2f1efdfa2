"""Three iterations of BSNGAN.fit on tiny networks with fixed initial values, run in a process
whose KERAS_BACKEND is set by the caller (tests/test_backends.py); writes every variable and
the last logs to ``sys.argv[1]`` (.npz)."""

import sys

import keras
import numpy as np

from gan import bsn


def tiny_gan(loss: str) -> bsn.BSNGAN:
    """A BN generator and a BSN discriminator (learnable gamma), compiled with Adam."""
    generator = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4 * 4 * 4),
            keras.layers.Reshape((4, 4, 4)),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh"),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            bsn.SNConv2D(4, 3, strides=2, padding="same", sn_mode="BSN", learnable_gamma=True),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode="SN"),
        ]
    )
    gan = bsn.BSNGAN(generator, discriminator, seed=4)
    rng = np.random.default_rng(0)
    for v in gan.variables:
        if v.trainable and "gamma" not in v.path:
            v.assign(rng.standard_normal(v.shape).astype("float32") * 0.2)
        elif v.path.endswith("/u") or v.path.endswith("/u_t"):
            v.assign(rng.standard_normal(v.shape).astype("float32"))
    gan.compile(
        d_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5, epsilon=1e-8),
        loss=loss,
        n_dis=2,
        diagnostics=True,
    )
    return gan


if __name__ == "__main__":
    gan = tiny_gan(sys.argv[2])
    images = np.random.default_rng(1).uniform(-1, 1, (24, 8, 8, 3)).astype("float32")
    history = gan.fit(images, batch_size=8, epochs=1, shuffle=False, verbose=0)
    out = {f"var:{v.path}": keras.ops.convert_to_numpy(v) for v in gan.variables}
    out.update({f"opt:{v.path}": keras.ops.convert_to_numpy(v) for v in gan.d_optimizer.variables})
    out.update({f"log:{k}": np.asarray(v[-1]) for k, v in history.history.items()})
    np.savez(sys.argv[1], **out)
