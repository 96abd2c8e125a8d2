"""The one place TensorFlow and Keras are imported.

Import this module only inside functions that need it (never at the top of a module
that ``dlcli --help`` loads): ``from dlcli.backend import tf, keras``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide C++ info/warning spam
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

__all__ = ["keras", "tf"]
