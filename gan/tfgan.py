"""Access to tensorflow-gan's ``eval`` module on TensorFlow versions its package cannot load.

``import tensorflow_gan`` fails on TensorFlow >= 2.16: the package ``__init__`` (through
``tensorflow_gan/python/__init__.py``) imports the estimator sub-package, which needs
``tf.estimator``, removed from TensorFlow (tensorflow/gan#55). The ``eval`` sub-package itself
only needs TensorFlow, TensorFlow Probability, tensorflow-hub and six, and imports its siblings
by absolute name (``tensorflow_gan.python.eval.eval_utils``, ``tensorflow_gan.python.
contrib_utils``, ``tensorflow_gan.python.namedtuples``).

So, unless ``tensorflow_gan`` is already imported, ``tfgan_eval()`` registers two empty parent
package modules, ``tensorflow_gan`` and ``tensorflow_gan.python``, whose ``__path__`` points at
the installed folders, without running their ``__init__`` files, and then imports
``tensorflow_gan.python.eval`` normally. Side effect: for the rest of the process
``import tensorflow_gan`` yields that bare parent (with ``.python.eval`` only), never the full
package. This is the only place in the project that touches tensorflow-gan's import machinery.

``tfgan_sliced_wasserstein()`` loads the one ``eval`` file SWD needs, which imports only
TensorFlow and ``contrib_utils``, without the ``eval`` package's ``__init__`` (which imports
every metric, TensorFlow Probability and tensorflow-hub among them: 1.2 s of a run's start).
A later ``tfgan_eval()`` reuses that module.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types

_EVAL_NAME = "tensorflow_gan.python.eval"
_SWD_NAME = _EVAL_NAME + ".sliced_wasserstein"


def _bare_package(name: str, folder: str) -> types.ModuleType:
    """A package module for ``name`` whose submodules load from ``folder``; no __init__ runs."""
    spec = importlib.machinery.ModuleSpec(name, loader=None, is_package=True)
    spec.submodule_search_locations = [folder]
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [folder]
    return module


def _bare_parents() -> None:
    """Register the bare ``tensorflow_gan`` and ``tensorflow_gan.python`` packages (unless
    ``tensorflow_gan`` is imported already)."""
    if "tensorflow_gan" in sys.modules:
        return
    spec = importlib.util.find_spec("tensorflow_gan")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflow-gan is not installed (pip install tensorflow-gan==2.1.0)")
    root = list(spec.submodule_search_locations)[0]
    sys.modules["tensorflow_gan"] = _bare_package("tensorflow_gan", root)
    python = _bare_package("tensorflow_gan.python", os.path.join(root, "python"))
    sys.modules["tensorflow_gan.python"] = python
    sys.modules["tensorflow_gan"].python = python


def tfgan_eval() -> types.ModuleType:
    """Return tensorflow-gan's ``eval`` module (``tfgan.eval`` of the tensorflow-gan docs)."""
    if _EVAL_NAME in sys.modules:
        return sys.modules[_EVAL_NAME]
    _bare_parents()
    return importlib.import_module(_EVAL_NAME)


def tfgan_sliced_wasserstein() -> types.ModuleType:
    """Return tensorflow-gan's ``eval/sliced_wasserstein.py`` module, loaded on its own."""
    if _SWD_NAME in sys.modules:
        return sys.modules[_SWD_NAME]
    _bare_parents()
    folder = list(sys.modules["tensorflow_gan"].__path__)[0]
    path = os.path.join(folder, "python", "eval", "sliced_wasserstein.py")
    spec = importlib.util.spec_from_file_location(_SWD_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"tensorflow-gan's {path} is missing (pip install tensorflow-gan==2.1.0)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_SWD_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_SWD_NAME]
        raise
    return module
