"""The one place TensorFlow and Keras are imported.

Import this module only inside functions that need it (never at the top of a module
that ``dlcli --help`` loads): ``from dlcli.backend import tf, keras``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from dlcli.recipe.graph import MAX_LAYERS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide C++ info/warning spam
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines written straight to file descriptor 2.

    TensorFlow 2.21 logs through absl before its logging is initialised, so
    ``TF_CPP_MIN_LOG_LEVEL`` does not hide the "oneDNN custom operations are on" and
    "Could not find cuda drivers" lines printed on import and device set-up. Python-level
    errors are unaffected: they are raised, and printed after the descriptor is restored.
    ``DLCLI_DEBUG=1`` shows everything.
    """
    if os.environ.get("DLCLI_DEBUG") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with quiet_native_stderr():
    import keras
    import tensorflow as tf

    # Enumerating GPUs loads the CUDA driver (cuInit), which logs an error on machines without
    # one. It does not initialise the runtime, so logical devices and multi-worker strategies
    # can still be configured afterwards.
    tf.config.list_physical_devices("GPU")

# Keras builds, saves and loads a functional model by walking its graph recursively, about
# one Python frame per layer, so the default limit of 1,000 fails near 1,000 layers. Raise
# it to fit the recipe cap with room, and no further: a bounded limit keeps deep C-level
# recursion (e.g. parsing hostile JSON) well inside the thread's stack.
RECURSION_LIMIT = 3 * MAX_LAYERS + 2_000
if sys.getrecursionlimit() < RECURSION_LIMIT:
    sys.setrecursionlimit(RECURSION_LIMIT)

__all__ = ["keras", "quiet_native_stderr", "tf"]
