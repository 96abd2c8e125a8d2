"""Exporting text models: SavedModel serves raw strings (same scores as the .keras model);
TFLite refuses with the alternative, and that alternative (the layers after the tokeniser
as a token-id model, fed ids made with vocabulary.txt) scores the same."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_text_kind import recipe_text, write_folders

from dlcli.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("text_export")
    write_folders(tmp / "train", 10, seed=0)
    recipe = tmp / "r.yaml"
    recipe.write_text(recipe_text(str(tmp / "train")))
    assert main(["train", str(recipe), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_saved_model_takes_raw_strings(run: Path, tmp_path: Path) -> None:
    assert main(["export", str(run), "--format", "saved_model"]) == 0
    doc = tmp_path / "d.txt"
    doc.write_text("kitten purr on the deck", encoding="utf-8")
    scores = []
    for model in (run, run / "export" / "saved_model"):
        out = tmp_path / f"p{len(scores)}.csv"
        assert main(["predict", str(model), str(doc), "--out", str(out)]) == 0
        scores.append(float(next(csv.DictReader(out.open()))["confidence"]))
    assert scores[1] == pytest.approx(scores[0], abs=1e-5)


def test_tflite_refuses_raw_text_and_names_the_alternative(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["export", str(run), "--format", "tflite"]) == 2
    err = capsys.readouterr().err
    assert "TFLite cannot take raw text" in err and "vocabulary.txt" in err
    assert not (run / "export" / "model.tflite").exists()


def test_the_documented_token_id_model_scores_like_the_text_model(run: Path) -> None:
    from dlcli.backend import keras

    # docs/text.md, "Exporting text models": the same steps.
    model = keras.saving.load_model(run / "model.keras")
    vectorizer = model.layers[1]
    ids_model = keras.Model(vectorizer.output, model.output)
    vocabulary = (run / "vocabulary.txt").read_text(encoding="utf-8").splitlines()

    docs = ["cat kitten deck", "ship sail unknownword"]
    lookup = {token: i for i, token in enumerate(vocabulary)}
    ids = np.zeros((2, 8), dtype="int64")  # output_sequence_length 8, padding id 0
    for row, doc in enumerate(docs):
        for col, word in enumerate(doc.lower().split()[:8]):
            ids[row, col] = lookup.get(word, 1)  # 1: [UNK]
    np.testing.assert_array_equal(ids, np.asarray(vectorizer(np.asarray(docs, dtype=object))))
    np.testing.assert_allclose(
        np.asarray(ids_model(ids)), np.asarray(model(np.asarray(docs, dtype=object))), rtol=1e-6
    )
