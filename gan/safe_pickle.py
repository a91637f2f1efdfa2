"""The one way this repository reads a pickle: a restricted unpickler.

A pickle can name any importable callable (``os.system``...) and run it while loading. The
only pickles read here are CIFAR-10 batches (a dict of bytes keys holding bytes, lists of ints
or bytes, and one uint8 NumPy array), so only the plain types and the NumPy globals an array's
pickle needs are allowed; anything else is refused before it runs.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

#: (module, name) globals a CIFAR batch pickle may reference: NumPy's array reconstruction
#: (module name before and after NumPy 2) and ``_codecs.encode``, which protocol-2 pickles
#: written by Python 3 use for bytes.
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles containers, strings, bytes, numbers and NumPy arrays only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"unexpected object {module}.{name} refused: only plain data "
            "and NumPy arrays are accepted (the file may run code)"
        )


def load(source: bytes | IO[bytes], encoding: str = "bytes") -> Any:
    """Unpickle ``source`` (bytes or a binary file) with :class:`RestrictedUnpickler`.

    Raises ``pickle.UnpicklingError`` for a disallowed global, and the usual ``EOFError``,
    ``ValueError``, ``TypeError`` for damaged data.
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return RestrictedUnpickler(source, encoding=encoding).load()
