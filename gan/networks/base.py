"""What every spectrally normalized discriminator shares: gammas, gains, u updates, sigmas."""

from __future__ import annotations

import keras
import tensorflow as tf

from gan.modes import GAMMAS

# The gammas' variable names, and the names checkpoints written before the rename used.
GAMMA_NAME = "gamma{}"
LEGACY_GAMMA_NAME = "scale{}"


class NormalizedDiscriminator(keras.Model):
    """A discriminator made of spectrally normalized layers (``normalized_layers``).

    ``gamma``: "none" (constant ``scale`` on every kernel), "same" (one learnable scalar gamma on
    every normalized layer's kernel and bias) or "diff" (one gamma per normalized layer). The
    gammas are float32 and never autocast, so bfloat16 cannot round them. A subclass defines
    ``normalized_layers`` (every normalized layer, in the order sigmas are logged) and calls
    ``_make_gammas`` once those layers exist.
    """

    def _make_gammas(self, gamma: str) -> None:
        if gamma not in GAMMAS:
            raise ValueError(f"unknown gamma {gamma!r}; expected one of {GAMMAS}")
        self.gamma_mode = gamma
        n = {"none": 0, "same": 1, "diff": len(self.normalized_layers)}[gamma]
        self.gammas = [
            self.add_weight(name=GAMMA_NAME.format(i), shape=(), initializer="ones", autocast=False)
            for i in range(n)
        ]

    def legacy_variable_paths(self) -> dict[str, str]:
        """Each gamma's path -> the path checkpoints written before the rename named it by
        (``<name>/gamma{i}`` -> ``<name>/scale{i}``); read by the resume of such a checkpoint."""
        out = {}
        for i, g in enumerate(self.gammas):
            head = g.path.rpartition("/")[0]
            out[g.path] = f"{head}/{LEGACY_GAMMA_NAME.format(i)}"
        return out

    def _gain(self, i: int) -> tf.Variable | None:
        """The gamma multiplying normalized layer ``i`` (None without gammas)."""
        if not self.gammas:
            return None
        return self.gammas[0] if len(self.gammas) == 1 else self.gammas[i]

    def sigmas(self) -> list:
        """Per normalized layer, its logged sigmas (see ``SNConv2D.sigmas``)."""
        return [layer.sigmas() for layer in self.normalized_layers]

    def update_u(self) -> None:
        """One power-iteration step of every layer's u from the current weights."""
        for layer in self.normalized_layers:
            layer.update_u()

    def u_variables(self) -> list:
        """All power-iteration vectors."""
        return [v for layer in self.normalized_layers for v in layer.u_variables()]
