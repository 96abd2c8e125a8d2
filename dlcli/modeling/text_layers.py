"""Layers of dlcli's own that text models need and Keras does not ship.

Each is a registered, serialisable Keras layer (``package="dlcli"``), listed in
:data:`dlcli.modeling.custom_layers.LAYERS`: recipes name it like a Keras layer, and a
saved model holding it loads with ``safe_mode=True`` (the config walk of
:mod:`dlcli.modeling.safety` accepts exactly these classes from exactly this module).
"""

from __future__ import annotations

from typing import Any

from dlcli.backend import keras

PACKAGE = "dlcli"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus a learned position embedding, summed: attention has no sense of
    word order of its own, so each token vector also says where the token stands.

    Input: integer token ids ``(batch, sequence_length)`` (e.g. from ``TextVectorization``
    with ``output_mode: int``); output ``(batch, sequence_length, embedding_dim)``. With
    ``mask_zero`` the padding id 0 is masked for the layers after it.
    """

    def __init__(
        self,
        vocabulary_size: int,
        sequence_length: int,
        embedding_dim: int,
        mask_zero: bool = False,
        embeddings_initializer: str = "uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for arg, value in (
            ("vocabulary_size", vocabulary_size),
            ("sequence_length", sequence_length),
            ("embedding_dim", embedding_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive integer. Received: {arg}={value!r}")
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=embeddings_initializer,
            mask_zero=self.mask_zero,
            name="token_embedding",
        )
        self.position_embedding = keras.layers.Embedding(
            sequence_length,
            embedding_dim,
            embeddings_initializer=embeddings_initializer,
            name="position_embedding",
        )
        self.supports_masking = self.mask_zero

    def build(self, input_shape: Any) -> None:
        length = input_shape[-1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"inputs of length {length} exceed sequence_length={self.sequence_length}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, inputs: Any) -> Any:
        ids = keras.ops.cast(inputs, "int32")
        positions = keras.ops.arange(0, keras.ops.shape(ids)[-1], dtype="int32")
        return self.token_embedding(ids) + self.position_embedding(positions)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return keras.ops.not_equal(inputs, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*tuple(input_shape), self.embedding_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": self.embeddings_initializer,
        }
