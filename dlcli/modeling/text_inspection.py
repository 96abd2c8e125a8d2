"""What ``dlcli inspect`` says about a model that reads raw text, and which tokens drive
one of its predictions.

Everything is read from the model's own tokeniser (its first ``TextVectorization``
layer), so it holds for any text model, from a run or a bare ``.keras`` file.
Attribution is gradient x input: for a sequence model, the gradient of the predicted
class's score with respect to each token's embedding, times the embedding, summed over
its dimensions; for a bag-of-words model, gradient x value of each vocabulary entry the
document holds. Positive: the token pushes towards the predicted class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlcli.backend import keras, tf

SAMPLE_SENTENCE = "The quick brown fox jumps over the lazy dog."


def tokenizer_of(model: Any) -> Any | None:
    """The model's first TextVectorization layer, or None for a model that reads no text."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization):
            return layer
    return None


def tokenizer_lines(model: Any, sample: str = SAMPLE_SENTENCE) -> list[str]:
    """Vocabulary size, sequence length and the ids of a sample sentence ([] for no text)."""
    layer = tokenizer_of(model)
    if layer is None:
        return []
    config = layer.get_config()
    lines = [f"tokeniser: {layer.name} (TextVectorization, output_mode {config['output_mode']})"]
    size = layer.vocabulary_size()
    special = {"", str(config.get("oov_token", "[UNK]"))}
    adapted = any(str(t) not in special for t in layer.get_vocabulary())
    if not adapted:  # a recipe: the vocabulary comes from the training split at train time
        lines.append(
            f"vocabulary: learned from the training split when training starts "
            f"(max_tokens {config.get('max_tokens')})"
        )
        length = config.get("output_sequence_length")
        lines.append(
            f"max_length: {length} tokens (padded/truncated)" if length else "max_length: none"
        )
        return lines
    lines.append(
        f"vocabulary: {size:,} tokens"
        + (f" (max_tokens {config['max_tokens']:,})" if config.get("max_tokens") else "")
    )
    length = config.get("output_sequence_length")
    lines.append(
        f"max_length: {length} tokens (padded/truncated)"
        if length
        else "max_length: none (every token counts)"
    )
    ids = np.asarray(layer(np.asarray([sample], dtype=object)))[0]
    if config["output_mode"] == "int":
        shown = ", ".join(str(int(i)) for i in ids[: len(sample.split()) + 2])
        lines.append(f"sample: {sample!r} -> token ids [{shown}, ...]")
    else:
        present = [int(j) for j in np.flatnonzero(ids)]
        lines.append(f"sample: {sample!r} -> vocabulary entries {present[:16]}")
    return lines


@dataclass
class TokenAttribution:
    text: str
    tokens: list[str]
    scores: np.ndarray  # one per token, gradient x input
    predicted: int
    probability: float


def attribute(model: Any, text: str) -> TokenAttribution:
    """Gradient x input per token of ``text`` for the class ``model`` predicts."""
    layer = tokenizer_of(model)
    if layer is None:
        raise ValueError("the model has no TextVectorization layer")
    vocabulary = [str(t) for t in layer.get_vocabulary()]
    raw = np.asarray([text], dtype=object)
    encoded = np.asarray(layer(raw))[0]
    if layer.get_config()["output_mode"] == "int":
        return _sequence_attribution(model, layer, raw, encoded, vocabulary)
    rest = keras.Model(layer.output, model.output)
    x = tf.convert_to_tensor(encoded[None].astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        probs = rest(x, training=False)
        predicted = int(np.argmax(np.asarray(probs)[0]))
        score = probs[0, predicted]
    grad = np.asarray(tape.gradient(score, x))[0]
    keep = np.flatnonzero(encoded != 0)  # the vocabulary entries the document holds
    scores = (grad * encoded.astype("float32"))[keep]
    tokens = [vocabulary[int(j)] for j in keep]
    return TokenAttribution(text, tokens, scores, predicted, float(np.asarray(probs)[0, predicted]))


def _sequence_attribution(
    model: Any, layer: Any, raw: np.ndarray, ids: np.ndarray, vocabulary: list[str]
) -> TokenAttribution:
    """Gradient x input on the embedding table's rows of the document's tokens (works
    through masks); a token that occurs n times gets 1/n of its row's score at each place."""
    table = _embedding_table(_next_layer(model, layer))
    with tf.GradientTape() as tape:
        probs = model(raw, training=False)
        predicted = int(np.argmax(np.asarray(probs)[0]))
        score = probs[0, predicted]
    grad = tape.gradient(score, table)
    grad = np.asarray(tf.convert_to_tensor(grad))
    weights = np.asarray(table)
    keep = np.flatnonzero(ids != 0)
    counts = {int(i): int(np.sum(ids == i)) for i in ids[keep]}
    scores = np.asarray([float(grad[int(i)] @ weights[int(i)]) / counts[int(i)] for i in ids[keep]])
    tokens = [vocabulary[int(i)] for i in ids[keep]]
    return TokenAttribution(
        str(raw[0]), tokens, scores, predicted, float(np.asarray(probs)[0, predicted])
    )


def _embedding_table(layer: Any) -> Any:
    """The token embedding variable of an Embedding or TokenAndPositionEmbedding layer."""
    inner = getattr(layer, "token_embedding", layer)
    table = getattr(inner, "embeddings", None)
    if table is None:
        raise ValueError(
            f"the layer after the tokeniser ({type(layer).__name__}) is not an embedding"
        )
    return table


def _next_layer(model: Any, layer: Any) -> Any:
    """The layer that takes the tokeniser's ids (the embedding)."""
    for candidate in model.layers:
        inputs = candidate.input if isinstance(candidate.input, list) else [candidate.input]
        if any(t is layer.output for t in inputs):
            return candidate
    raise ValueError(f"no layer takes the output of {layer.name!r}")
