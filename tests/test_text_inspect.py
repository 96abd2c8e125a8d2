"""``dlcli inspect`` of a text model: the tokeniser lines (vocabulary size, max_length, a
sample's token ids, checked against vocabulary.txt) and ``--activations TEXT``: token
scores (gradient x input) checked by finite differences on the embedding table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_text_kind import recipe_text, write_folders

from dlcli.cli import main
from dlcli.modeling.text_inspection import SAMPLE_SENTENCE


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("text_inspect")
    write_folders(tmp / "train", 10, seed=0)
    recipe = tmp / "r.yaml"
    recipe.write_text(recipe_text(str(tmp / "train")))
    assert main(["train", str(recipe), "--out", str(tmp / "run"), "--quiet"]) == 0
    return tmp / "run"


def test_inspect_shows_vocabulary_max_length_and_sample_ids(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["inspect", str(run), "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)["tokenizer"]
    vocabulary = (run / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert f"vocabulary: {len(vocabulary)} tokens (max_tokens 50)" in lines
    assert "max_length: 8 tokens (padded/truncated)" in lines
    words = SAMPLE_SENTENCE.lower().replace(".", "").split()
    expected = [vocabulary.index(w) if w in vocabulary else 1 for w in words][:8]
    sample = next(line for line in lines if line.startswith("sample:"))
    shown = [int(i) for i in sample.split("[", 1)[1].split(", ...]")[0].split(", ")]
    assert shown[:8] == expected


def test_activations_scores_tokens_by_gradient_times_input(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    text = "kitten anchor purr"
    out = tmp_path / "acts"
    assert main(["inspect", str(run), "--activations", text, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gradient x input" in printed and (out / "tokens.png").stat().st_size > 0
    doc = json.loads((out / "tokens.json").read_text())
    assert [t["token"] for t in doc["tokens"]] == text.split()

    # Finite differences: scaling token t's embedding row by (1 + eps) changes the
    # predicted class's probability by about eps * (gradient . row), the reported score.
    model = keras.saving.load_model(run / "best.keras")
    table = model.get_layer("embedding").embeddings
    vocabulary = (run / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    raw = np.asarray([text], dtype=object)
    base = np.asarray(model(raw))[0, doc["predicted"]]
    assert doc["probability"] == pytest.approx(float(base), abs=1e-6)
    weights = np.asarray(table).copy()
    eps = 1e-3
    for entry in doc["tokens"]:
        row = vocabulary.index(entry["token"])
        bumped = weights.copy()
        bumped[row] *= 1 + eps
        table.assign(bumped)
        moved = np.asarray(model(raw))[0, doc["predicted"]]
        table.assign(weights)
        assert entry["score"] == pytest.approx((moved - base) / eps, rel=0.05, abs=1e-5)
