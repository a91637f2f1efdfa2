"""Does the recipe users copy train? ``BSNGAN.fit`` on real handwritten digits, scored offline.

    python benchmarks/recipe.py --steps 2000 --seeds 0,1 --out recipe_out

(docs/library.md "Does the recipe train?" has its figures.)
The data: scikit-learn's bundled digits (1,797 real 8x8 scans, 10 classes, 17 grey levels,
shipped inside its wheel: no download; ``pip install -r benchmarks/requirements.txt``),
upsampled to 16x16 (bilinear), grey to RGB, scaled to [-1, 1]; a seeded quarter is held
out. Every run trains on the rest with ``BSNGAN.fit`` on TensorFlow (BSN, hinge, n_dis 1,
Adam(1e-4, beta_1 0.5, epsilon 1e-8) for G and D, the same batches and step budget):

* A: the README's twenty-line model as written there (``w``: the paper's initializers);
* B: the same model with Keras' default initializers (``**w`` dropped);
* C: ``examples/dcgan_fit.py``'s networks (the paper's initializers, as shipped) at the
  digits' own 8x8 (``--dcgan_size 16``: at 16x16, ~7 times the README model's step), their
  samples upsampled as the digits are before scoring;
* D: the same networks with Keras' default initializers;
* E: the task runner's CNN (the network registry's ``cnn``, the paper's CIFAR-10 networks with
  their own initializers, ``mg`` 2 for 16x16) at ``--cnn_width`` of its channels, with the
  no_gamma-CNN task's CIFAR-10 settings (the hyperparameters above, scale 1).

The score needs no download: a small Keras classifier trained here on the held-out split's
complement (its test accuracy is printed) gives (a) the classifier score exp(E_x KL(p(y|x) ||
p(y))) (the Inception-score formula; 10 at most), (b) the Frechet distance between its
64-d penultimate features of the training digits and of ``--samples`` generated ones, (c) the
classes produced: how many of the 10 get at least a third of their fair share of argmax labels
(and the largest and smallest class shares). The real held-out digits, scored the same way,
are the ceiling. Each run also writes an 8x8 grid of its samples (``image_grid``, as
``SampleGrid``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if __name__ == "__main__":  # not when a test imports the networks
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    os.environ["KERAS_BACKEND"] = "tensorflow"  # the default backend, before Keras is imported

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from examples import dcgan_fit  # noqa: E402
from gan import bsn  # noqa: E402
from gan.bsn.callbacks import image_grid  # noqa: E402
from gan.metrics.inception.statistics import frechet_distance, split_score  # noqa: E402
from gan.networks.specs import network_spec  # noqa: E402

SIZE, LATENT, CLASSES, FEATURES = 16, 128, 10, 64
RUNS = {
    "A": ("README model", "paper"),
    "B": ("README model", "Keras"),
    "C": ("dcgan_fit.py", "paper"),
    "D": ("dcgan_fit.py", "Keras"),
    "E": ("runner CNN", "paper"),
}
GRID = 8  # an 8x8 grid of samples per run


def digits(subset: int | None = None, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): the digits at their 8x8 as RGB in [-1, 1], in a fixed random order
    (``subset``: only the first that many, for tests). ``path``: an ``.npz`` holding ``images``
    [N, 8, 8] (grey levels 0..16) and ``target`` [N] instead of scikit-learn's copy."""
    if path is None:
        # Imported here: scikit-learn is benchmarks/requirements.txt's, not the tests' (Keras
        # imports it at every start when it is installed).
        from sklearn.datasets import load_digits

        data = load_digits()
        images, target = data.images, data.target
    else:
        with np.load(path) as data:
            images, target = data["images"], data["target"]
    grey = images.astype(np.float32) / 8.0 - 1.0  # 17 levels, 0..16
    order = np.random.default_rng(0).permutation(len(grey))[:subset]
    return np.repeat(grey[order, ..., None], 3, axis=-1), target[order]


def upsample(images: np.ndarray) -> np.ndarray:
    """NHWC images in [-1, 1] to the classifier's 16x16x3: grey (channel mean), Pillow's
    bilinear resize where they are smaller, grey to RGB."""
    grey = images.mean(axis=-1).astype(np.float32)
    if grey.shape[1:] != (SIZE, SIZE):
        grey = np.stack(
            [
                np.asarray(Image.fromarray(g).resize((SIZE, SIZE), Image.Resampling.BILINEAR))
                for g in grey
            ]
        )
    return np.repeat(grey[..., None], 3, axis=-1).clip(-1.0, 1.0)


def build_classifier() -> keras.Model:
    """Two strided convs, a 64-d feature layer, ten logits; outputs [features, logits]."""
    inputs = keras.Input((SIZE, SIZE, 3))
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(keras.layers.Dropout(0.25)(h))
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(h)
    logits = keras.layers.Dense(CLASSES, name="logits")(features)
    return keras.Model(inputs, [features, logits], name="digits_classifier")


def train_classifier(x, y, x_test, y_test, epochs: int) -> tuple[keras.Model, float]:
    """The classifier trained (seed 0) on (x, y); returns it and its accuracy on the test set."""
    keras.utils.set_random_seed(0)
    model = build_classifier()
    trainer = keras.Model(model.input, model.output[1])
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    trainer.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return model, float(trainer.evaluate(x_test, y_test, verbose=0)[1])


class Scorer:
    """The download-free scores of a set of images against the training digits' features."""

    def __init__(self, classifier: keras.Model, reference: np.ndarray):
        self.classifier = classifier
        self.reference = self.outputs(reference)[0]

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, logits) of ``images`` in [-1, 1], float64."""
        f, logits = self.classifier.predict(images, batch_size=256, verbose=0)
        return f.astype(np.float64), logits.astype(np.float64)

    def __call__(self, images: np.ndarray) -> dict[str, float]:
        """score (exp E KL, max 10), distance (Frechet, features), classes produced (of 10 with
        >= 1/3 of a fair share of argmax labels), the largest and smallest class share."""
        features, logits = self.outputs(images)
        shares = np.bincount(logits.argmax(axis=1), minlength=CLASSES) / len(images)
        return {
            "score": split_score(logits),
            "distance": frechet_distance(self.reference, features),
            "classes": int((shares >= 1.0 / CLASSES / 3.0).sum()),
            "max_share": float(shares.max()),
            "min_share": float(shares.min()),
        }


def readme_model(paper_init: bool) -> tuple[keras.Model, keras.Model]:
    """The README's generator and discriminator, as written there (``w``: the paper's init)."""
    w = {"kernel_initializer": keras.initializers.RandomNormal(stddev=0.02)} if paper_init else {}
    generator = keras.Sequential(
        [
            keras.Input((128,)),
            keras.layers.Dense(4 * 4 * 256, **w),
            keras.layers.Reshape((4, 4, 256)),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(128, 4, strides=2, padding="same", **w),
            bsn.BatchNorm(),
            keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh", **w),
        ]
    )
    discriminator = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            bsn.SNConv2D(64, 3, padding="same", sn_mode="BSN", **w),
            keras.layers.LeakyReLU(0.1),
            bsn.SNConv2D(128, 4, 2, padding="same", sn_mode="BSN", **w),
            keras.layers.LeakyReLU(0.1),
            keras.layers.Flatten(),
            bsn.SNDense(1, sn_mode="BSN", **w),
        ]
    )
    return generator, discriminator


def with_keras_defaults(model: keras.Sequential) -> keras.Sequential:
    """``model`` rebuilt from its config with every ``kernel_initializer`` left to Keras'
    default (glorot_uniform)."""
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"].pop("kernel_initializer", None)
    return keras.Sequential.from_config(config)


def dcgan_model(paper_init: bool, size: int) -> tuple[keras.Model, keras.Model]:
    """examples/dcgan_fit.py's networks at ``size``, BSN (its init, or Keras' defaults)."""
    g = dcgan_fit.build_generator(LATENT, size)
    d = dcgan_fit.build_discriminator(size, "BSN")
    return (g, d) if paper_init else (with_keras_defaults(g), with_keras_defaults(d))


def runner_cnn(width: float) -> tuple[keras.Model, keras.Model]:
    """The network registry's ``cnn`` at 16x16 (mg 2): the no_gamma-CNN task's BSN, scale 1."""
    spec = network_spec("cnn")
    # The builders read these keys of a run config (a run config's dataset cannot be 16x16).
    config = types.SimpleNamespace(
        mg=2,
        latent_dim=LATENT,
        precision="float32",
        network_width=width,
        sn_mode="BSN",
        scale=1.0,
        gamma="none",
    )
    shape = (SIZE, SIZE, 3)
    return spec.generator(config, shape), spec.discriminator(config, shape)


def build(run: str, args: argparse.Namespace) -> tuple[keras.Model, keras.Model]:
    """The networks of run ``run`` (A..E)."""
    if run in "AB":
        return readme_model(run == "A")
    if run in "CD":
        return dcgan_model(run == "C", args.dcgan_size)
    return runner_cnn(args.cnn_width)


class StepTimer(keras.callbacks.Callback):
    """Seconds per fit step after the first (which traces the step function)."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label
        self.times: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.times.append(time.perf_counter())
        if (batch + 1) % 100 == 0:
            print(f"{self.label}: step {batch + 1}", file=sys.stderr, flush=True)

    def seconds_per_step(self) -> float:
        """Mean seconds of the steps after the first (0.0 with fewer than two steps)."""
        if len(self.times) < 2:
            return 0.0
        return (self.times[-1] - self.times[0]) / (len(self.times) - 1)


def train(run: str, seed: int, x: np.ndarray, args: argparse.Namespace) -> tuple[bsn.BSNGAN, float]:
    """``BSNGAN.fit`` of run ``run`` for ``args.steps`` steps; returns the model and the
    seconds per step."""
    keras.utils.set_random_seed(seed)
    generator, discriminator = build(run, args)
    gan = bsn.BSNGAN(generator, discriminator, latent_dim=LATENT, seed=seed)
    adam = dict(beta_1=0.5, beta_2=0.999, epsilon=1e-8)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(args.lr, **adam),
        g_optimizer=keras.optimizers.Adam(args.lr, **adam),
        loss="hinge",
        n_dis=1,
    )
    data = (
        tf.data.Dataset.from_tensor_slices(x)
        .shuffle(len(x), seed=seed)
        .repeat()
        .batch(args.batch_size, drop_remainder=True)
    )
    timer = StepTimer(f"run {run} seed {seed}")
    gan.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[timer])
    return gan, timer.seconds_per_step()


def samples(gan: bsn.BSNGAN, n: int) -> np.ndarray:
    """``n`` images of G (inference mode) from fixed latents."""
    z = np.random.default_rng(12345).standard_normal((n, LATENT)).astype(np.float32)
    return np.concatenate(
        [keras.ops.convert_to_numpy(gan.generator(z[i : i + 256])) for i in range(0, n, 256)]
    )


def write_grid(images: np.ndarray, path: str) -> None:
    """An 8x8 grid of the first 64 images (fewer with fewer images) as a grey PNG, scaled as
    ``SampleGrid`` scales its grids."""
    side = min(GRID, int(np.sqrt(len(images))))
    grid = image_grid(images[: side * side], side, side)
    Image.fromarray(grid.mean(axis=-1).astype(np.uint8)).save(path, optimize=True)


def row(run: str, model: str, init: str, seed: str, s: dict, seconds: float | None) -> str:
    """One table row."""
    time_s = "" if seconds is None else f"{seconds:.2f}"
    return (
        f"| {run} | {model} | {init} | {seed} | {s['score']:.2f} | {s['distance']:.2f} | "
        f"{s['classes']} | {s['max_share']:.2f} / {s['min_share']:.2f} | {time_s} |"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000, help="fit steps (paper iterations)")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4, help="G's and D's Adam learning rate")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    p.add_argument("--runs", default="ABCDE", help="which of A..E to run, in order")
    p.add_argument(
        "--dcgan_size",
        type=int,
        default=8,
        choices=(8, SIZE),
        help="C and D's image size: 8 (the digits' own) or 16",
    )
    p.add_argument("--cnn_width", type=float, default=0.5, help="run E's channel multiplier")
    p.add_argument(
        "--samples", type=int, default=0, help="images scored per run (0: the held-out count)"
    )
    p.add_argument("--classifier_epochs", type=int, default=30)
    p.add_argument("--subset", type=int, default=None, help="use only this many digits (tests)")
    p.add_argument(
        "--digits",
        default=None,
        help="an .npz of 'images' [N, 8, 8] (0..16) and 'target' [N] instead of scikit-learn's",
    )
    p.add_argument("--out", default="recipe_out", help="folder of the sample grids")
    args = p.parse_args(argv)
    if set(args.runs) - set(RUNS):
        p.error(f"--runs {args.runs!r}: expected letters of {''.join(RUNS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    images, labels = digits(subset=args.subset, path=args.digits)
    cut = len(images) - len(images) // 4  # a quarter held out
    native = {"train": images[:cut], "test": images[cut:]}
    x, x_test = upsample(native["train"]), upsample(native["test"])
    classifier, accuracy = train_classifier(
        x, labels[:cut], x_test, labels[cut:], args.classifier_epochs
    )
    scorer = Scorer(classifier, x)
    n = args.samples or len(x_test)
    print(
        f"digits: {len(x)} train, {len(x_test)} held out, scored at {SIZE}x{SIZE}x3; "
        f"classifier held-out accuracy {accuracy:.3f}; {n} samples scored per run"
    )
    print(
        f"steps {args.steps}, batch {args.batch_size}, lr {args.lr:g}, seeds {seeds}, "
        f"dcgan_fit.py at {args.dcgan_size}x{args.dcgan_size}, runner CNN width "
        f"{args.cnn_width:g}; load average {os.getloadavg()}"
    )
    os.makedirs(args.out, exist_ok=True)
    print("| run | model | init | seed | score | distance | classes | max / min share | s/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row("real", "held-out digits", "-", "-", scorer(x_test), None), flush=True)
    write_grid(x_test, os.path.join(args.out, "recipe-real.png"))
    for run in args.runs:
        native_size = run in "CD" and args.dcgan_size == 8
        data = native["train"] if native_size else x
        for seed in seeds:
            gan, seconds = train(run, seed, data, args)
            fake = upsample(samples(gan, n))
            write_grid(fake, os.path.join(args.out, f"recipe-{run}-seed{seed}.png"))
            print(row(run, *RUNS[run], str(seed), scorer(fake), seconds), flush=True)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
