"""``vocabulary.txt``: each adapted vocabulary of a run, readable beside its model.

Line N holds token id N-1 (the padding token ``""`` and ``[UNK]`` first, as Keras numbers
them), so a user can look up what the model sees. Written from the adapted layers' records
(:mod:`dlcli.training.adapt`) with the epoch-0 checkpoint, i.e. as soon as the vocabulary
is learned from the training split. A model with several vocabulary layers gets one
``vocabulary-<layer>.txt`` each. No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VOCABULARY_FILE = "vocabulary.txt"


def vocabulary_files(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """File name -> text for each adapted record that holds a vocabulary."""
    found = []
    for record in records:
        state = record.get("state")
        if record.get("adapted") and isinstance(state, dict):
            tokens = state.get("vocabulary")
            if isinstance(tokens, list):
                found.append((str(record.get("layer")), tokens))
    files = {}
    for layer, tokens in found:
        name = VOCABULARY_FILE if len(found) == 1 else f"vocabulary-{layer}.txt"
        files[name] = "".join(str(t).replace("\n", " ") + "\n" for t in tokens)
    return files
