"""Sound models that read the raw waveform (1-D convolutions, no spectrogram layer).

The methods run on the waveform itself: Grad-CAM on the last 1-D convolution (a map over
time), saliency and integrated gradients per sample (the baseline: silence). For a picture
a person can read, the waveform is drawn as a spectrogram (a short-time Fourier transform
computed here, for display only) and each frame gets the heat of its stretch of time: the
largest value of the sample maps within the frame, or the Grad-CAM map resized to the frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.explain.explainers import Attribution, Explainer
from dlcli.explain.methods import GRADCAM, SALIENCY

FLOOR = 1e-10  # power floor before the logarithm (-100 dB)


def _frame_size(samples: int) -> int:
    """A power of two giving about 100 frames at a quarter-window hop (at least 64)."""
    return max(64, 2 ** int(np.round(np.log2(max(samples, 1) / 25))))


def display_spectrogram(wave: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(power in dB, frequency x frames; window; hop) of a mono waveform."""
    n = _frame_size(len(wave))
    hop = n // 4
    padded = np.pad(wave, (n // 2, n // 2))
    starts = np.arange(0, max(1, len(padded) - n + 1), hop)
    frames = np.stack([padded[s : s + n] for s in starts]) * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return 10.0 * np.log10(np.maximum(power.T, FLOOR)), n, hop


def per_frame(values: np.ndarray, frames: int, n: int, hop: int) -> np.ndarray:
    """The largest of ``values`` (one per sample) within each frame's window."""
    padded = np.pad(values, (n // 2, n // 2))
    return np.asarray([padded[f * hop : f * hop + n].max() for f in range(frames)])


class WaveformExplainer(Explainer):
    """Audio read as samples: an input of ``N x samples`` (or ``x channels``) into 1-D
    convolutions."""

    view = "spectrogram"

    @classmethod
    def claims(cls, model: Any) -> bool:
        from dlcli.explain.targets import last_feature_map_layer

        rank = len(model.inputs[0].shape)
        return rank in (2, 3) and last_feature_map_layer(model, rank=3) is not None

    def __init__(self, model: Any, method: str, layer: str | None, steps: int) -> None:
        super().__init__(model, method, layer, steps)
        if method == GRADCAM:
            from dlcli.explain.targets import gradcam_cut

            self.layer_used = gradcam_cut(model, layer, rank=3).name

    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        from dlcli.explain import attribution

        x = np.asarray(x, dtype=np.float32)
        mono = x if x.ndim == 2 else x.mean(axis=-1)
        if self.method == GRADCAM:
            cam, _ = attribution.gradcam_raw(self.model, x, class_index, self.layer, rank=3)
        elif self.method == SALIENCY:
            grads = attribution.input_gradients(attribution.score_head(self.model), x, class_index)
            cam = np.abs(grads) if x.ndim == 2 else np.abs(grads).max(axis=-1)
        else:
            ig = attribution.integrated_gradients_attributions(
                self.model, x, class_index, self.steps
            )
            cam = np.abs(ig if x.ndim == 2 else ig.sum(axis=-1))
        out = []
        for wave, heat in zip(mono, cam, strict=True):
            spec, n, hop = display_spectrogram(wave)
            frames = spec.shape[1]
            if self.method == GRADCAM:
                row = attribution.resize_maps(heat[None], (frames,))[0]
            else:
                row = per_frame(heat, frames, n, hop)
            row = attribution.normalise(row[None])[0]
            tiled = np.repeat(row[None], spec.shape[0], axis=0)
            out.append(Attribution(tiled, spec, picture_label="spectrogram of the waveform (dB)"))
        return out
