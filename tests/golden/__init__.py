"""Golden tests: the port against an independent float64 implementation of the original.

``reference`` is the original's method written from its TF1 source (it imports nothing from
``gan/``); ``port`` is the only module that touches the port; ``harness`` runs both from the
same state and compares them; the ``test_*`` modules are marked ``golden`` (``python -m pytest
-m golden`` runs them alone).
"""

import os

# XLA's LLVM optimizations make the reference's compiles (a WGAN-GP D step is one program with
# second derivatives) three times slower and its tiny runs no faster: off for this process, if
# JAX has not started a backend yet (the flag changes speed only, never a value).
if "jax" not in __import__("sys").modules:
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    )
