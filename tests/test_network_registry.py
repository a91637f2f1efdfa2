"""The network registry picks the builders and the schedule; the training loop drives the
schedule without naming a network."""

import numpy as np

from gan.config import validate_run_config
from gan.networks import cnn, resnet
from gan.networks.specs import NETWORKS, build_networks, network_spec
from gan.schedules import CNNSchedule, ResNetSchedule
from gan.trainer import Trainer


def test_the_built_in_networks_are_registered_with_their_builders():
    assert list(NETWORKS) == ["cnn", "resnet"]
    cfg = validate_run_config(
        dict(dataset="cifar10", iteration=1, mg=4, network_width=1 / 8, metrics=[])
    )
    g, d = (
        network_spec("cnn").generator(cfg, (32, 32, 3)),
        network_spec("cnn").discriminator(cfg, (32, 32, 3)),
    )
    assert isinstance(g, cnn.CNNGenerator) and isinstance(d, cnn.CNNDiscriminator)
    assert network_spec("resnet").keras_module == resnet.__name__


def test_the_registry_builds_the_networks_under_their_checkpointed_names():
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
    assert isinstance(g, resnet.ResNetGenerator) and isinstance(d, resnet.ResNetDiscriminator)


def test_trainer_runs_its_schedule_and_leaves_the_steps_to_it(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    cfg = validate_run_config(
        dict(dataset="cifar10", iteration=1, mg=4, batch_size=2, network_width=1 / 8, metrics=[])
    )
    t = Trainer(cfg, str(tmp_path), images, seed=0)
    assert isinstance(t.schedule, CNNSchedule) and t.spec is network_spec("cnn")
    assert not isinstance(t.schedule, ResNetSchedule)
    assert not hasattr(t, "d_step") and not hasattr(t, "resnet_d_update")
    assert t.schedule.generator is t.generator and t.schedule.rng is t.rng
