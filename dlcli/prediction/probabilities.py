"""Turn whatever a classifier outputs into one probability per class.

Models in the wild end in different ways, and ``predict``/``evaluate`` must report
probabilities for all of them. The rule, decided once per model and then kept for every
batch (deciding per batch would let two files of one run be scored differently):

- **softmax** (or any output whose rows lie in [0, 1] and sum to 1): used as is.
- **logits** (a linear last layer, or rows outside [0, 1] / not summing to 1): softmax.
- **one sigmoid unit** (binary classifier): ``[1 - p, p]``, two classes.
- **one linear unit** (binary logit): ``sigmoid`` first, then ``[1 - p, p]``.
- **several sigmoid units** (one-vs-rest / multi-label): each row divided by its sum, which
  keeps the ranking and gives numbers that add up to 1 like every other kind.

The last layer's activation is read from the Keras model when it can be (``Dense(...,
activation=...)``, ``Activation``, ``Softmax``); otherwise (TFLite/ONNX, custom layers) the
first batch decides by range and row sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PROBABILITIES = "probabilities"
LOGITS = "logits"
BINARY_SIGMOID = "binary_sigmoid"
BINARY_LOGIT = "binary_logit"
MULTI_SIGMOID = "multi_sigmoid"

_SUM_TOLERANCE = 1e-3


def final_activation(model: Any) -> str | None:
    """``softmax``, ``sigmoid`` or ``linear`` for the model's last layer, else None (unknown)."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    layer = layers[-1]
    cls = type(layer).__name__
    if cls == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or getattr(activation, "name", None)
    if name in ("softmax", "sigmoid", "linear"):
        return name
    return None


def _looks_like_probabilities(outputs: np.ndarray) -> bool:
    if outputs.size == 0:
        return True
    if np.nanmin(outputs) < -1e-6 or np.nanmax(outputs) > 1 + 1e-6:
        return False
    return bool(np.all(np.abs(outputs.sum(axis=-1) - 1.0) <= _SUM_TOLERANCE))


def _in_unit_range(outputs: np.ndarray) -> bool:
    return outputs.size == 0 or (np.nanmin(outputs) >= -1e-6 and np.nanmax(outputs) <= 1 + 1e-6)


@dataclass
class OutputConverter:
    """Converts raw model outputs to probabilities; the kind is fixed by the first call."""

    activation: str | None = None
    kind: str | None = None

    def decide(self, outputs: np.ndarray) -> str:
        units = outputs.shape[-1]
        act = self.activation
        if units == 1:
            if act == "sigmoid":
                return BINARY_SIGMOID
            if act == "linear":
                return BINARY_LOGIT
            return BINARY_SIGMOID if _in_unit_range(outputs) else BINARY_LOGIT
        if act == "softmax":
            return PROBABILITIES
        if act == "linear":
            return LOGITS
        if act == "sigmoid":
            return MULTI_SIGMOID
        return PROBABILITIES if _looks_like_probabilities(outputs) else LOGITS

    def __call__(self, outputs: Any) -> np.ndarray:
        out = np.asarray(outputs, dtype=np.float64)
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2:
            raise ValueError(
                "a classifier must output one row of scores per image; "
                f"Received: output shape={out.shape}"
            )
        if self.kind is None:
            self.kind = self.decide(out)
        kind = self.kind
        if kind == PROBABILITIES:
            probs = out
        elif kind == LOGITS:
            shifted = out - out.max(axis=-1, keepdims=True)
            exp = np.exp(shifted)
            probs = exp / exp.sum(axis=-1, keepdims=True)
        elif kind in (BINARY_SIGMOID, BINARY_LOGIT):
            p = out[:, :1]
            if kind == BINARY_LOGIT:
                p = 1.0 / (1.0 + np.exp(-p))
            p = np.clip(p, 0.0, 1.0)
            probs = np.concatenate([1.0 - p, p], axis=-1)
        else:  # MULTI_SIGMOID
            clipped = np.clip(out, 0.0, None)
            total = clipped.sum(axis=-1, keepdims=True)
            n = out.shape[-1]
            probs = np.divide(clipped, total, out=np.full_like(clipped, 1.0 / n), where=total > 0)
        return probs.astype(np.float32)

    def num_classes(self, output_units: int) -> int:
        return 2 if output_units == 1 else output_units

    def describe(self) -> str:
        return {
            PROBABILITIES: "softmax probabilities (used as is)",
            LOGITS: "logits (softmax applied)",
            BINARY_SIGMOID: "one sigmoid unit (binary: [1-p, p])",
            BINARY_LOGIT: "one linear unit (sigmoid applied, binary: [1-p, p])",
            MULTI_SIGMOID: "independent sigmoid units (normalised to sum to 1)",
            None: "unknown",
        }[self.kind]
