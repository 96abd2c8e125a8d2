"""Why a model chose a class: Grad-CAM, saliency and integrated gradients heat maps.

The library behind ``dlcli explain`` (and the report's mistake gallery). Nothing here
prints. The functions load TensorFlow when first used (``dlcli.explain.methods`` and this
package itself import nothing heavy, so the CLI can check a method name at start-up).

- :func:`gradcam`, :func:`saliency`, :func:`integrated_gradients`: ``(model, x, class_index)``
  -> ``N x H x W`` float32 maps in [0, 1] at the input's size;
- :func:`integrated_gradients_attributions`: the raw attributions (same shape as ``x``);
- :func:`overlay`: a map blended over its image, ``H x W x 3`` uint8.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "gradcam": "dlcli.explain.attribution",
    "saliency": "dlcli.explain.attribution",
    "integrated_gradients": "dlcli.explain.attribution",
    "integrated_gradients_attributions": "dlcli.explain.attribution",
    "overlay": "dlcli.explain.overlays",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dlcli.explain' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
