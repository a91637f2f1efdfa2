"""Shared test set-up: quiet TensorFlow, CPU only, small helpers for fake datasets."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402

#: The tests that take half a minute or more on the 2-core CI machine (``--durations``), longest
#: first. They are started first: xdist hands the tests out in collection order, and one of
#: these left for the end keeps one worker busy long after the other has run out of work.
#: Order only: every test runs, as before.
LONG_FIRST = (
    "tests/test_end_to_end.py::test_run_survives_ctrl_c_sigterm_and_kill_9",
    "tests/test_library.py::test_two_models_train_one_after_the_other_under_mirrored_strategy",
    "tests/test_backends.py::test_the_portable_tests_pass_on_backend",
    "tests/test_benchmarks.py::test_benchmark_script_runs_at_a_tiny_size[train_step.py]",
    "tests/test_multi_gpu.py::test_two_replicas_match_one_and_stay_identical",
    "tests/test_reliability.py::test_sigterm_during_an_evaluation_checkpoints_at_once",
    "tests/test_resnet_tasks.py::test_diff_gamma_resnet_end_to_end",
    "tests/test_quickstart.py::test_shortened_quickstart_runs_through_main",
    "tests/test_examples.py::test_examples_run_on_backend",
    "tests/test_resnet_tasks.py::test_no_gamma_resnet_end_to_end",
    "tests/test_trainer.py::test_resumed_run_ends_with_the_same_variables",
    "tests/test_backends.py::test_fit_ends_alike_on_the_three_backends",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the ``LONG_FIRST`` tests to the front, in that order (the rest keep theirs)."""

    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(LONG_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(LONG_FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """A data root holding a CIFAR-format tarball (written once per test session)."""
    from tests.helpers import write_cifar_tarball

    root = tmp_path_factory.mktemp("data")
    images = write_cifar_tarball(str(root / "CIFAR10" / "cifar-10-python.tar.gz"))
    return root, images


@pytest.fixture
def deterministic_ops():
    """Deterministic kernels and graphs for one test: multi-threaded CPU reductions otherwise
    differ in the last bits from call to call, which is noise, not a difference under test."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    # Grappler's passes run under a time limit, so on a loaded machine two traces of the same
    # step can be rewritten differently (fused or not) and round differently: switch it off.
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    tf.config.experimental.enable_op_determinism()
    yield
    tf_config.disable_op_determinism()
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": options.get("disable_meta_optimizer", False)}
    )


@pytest.fixture(scope="session")
def stub_graph(tmp_path_factory):
    """A stub Inception graph file (``stub_inception_graph_def``), once per session."""
    from tests.helpers import write_stub_inception_graph

    return write_stub_inception_graph(str(tmp_path_factory.mktemp("graph") / "stub.pb"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, stub_graph):
    """One tiny trained run folder (``tests.helpers.TINY_RUN_CONFIG``), once per session, for
    the sample, evaluate and export tests."""
    from tests.helpers import train_tiny_run

    return train_tiny_run(str(tmp_path_factory.mktemp("runs") / "tiny"), stub_graph)


@pytest.fixture
def own_trained_run(trained_run, tmp_path):
    """A copy of ``trained_run`` for one test that writes into the run folder (evaluate's
    ``eval/``, sample's default output), so that no test sees another's files."""
    import shutil

    return shutil.copytree(trained_run, str(tmp_path / "own_run"), symlinks=True)
