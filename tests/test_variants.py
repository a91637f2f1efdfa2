"""The network table picks the schedule; the training loop drives it without naming a network."""

import numpy as np
import pytest

from gan.config import NETWORKS, validate_run_config
from gan.schedules import CNNSchedule, ResNetSchedule
from gan.trainer import Trainer
from gan.variants import VARIANTS, build_networks, variant


def test_every_network_of_the_config_schema_has_one_table_entry():
    assert set(VARIANTS) == set(NETWORKS)
    assert variant("cnn").schedule is CNNSchedule
    assert variant("resnet").schedule is ResNetSchedule
    with pytest.raises(ValueError, match="unknown network 'mlp'"):
        variant("mlp")


def test_the_table_builds_the_networks_under_their_checkpointed_names():
    cfg = validate_run_config(
        dict(
            dataset="cifar10",
            network="resnet",
            network_width=1 / 16,
            iteration=1,
            d_batch_size=4,
            g_batch_size=4,
            metrics=[],
        )
    )
    g, d = build_networks(cfg, (16, 16, 3))
    assert (g.name, d.name) == ("generator", "discriminator")
    assert type(d).__name__ == "ResNetDiscriminator"


def test_trainer_runs_its_schedule_and_leaves_the_steps_to_it(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    cfg = validate_run_config(
        dict(dataset="cifar10", iteration=1, mg=4, batch_size=2, network_width=1 / 8, metrics=[])
    )
    t = Trainer(cfg, str(tmp_path), images, seed=0)
    assert isinstance(t.schedule, CNNSchedule) and t.variant is VARIANTS["cnn"]
    assert not hasattr(t, "d_step") and not hasattr(t, "resnet_d_update")
    assert t.schedule.generator is t.generator and t.schedule.rng is t.rng
