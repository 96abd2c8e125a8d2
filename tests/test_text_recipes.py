"""The shipped text recipes: each builds the hand-written Keras network (same layers, same
parameter count and weight shapes) and trains through ``dlcli train`` on a slice of the
shipped fortunes corpus, then predicts from raw text."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from dlcli.backend import keras
from dlcli.cli import main
from dlcli.modeling.builder import build_model
from dlcli.modeling.inputs import recipe_input_shape
from dlcli.modeling.text_layers import TokenAndPositionEmbedding
from dlcli.recipe import load_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
CORPUS = Path(__file__).resolve().parent.parent / "data" / "fortunes"
L = keras.layers
VOCAB = 20_000


def _text_input() -> keras.KerasTensor:
    return keras.Input(shape=(), dtype="string")


def text_bow() -> keras.Model:
    inp = _text_input()
    x = L.TextVectorization(VOCAB, ngrams=2, output_mode="multi_hot", pad_to_max_tokens=True)(inp)
    x = L.Dropout(0.5)(L.Dense(64, activation="relu")(x))
    return keras.Model(inp, L.Dense(6, activation="softmax")(x))


def text_cnn() -> keras.Model:
    inp = _text_input()
    x = L.TextVectorization(VOCAB, output_mode="int", output_sequence_length=120)(inp)
    x = L.Dropout(0.3)(L.Embedding(VOCAB, 64)(x))
    x = L.GlobalMaxPooling1D()(L.Conv1D(128, 5, activation="relu", padding="same")(x))
    return keras.Model(inp, L.Dense(6, activation="softmax")(L.Dropout(0.5)(x)))


def text_bilstm() -> keras.Model:
    inp = _text_input()
    x = L.TextVectorization(VOCAB, output_mode="int", output_sequence_length=80)(inp)
    x = L.Embedding(VOCAB, 64, mask_zero=True)(x)
    x = L.Bidirectional(L.LSTM(32, return_sequences=True), merge_mode="concat")(x)
    x = L.Dropout(0.5)(L.GlobalMaxPooling1D()(x))
    return keras.Model(inp, L.Dense(6, activation="softmax")(x))


def text_transformer() -> keras.Model:
    inp = _text_input()
    ids = L.TextVectorization(VOCAB, output_mode="int", output_sequence_length=80)(inp)
    embed = TokenAndPositionEmbedding(VOCAB, 80, 64)(ids)
    attention = L.MultiHeadAttention(num_heads=2, key_dim=32, dropout=0.1)(embed, embed)
    norm_1 = L.LayerNormalization(epsilon=1e-6)(L.Add()([embed, attention]))
    ffn = L.Dense(64)(L.Dense(64, activation="relu")(norm_1))
    x = L.LayerNormalization(epsilon=1e-6)(L.Add()([norm_1, ffn]))
    x = L.Dropout(0.3)(L.GlobalAveragePooling1D()(x))
    return keras.Model(inp, L.Dense(6, activation="softmax")(x))


TEXT_ORACLES = {
    "text_bow": text_bow,
    "text_cnn": text_cnn,
    "text_bilstm": text_bilstm,
    "text_transformer": text_transformer,
}


@pytest.mark.parametrize("name", sorted(TEXT_ORACLES))
def test_text_recipe_builds_the_hand_written_network(name: str) -> None:
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe_input_shape(recipe) == ()
    assert recipe.model.input_dtype == "string"  # from data.kind: text
    model = build_model(recipe.model, recipe_input_shape(recipe), name=recipe.name)
    oracle = TEXT_ORACLES[name]()
    assert model.count_params() == oracle.count_params()
    assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in oracle.weights]
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in oracle.layers
    ]


@pytest.fixture(scope="module")
def corpus_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 240 training rows of the shipped corpus (every class is among them)."""
    with (CORPUS / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:240]
    assert len({r["label"] for r in rows}) == 6
    path = tmp_path_factory.mktemp("fortunes") / "slice.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("name", sorted(TEXT_ORACLES))
def test_text_recipe_trains_and_predicts_from_raw_text(
    name: str, corpus_slice: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["train", str(RECIPES / f"{name}.yaml"), "--out", str(run), "--quiet"]
    args += ["--set", f"data.train={corpus_slice}", "--set", "train.epochs=2"]
    assert main(args) == 0
    tokens = (run / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert len(tokens) > 100 and tokens[0] in ("", "[UNK]")
    with (run / "history.csv").open(newline="") as fh:
        losses = [float(row["loss"]) for row in csv.DictReader(fh)]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns from the slice
    model = keras.saving.load_model(run / "model.keras")
    docs = np.asarray(["The program crashed with a core dump.", "Vote for me!"], dtype=object)
    probs = np.asarray(model(docs))
    assert probs.shape == (2, 6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_validate_says_the_input_is_raw_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(RECIPES / "text_cnn.yaml")]) == 0
    out = capsys.readouterr().out
    assert "input      one value per example (string)" in out
    assert "data       text (table: text column 'text', label column 'label')" in out
