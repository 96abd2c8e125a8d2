"""The attribution methods ``dlcli explain --method`` takes (no TensorFlow: checked at start-up)."""

from __future__ import annotations

from dlcli.errors import UsageError

GRADCAM = "gradcam"
SALIENCY = "saliency"
INTEGRATED_GRADIENTS = "integrated_gradients"
METHODS = (GRADCAM, SALIENCY, INTEGRATED_GRADIENTS)
DESCRIPTIONS = {
    GRADCAM: "Grad-CAM: the last feature maps weighted by their pooled gradients",
    SALIENCY: "saliency: |gradient| of the class score per input value",
    INTEGRATED_GRADIENTS: "integrated gradients: (input - baseline) x mean gradient on the way",
}


def check_method(name: str | None) -> str | None:
    """``name`` if it is a method (any case, ``-`` for ``_``); None stays None (the default)."""
    if name is None:
        return None
    key = name.strip().lower().replace("-", "_")
    if key in ("ig", "integratedgradients"):
        key = INTEGRATED_GRADIENTS
    if key not in METHODS:
        import difflib

        close = difflib.get_close_matches(key, METHODS, n=1)
        raise UsageError(
            f"unknown method {name!r}",
            field="--method",
            expected="one of: " + ", ".join(METHODS),
            hint=f"did you mean {close[0]}?" if close else None,
        )
    return key
