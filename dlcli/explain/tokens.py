"""Text models (a ``TextVectorization`` tokeniser inside): one score per token.

Sequence models (token ids -> an embedding): the attribution of a token is taken on its
embedding row. ``integrated_gradients`` scales the rows of the document's tokens from zero
(the baseline: every word of the document blanked) to their trained values and sums
``row x mean gradient`` over the path, so a document's scores add up to the score change
the words make; ``saliency`` is gradient x input (one step, at the trained rows). The rows
are scaled in the embedding table itself, so masks, positions and every later layer behave
exactly as in the model; the table is restored afterwards. A token that occurs n times gets
1/n of its row's score at each place. Bag-of-words models (multi-hot, counts, TF-IDF): the
same methods on the vectorised document's entries, listed in vocabulary order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.backend import keras, tf
from dlcli.explain.explainers import Attribution, Explainer
from dlcli.explain.methods import INTEGRATED_GRADIENTS, SALIENCY
from dlcli.explain.targets import input_of, output_of, score_head
from dlcli.modeling.text_inspection import tokenizer_of


class TokenExplainer(Explainer):
    """Text: a model with a tokeniser; per-token scores."""

    view = "token"
    methods = (INTEGRATED_GRADIENTS, SALIENCY)
    default_method = INTEGRATED_GRADIENTS

    @classmethod
    def claims(cls, model: Any) -> bool:
        return tokenizer_of(model) is not None

    def __init__(self, model: Any, method: str, layer: str | None, steps: int) -> None:
        super().__init__(model, method, layer, steps)
        self.tokenizer = tokenizer_of(model)
        self.vocabulary = [str(t) for t in self.tokenizer.get_vocabulary()]
        self.sequence = self.tokenizer.get_config()["output_mode"] == "int"
        self.scores = score_head(model)
        if self.sequence:
            self.table = _embedding_table(_reader_of(model, self.tokenizer))
        else:
            ids = output_of(self.tokenizer, model)
            self.rest = score_head(keras.Model(ids, model.outputs[0]))

    def _alphas(self) -> np.ndarray:
        if self.method == SALIENCY:
            return np.ones(1, dtype=np.float32)
        return (np.arange(self.steps, dtype=np.float32) + 0.5) / self.steps

    def explain(self, x: np.ndarray, class_index: np.ndarray) -> list[Attribution]:
        out = []
        for text, c in zip(x, class_index, strict=True):
            raw = np.asarray([str(text)], dtype=object)
            tokens, scores = (self._sequence if self.sequence else self._bag)(raw, int(c))
            out.append(Attribution(scores.astype(np.float32), np.zeros(0), tokens, "tokens"))
        return out

    def _sequence(self, raw: np.ndarray, c: int) -> tuple[list[str], np.ndarray]:
        ids = np.asarray(self.tokenizer(raw))[0].astype(np.int64)
        keep = np.flatnonzero(ids != 0)
        rows = np.unique(ids[keep])
        original = tf.identity(self.table)
        trained = np.asarray(original)
        total = np.zeros((len(rows), trained.shape[1]), dtype=np.float64)
        try:
            for alpha in self._alphas():
                scaled = trained.copy()
                scaled[rows] = alpha * trained[rows]
                self.table.assign(scaled)
                with tf.GradientTape() as tape:
                    score = self.scores(raw)[0, c]
                grad = tf.convert_to_tensor(tape.gradient(score, self.table))
                total += np.asarray(tf.gather(grad, rows), dtype=np.float64)
        finally:
            self.table.assign(original)
        per_row = (trained[rows] * total / len(self._alphas())).sum(axis=1)
        by_row = dict(zip(rows.tolist(), per_row, strict=True))
        counts = {r: int(np.sum(ids == r)) for r in rows.tolist()}
        scores = np.asarray([by_row[int(i)] / counts[int(i)] for i in ids[keep]])
        return [self.vocabulary[int(i)] for i in ids[keep]], scores

    def _bag(self, raw: np.ndarray, c: int) -> tuple[list[str], np.ndarray]:
        from dlcli.explain.attribution import input_gradients

        encoded = np.asarray(self.tokenizer(raw), dtype=np.float32)
        keep = np.flatnonzero(encoded[0] != 0)
        alphas = self._alphas()
        path = alphas[:, None] * encoded
        grads = input_gradients(self.rest, path, np.full(len(alphas), c))
        attributions = encoded[0] * grads.mean(axis=0)
        return [self.vocabulary[int(j)] for j in keep], attributions[keep]


def _embedding_table(layer: Any) -> Any:
    """The token embedding variable of an Embedding or TokenAndPositionEmbedding layer."""
    inner = getattr(layer, "token_embedding", layer)
    table = getattr(inner, "embeddings", None)
    if table is None:
        from dlcli.errors import UsageError

        raise UsageError(
            f"the layer after the tokeniser ({type(layer).__name__}) is not an embedding",
            expected="token ids into an Embedding (or TokenAndPositionEmbedding) layer",
        )
    return table


def _reader_of(model: Any, tokenizer: Any) -> Any:
    """The layer that takes the tokeniser's ids (the embedding)."""
    ids = output_of(tokenizer, model)
    for candidate in model.layers:
        if candidate is not tokenizer and input_of(candidate, model) is ids:
            return candidate
    from dlcli.errors import UsageError

    raise UsageError(
        f"no layer takes the output of the tokeniser {tokenizer.name!r}",
        expected="token ids into an Embedding (or TokenAndPositionEmbedding) layer",
    )
