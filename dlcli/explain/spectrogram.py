"""Sound models with their spectrogram inside: explanations over the spectrogram.

The model is cut after its spectrogram layer (Keras' ``MelSpectrogram`` or
``STFTSpectrogram``): the front turns waveforms into the spectrogram, and the methods run on
the rest of the model with the spectrogram as its input. Grad-CAM's maps line up with it
(``Reshape`` keeps the frequency and time axes); saliency and integrated gradients are taken
with respect to the spectrogram's values (the integrated-gradients baseline: all zeros, a
silent clip). The picture is the spectrogram in decibels (``10 log10``), frequency upwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.backend import keras
from dlcli.explain.explainers import Attribution, Explainer
from dlcli.explain.methods import GRADCAM, SALIENCY
from dlcli.explain.targets import output_of

FLOOR = 1e-10  # power floor before the logarithm (-100 dB)


def spectrogram_layer(model: Any) -> Any | None:
    """The model's first spectrogram layer, or None."""
    kinds = tuple(
        getattr(keras.layers, name)
        for name in ("MelSpectrogram", "STFTSpectrogram")
        if hasattr(keras.layers, name)
    )
    for layer in model.layers:
        if isinstance(layer, kinds):
            return layer
    return None


def _time_first(layer: Any) -> bool:
    """STFTSpectrogram in channels_last puts time before frequency; MelSpectrogram does not."""
    return type(layer).__name__ == "STFTSpectrogram" and (
        getattr(layer, "data_format", "channels_last") == "channels_last"
    )


class SpectrogramExplainer(Explainer):
    """Audio: a model with a spectrogram layer."""

    view = "spectrogram"

    @classmethod
    def claims(cls, model: Any) -> bool:
        return spectrogram_layer(model) is not None

    def __init__(self, model: Any, method: str, layer: str | None, steps: int) -> None:
        super().__init__(model, method, layer, steps)
        spec = spectrogram_layer(model)
        self.spec_layer = spec
        self.front = keras.Model(model.inputs[0], output_of(spec, model))
        self.rest = keras.Model(output_of(spec, model), model.outputs[0])
        if method == GRADCAM:
            from dlcli.explain.targets import gradcam_cut

            self.layer_used = gradcam_cut(self.rest, layer).name

    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        from dlcli.explain import attribution

        spec = np.asarray(self.front(x, training=False), dtype=np.float32)
        if spec.ndim == 4 and spec.shape[-1] == 1:
            spec = spec[..., 0]
        if self.method == GRADCAM:
            heat = attribution.gradcam(self.rest, spec, class_index, self.layer)
        elif self.method == SALIENCY:
            heat = attribution.saliency(self.rest, spec, class_index)
        else:
            heat = attribution.integrated_gradients(self.rest, spec, class_index, self.steps)
        shown = self._display(spec)
        if _time_first(self.spec_layer):
            heat, shown = np.swapaxes(heat, 1, 2), np.swapaxes(shown, 1, 2)
        label = f"{self.spec_layer.name} (dB)" if not self._in_db() else self.spec_layer.name
        return [Attribution(h, s, picture_label=label) for h, s in zip(heat, shown, strict=True)]

    def _in_db(self) -> bool:
        return bool(getattr(self.spec_layer, "power_to_db", False))

    def _display(self, spec: np.ndarray) -> np.ndarray:
        if self._in_db():
            return spec
        return 10.0 * np.log10(np.maximum(spec, FLOOR))
