"""What an explanation is drawn over, chosen by the model's structure, never by a kind name.

An :class:`Explainer` claims the models it can explain (a tokeniser: tokens; a spectrogram
layer: the spectrogram; an image input: the pixels), names the methods it offers and its
default, and turns a batch of model-ready inputs into :class:`Attribution` records.
Explainers added with :func:`register_explainer` are tried first, then the built-in ones
(tokens, spectrogram, waveform, image, in that order).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dlcli.errors import UsageError
from dlcli.explain.methods import DESCRIPTIONS, GRADCAM, INTEGRATED_GRADIENTS, METHODS, SALIENCY


@dataclass
class Attribution:
    """One input's explanation, ready to draw.

    ``heat``: ``H x W`` in [0, 1] over ``picture`` (pixels 0..255 ``H x W x C``, or a
    spectrogram in display units, frequency first); for tokens, one signed score per token
    (positive: towards the class), ``picture`` empty.
    """

    heat: np.ndarray
    picture: np.ndarray
    tokens: list[str] = field(default_factory=list)
    picture_label: str = ""  # what the picture is (axis title)


class Explainer(ABC):
    """Explains one family of models; construct with the model, method, layer and steps."""

    view: ClassVar[str]  # "image", "spectrogram", "tokens": how the result is drawn
    methods: ClassVar[tuple[str, ...]] = METHODS
    default_method: ClassVar[str] = GRADCAM

    def __init__(self, model: Any, method: str, layer: str | None, steps: int) -> None:
        self.model = model
        self.method = method
        self.layer = layer
        self.steps = steps
        self.layer_used: str | None = None  # Grad-CAM's layer, once known

    @classmethod
    @abstractmethod
    def claims(cls, model: Any) -> bool:
        """True when this explainer can explain ``model``."""

    @abstractmethod
    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        """One attribution per row of ``x`` (model-ready inputs) for its class."""


class ImageExplainer(Explainer):
    """Pixels: a model whose input is ``N x H x W x C``."""

    view = "image"

    @classmethod
    def claims(cls, model: Any) -> bool:
        return len(model.inputs[0].shape) == 4

    def __init__(self, model: Any, method: str, layer: str | None, steps: int) -> None:
        super().__init__(model, method, layer, steps)
        if method == GRADCAM:
            from dlcli.explain.targets import gradcam_cut

            self.layer_used = gradcam_cut(model, layer).name  # an unknown --layer fails here

    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        from dlcli.explain import attribution

        if self.method == GRADCAM:
            heat = attribution.gradcam(self.model, x, class_index, self.layer)
        elif self.method == SALIENCY:
            heat = attribution.saliency(self.model, x, class_index)
        else:
            heat = attribution.integrated_gradients(self.model, x, class_index, self.steps)
        return [Attribution(h, p, picture_label="input") for h, p in zip(heat, x, strict=True)]


def _load_builtins() -> list[type[Explainer]]:
    from dlcli.explain.spectrogram import SpectrogramExplainer
    from dlcli.explain.tokens import TokenExplainer
    from dlcli.explain.waveform import WaveformExplainer

    return [TokenExplainer, SpectrogramExplainer, WaveformExplainer, ImageExplainer]


_REGISTERED: list[type[Explainer]] = []


def register_explainer(cls: type[Explainer]) -> None:
    """Add an explainer (tried before the built-in ones)."""
    if cls not in _REGISTERED:
        _REGISTERED.append(cls)


def explainer_for(model: Any, method: str | None, layer: str | None, steps: int) -> Explainer:
    """The first explainer that claims ``model``, set up for ``method`` (None: its default).
    Unknown layers and methods the model's explainer lacks are usage errors (exit 2)."""
    shape = tuple(model.inputs[0].shape)
    for cls in [*_REGISTERED, *_load_builtins()]:
        if cls.claims(model):
            chosen = method or cls.default_method
            if chosen not in cls.methods:
                raise UsageError(
                    f"--method {chosen} does not apply to a model that reads {cls.view}s",
                    field="--method",
                    expected="one of: " + "; ".join(DESCRIPTIONS[m] for m in cls.methods),
                )
            if layer is not None and chosen != GRADCAM:
                raise UsageError(
                    f"--layer picks Grad-CAM's layer; --method {chosen} reads the input",
                    field="--layer",
                    hint="leave out --layer, or use --method gradcam",
                )
            return cls(model, chosen, layer, steps)
    raise UsageError(
        "cannot explain this model: it reads neither images, a spectrogram, nor text",
        expected="a model with an image input (N x H x W x C), a spectrogram layer or a tokeniser",
        received=f"input shape {shape}",
    )


__all__ = [
    "GRADCAM",
    "INTEGRATED_GRADIENTS",
    "SALIENCY",
    "Attribution",
    "Explainer",
    "ImageExplainer",
    "explainer_for",
    "register_explainer",
]
