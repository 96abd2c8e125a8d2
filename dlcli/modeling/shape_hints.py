"""Hints for the usual ways layers fail to fit together (used in build error messages)."""

from __future__ import annotations

import re

from dlcli.recipe import catalog

MERGING = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"}
_SAME_SHAPE_MERGE = MERGING - {"Concatenate", "Dot"}
# Layer families whose name ends in ``<n>D`` and that want a (batch, *n spatial, channels) input.
_SPATIAL = re.compile(
    r"^(Conv|Convolution|SeparableConv|SeparableConvolution|DepthwiseConv|MaxPool|AvgPool|"
    r"AveragePooling|MaxPooling|GlobalMaxPool|GlobalAvgPool|GlobalAveragePooling|"
    r"GlobalMaxPooling|UpSampling|ZeroPadding|Cropping|SpatialDropout|AdaptiveAveragePooling|"
    r"AdaptiveMaxPooling)([123])D(Transpose)?$"
)


def _expected_rank(layer_type: str) -> int | None:
    match = _SPATIAL.match(layer_type)
    return int(match.group(2)) + 2 if match else None


def shape_hint(layer_type: str, shapes: list[tuple[int | None, ...]], text: str) -> str | None:
    """A suggestion for the common ways layers fail to fit together, or None."""
    info = catalog.get_layer(layer_type)
    cls = info.class_name if info else layer_type
    ranks = [len(s) for s in shapes]
    want = _expected_rank(cls)
    if want is not None and ranks and ranks[0] != want:
        spatial = want - 2
        if ranks[0] < want:
            return (
                f"{cls} needs a {want}-D input (batch, {spatial} spatial axes, channels); "
                "move it before Flatten/Dense, or add a Reshape"
            )
        return f"{cls} needs a {want}-D input; use the {ranks[0] - 2}D variant or Flatten first"
    if "negative" in text or "too small" in text.lower():
        return (
            "the input is smaller than the kernel or pool window: use padding: same, "
            "a smaller kernel_size, or fewer pooling layers"
        )
    if cls in _SAME_SHAPE_MERGE:
        return (
            f"{cls} needs inputs of the same shape: keep the branch's spatial size "
            "(padding: same, strides 1) and match channels, e.g. project the shortcut with "
            "a 1x1 Conv2D with the same filters and strides"
        )
    if cls == "Concatenate":
        axis = info.args["axis"].default if info else -1
        return f"Concatenate needs all axes equal except the concatenation axis ({axis})"
    if cls in ("Dense", "EinsumDense") and "defined" in text:
        return "the last axis must have a known size; check the Reshape/Flatten before it"
    return None
