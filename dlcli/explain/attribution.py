"""Grad-CAM, saliency and integrated gradients: heat maps of what drives a class score.

Every function takes a model-ready float32 batch ``x`` (what the model's first layer
takes: images as 0..255 pixels, ``N x H x W x C``) and the class to explain, one index or
one per example, and returns one map per example at the input's spatial size, in [0, 1]
(each map divided by its own maximum; an all-zero map stays zero). The raw numbers are
available too (:func:`integrated_gradients_attributions`) for checks such as completeness.

Scores are the class logits where the model ends in a softmax (:mod:`.targets`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.backend import tf
from dlcli.explain.targets import Fn, gradcam_cut, score_head

__all__ = [
    "gradcam",
    "gradcam_raw",
    "input_gradients",
    "integrated_gradients",
    "integrated_gradients_attributions",
    "normalise",
    "resize_maps",
    "saliency",
    "score_head",
]

IG_CHUNK = 64  # interpolated inputs per forward pass


def _classes(class_index: np.ndarray | int, n: int) -> np.ndarray:
    idx = np.asarray(class_index, dtype=np.int64).reshape(-1)
    if idx.size == 1:
        idx = np.repeat(idx, n)
    if idx.size != n:
        raise ValueError(
            f"class_index must be one index or one per example ({n}). "
            f"Received: class_index of length {idx.size}"
        )
    return idx


def _picked(scores: Any, idx: np.ndarray) -> Any:
    """Each example's score for its class (``N``)."""
    return tf.gather(scores, tf.constant(idx), axis=1, batch_dims=1)


def normalise(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its maximum: [0, 1], float32; a map without a positive value is 0."""
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
    top = maps.reshape(len(maps), -1).max(axis=1) if maps.size else np.zeros(len(maps))
    safe = np.where(top > 0, top, 1.0).reshape((-1,) + (1,) * (maps.ndim - 1))
    return (maps / safe).astype(np.float32)


def resize_maps(maps: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """``N x h x w`` (or ``N x t``) maps bilinearly resized to ``size`` (half-pixel centres)."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    if len(size) == 1:
        resized = tf.image.resize(maps[:, None, :, None], (1, size[0]), method="bilinear")
        return np.asarray(resized)[:, 0, :, 0]
    resized = tf.image.resize(maps[..., None], size, method="bilinear")
    return np.asarray(resized)[..., 0]


def gradcam_raw(
    model: Any,
    x: np.ndarray,
    class_index: np.ndarray | int,
    layer: str | None = None,
    *,
    rank: int = 4,
) -> tuple[np.ndarray, str]:
    """ReLU of the gradient-weighted sum of the layer's maps, at the layer's own size,
    not normalised; and the layer used (``outer/inner`` inside a nested model)."""
    x = np.asarray(x, dtype=np.float32)
    idx = _classes(class_index, len(x))
    cut = gradcam_cut(model, layer, rank=rank)
    activation = tf.convert_to_tensor(cut.front(x))
    activation = tf.cast(activation, "float32")
    with tf.GradientTape() as tape:
        tape.watch(activation)
        score = tf.reduce_sum(_picked(cut.back(activation), idx))
    grads = np.asarray(tape.gradient(score, activation), dtype=np.float32)
    maps = np.asarray(activation)
    spatial = tuple(range(1, maps.ndim - 1))
    weights = grads.mean(axis=spatial, keepdims=True)  # alpha_k: pooled gradients
    cam = np.maximum((weights * maps).sum(axis=-1), 0.0)
    return cam.astype(np.float32), cut.name


def gradcam(
    model: Any, x: np.ndarray, class_index: np.ndarray | int, layer: str | None = None
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al., 2017) of ``class_index`` at ``layer`` (default: the last
    layer with feature maps, inside a nested model or backbone where that is the last).

    Returns ``N x H x W`` float32 in [0, 1] at the input's size (bilinear resize of the
    ReLU'd map, then divided by its maximum).
    """
    x = np.asarray(x, dtype=np.float32)
    cam, _ = gradcam_raw(model, x, class_index, layer)
    return normalise(resize_maps(cam, tuple(x.shape[1:3])))


def input_gradients(scores: Fn, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """d score[class] / d x for each example (same shape as ``x``)."""
    xt = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(_picked(scores(xt), idx))
    return np.asarray(tape.gradient(score, xt), dtype=np.float32)


def _channel_reduce(values: np.ndarray, channels: bool) -> np.ndarray:
    return values.max(axis=-1) if channels else values


def _has_channels(x: np.ndarray) -> bool:
    return x.ndim == 4  # N x H x W x C; N x H x W (a spectrogram) has none


def saliency(
    model: Any, x: np.ndarray, class_index: np.ndarray | int, *, scores: Fn | None = None
) -> np.ndarray:
    """Saliency (Simonyan et al., 2014): |d score / d pixel|, the largest over channels,
    ``N x H x W`` in [0, 1]. ``scores`` replaces the model's score function (a cut model)."""
    x = np.asarray(x, dtype=np.float32)
    idx = _classes(class_index, len(x))
    grads = np.abs(input_gradients(scores or score_head(model), x, idx))
    return normalise(_channel_reduce(grads, _has_channels(x)))


def integrated_gradients_attributions(
    model: Any,
    x: np.ndarray,
    class_index: np.ndarray | int,
    steps: int = 32,
    baseline: np.ndarray | float | None = None,
    *,
    scores: Fn | None = None,
) -> np.ndarray:
    """Integrated gradients (Sundararajan et al., 2017), same shape as ``x``:
    ``(x - baseline) * mean of the gradients at baseline + (k + 0.5) / steps * (x - baseline)``
    (the midpoint rule), so they sum to about ``score(x) - score(baseline)``.
    ``baseline``: zeros (a black image, silence) unless given, one input or one per example.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1. Received: steps={steps}")
    x = np.asarray(x, dtype=np.float32)
    idx = _classes(class_index, len(x))
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(baseline, x.shape)
    base = np.asarray(base, dtype=np.float32)
    fn = scores or score_head(model)
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    out = np.zeros_like(x)
    for i in range(len(x)):
        delta = x[i] - base[i]
        total = np.zeros_like(x[i])
        for start in range(0, steps, IG_CHUNK):
            a = alphas[start : start + IG_CHUNK].reshape((-1,) + (1,) * x[i].ndim)
            path = base[i][None] + a * delta[None]
            grads = input_gradients(fn, path, np.repeat(idx[i], len(path)))
            total += grads.sum(axis=0)
        out[i] = delta * total / steps
    return out


def integrated_gradients(
    model: Any,
    x: np.ndarray,
    class_index: np.ndarray | int,
    steps: int = 32,
    baseline: np.ndarray | float | None = None,
    *,
    scores: Fn | None = None,
) -> np.ndarray:
    """Integrated gradients as a map: |attributions summed over channels|, ``N x H x W``
    in [0, 1]."""
    x = np.asarray(x, dtype=np.float32)
    attributions = integrated_gradients_attributions(
        model, x, class_index, steps, baseline, scores=scores
    )
    summed = attributions.sum(axis=-1) if _has_channels(x) else attributions
    return normalise(np.abs(summed))
