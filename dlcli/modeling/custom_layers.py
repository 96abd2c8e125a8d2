"""The layer classes dlcli itself adds to the recipe catalog (beside ``keras.layers``).

``python -m dlcli.recipe.gen_catalog`` lists them in ``catalog.json`` (with their module,
so the safety walk can accept them and nothing else); the builder creates them from here,
and importing this module registers them with Keras for loading a saved model.
"""

from __future__ import annotations

from dlcli.modeling.audio_layers import (
    LogScaling,
    PerExampleNormalization,
    RandomGain,
    RandomNoise,
    RandomTimeShift,
    SpecAugment,
)
from dlcli.modeling.text_layers import TokenAndPositionEmbedding

LAYERS: dict[str, type] = {
    "TokenAndPositionEmbedding": TokenAndPositionEmbedding,
    "LogScaling": LogScaling,
    "PerExampleNormalization": PerExampleNormalization,
    "RandomTimeShift": RandomTimeShift,
    "RandomGain": RandomGain,
    "RandomNoise": RandomNoise,
    "SpecAugment": SpecAugment,
}
