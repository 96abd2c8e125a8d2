"""Keras loss names by what they learn, without importing Keras (recipes are checked early).

``loss_family`` maps Keras' aliases to one name (``mse`` -> ``mean_squared_error``), so a
target can say which losses fit it before TensorFlow starts.
"""

from __future__ import annotations

ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "huber_loss": "huber",
    "logcosh": "log_cosh",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
}

REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "huber",
        "log_cosh",
    }
)
MULTI_LABEL_LOSSES = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
# Losses that take one-hot class rows; class indices are one-hot encoded for them.
ONE_HOT_LOSSES = frozenset(
    {"categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge"}
)


def loss_family(name: str) -> str:
    """The canonical snake_case name of a Keras loss name or alias (any case)."""
    key = name.strip()
    if key and key[0].isupper():  # a class name: BinaryFocalCrossentropy
        key = "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")
    key = key.lower()
    return ALIASES.get(key, key)
