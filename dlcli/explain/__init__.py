"""Why a model chose a class: Grad-CAM, saliency and integrated gradients heat maps.

The library behind ``dlcli explain`` (and the report's mistake gallery). Nothing here
prints. Importing it loads TensorFlow: command modules import it inside their functions.

- :func:`gradcam`, :func:`saliency`, :func:`integrated_gradients`: ``(model, x, class_index)``
  -> ``N x H x W`` float32 maps in [0, 1] at the input's size;
- :func:`overlay`: a map blended over its image, ``H x W x 3`` uint8.
"""

from __future__ import annotations

from dlcli.explain.attribution import (
    gradcam,
    integrated_gradients,
    integrated_gradients_attributions,
    saliency,
)
from dlcli.explain.overlay import overlay

__all__ = [
    "gradcam",
    "integrated_gradients",
    "integrated_gradients_attributions",
    "overlay",
    "saliency",
]
