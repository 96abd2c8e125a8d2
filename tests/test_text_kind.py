"""``data.kind: text``: class folders and tables, the vocabulary adapted on the training
split only, predict/evaluate on raw text, and the reading errors (invalid UTF-8, empty
documents, a missing text column, an empty vocabulary)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcli.cli import main

WORDS = {
    "cats": "cat kitten purr whisker meow feline paw",
    "ships": "ship sail harbour anchor mast deck wave",
}


def write_folders(root: Path, n: int, seed: int, extra: str = "") -> None:
    """Two classes of short documents drawn from distinct word lists."""
    rng = np.random.default_rng(seed)
    for cls, words in WORDS.items():
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        vocab = words.split()
        for i in range(n):
            doc = " ".join(rng.choice(vocab, size=6)) + (f" {extra}" if extra else "")
            (folder / f"{cls}_{i:02d}.txt").write_text(doc, encoding="utf-8")


def recipe_text(
    train: str, validation: str | None = None, extra_data: str = "", mode: str = "int"
) -> str:
    val = f"  validation: {validation}\n" if validation else "  validation_split: 0.25\n"
    vectorize = (
        "{max_tokens: 50, output_mode: int, output_sequence_length: 8}"
        if mode == "int"
        else "{max_tokens: 50, output_mode: multi_hot, pad_to_max_tokens: true}"
    )
    tail = (
        "    - Embedding: {input_dim: 50, output_dim: 4}\n    - GlobalAveragePooling1D\n"
        if mode == "int"
        else ""
    )
    return (
        "name: tiny_text\nseed: 3\ndata:\n  kind: text\n"
        f"  train: {train}\n{val}  batch_size: 8\n{extra_data}"
        "model:\n  layers:\n"
        f"    - TextVectorization: {vectorize}\n{tail}"
        "    - Dense: {units: 2, activation: softmax}\n"
        "train:\n  epochs: 1\n  optimizer: {name: adam, learning_rate: 0.05}\n"
    )


@pytest.fixture
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained on class folders whose validation split alone has the word 'zyzzyva'."""
    tmp = tmp_path_factory.mktemp("text")
    write_folders(tmp / "train", 12, seed=0)
    write_folders(tmp / "val", 4, seed=1, extra="zyzzyva")
    recipe = tmp / "r.yaml"
    recipe.write_text(recipe_text(str(tmp / "train"), str(tmp / "val")))
    run = tmp / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    return run


def test_vocabulary_is_adapted_on_training_documents_only(trained: Path) -> None:
    from dlcli.backend import keras

    tokens = (trained / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    words = set(" ".join(WORDS.values()).split())
    assert tokens[:2] == ["", "[UNK]"]
    assert set(tokens[2:]) == words  # every training word, nothing from validation
    assert "zyzzyva" not in tokens
    model = keras.saving.load_model(trained / "model.keras")
    vectorizer = model.get_layer("text_vectorization")
    ids = np.asarray(vectorizer(np.asarray(["zyzzyva cat"], dtype=object)))[0]
    assert ids[0] == 1  # out of vocabulary
    assert ids[1] == tokens.index("cat")
    labels = json.loads((trained / "labels.json").read_text())
    assert labels["kind"] == "text" and labels["class_names"] == ["cats", "ships"]
    adapted = json.loads((trained / "metrics.json").read_text())["adapted"][0]
    assert adapted["split"] == "training" and adapted["examples"] == 24


def test_predict_on_raw_text_equals_the_model_on_vectorised_text(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    docs = ["cat purr whisker kitten", "anchor mast sail wave harbour"]
    (tmp_path / "in").mkdir()
    for i, doc in enumerate(docs):
        (tmp_path / "in" / f"d{i}.txt").write_text(doc, encoding="utf-8")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(trained), str(tmp_path / "in"), "--out", str(out)]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    model = keras.saving.load_model(trained / "best.keras")
    vectorizer = model.get_layer("text_vectorization")
    ids = vectorizer(np.asarray(docs, dtype=object))
    rest = keras.Sequential(model.layers[2:])  # everything after the tokeniser
    probs = np.asarray(rest(ids))
    names = ["cats", "ships"]
    for i, p in enumerate(probs):
        row = rows[f"d{i}.txt"]
        assert row["label"] == names[int(np.argmax(p))]
        assert float(row["confidence"]) == pytest.approx(float(np.max(p)), abs=1e-5)

    # The same documents from a table (--text-column) and from standard input.
    table = tmp_path / "t.csv"
    table.write_text("id,body\n1," + docs[0] + "\n2," + docs[1] + "\n", encoding="utf-8")
    out2 = tmp_path / "pred2.csv"
    code = main(["predict", str(trained), str(table), "--text-column", "body", "--out", str(out2)])
    assert code == 0
    got = [float(r["confidence"]) for r in csv.DictReader(out2.open())]
    assert got == pytest.approx([float(np.max(p)) for p in probs], abs=1e-5)
    paths = [r["path"] for r in csv.DictReader(out2.open())]
    assert paths == [f"{table}:2", f"{table}:3"]


def test_predict_reads_stdin_lines_in_a_subprocess(trained: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dlcli", "predict", str(trained), "-"],
        input="cat kitten meow\n\nship sail deck\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr  # the empty line is skipped, with its reason
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["path"] for r in rows] == ["-:1", "-:3"]
    from dlcli.backend import keras

    model = keras.saving.load_model(trained / "best.keras")
    probs = np.asarray(model(np.asarray(["cat kitten meow", "ship sail deck"], dtype=object)))
    assert [float(r["confidence"]) for r in rows] == pytest.approx(probs.max(axis=1), abs=1e-5)
    assert "-:2" in proc.stderr and "empty document" in proc.stderr


def test_evaluate_on_a_jsonl_table_counts_per_class(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "eval.jsonl"
    rows = [
        {"text": "cat kitten purr", "label": "cats"},
        {"text": "meow paw feline", "label": "cats"},
        {"text": "ship anchor deck", "label": "ships"},
    ]
    table.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", str(trained), "--data", str(table), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_samples"] == 3
    support = {name: c["support"] for name, c in result["per_class"].items()}
    assert support == {"cats": 2, "ships": 1}


def _train_expecting_error(tmp_path: Path, recipe: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(recipe)
    capsys.readouterr()
    code = main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_invalid_utf8_names_file_and_byte_offset_or_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_folders(tmp_path / "train", 6, seed=0)
    bad = tmp_path / "train" / "cats" / "bad.txt"
    bad.write_bytes(b"cat kitten \xff\xfe purr")
    err = _train_expecting_error(tmp_path, recipe_text(str(tmp_path / "train")), capsys)
    assert str(bad) in err and "invalid UTF-8 at byte offset 11" in err
    assert "errors: replace" in err
    recipe = tmp_path / "ok.yaml"
    recipe.write_text(recipe_text(str(tmp_path / "train"), extra_data="  errors: replace\n"))
    assert main(["train", str(recipe), "--out", str(tmp_path / "run2"), "--quiet"]) == 0


def test_empty_documents_are_skipped_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_folders(tmp_path / "train", 6, seed=0)
    (tmp_path / "train" / "ships" / "empty.txt").write_text("  \n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_text(str(tmp_path / "train"), mode="multi_hot"))
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    skipped = (tmp_path / "run" / "skipped.txt").read_text()
    assert "empty.txt" in skipped and "empty document" in skipped


def test_a_table_without_the_text_column_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("body,label\ncat purr,cats\nship sail,ships\n", encoding="utf-8")
    err = _train_expecting_error(tmp_path, recipe_text(str(table)), capsys)
    assert str(table) in err and "no text column 'text'" in err and "body" in err


def test_an_empty_vocabulary_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.csv"
    rows = "".join(f"{p},{c}\n" for p, c in [("!!!", "a"), ("?? ...", "b")] * 6)
    table.write_text("text,label\n" + rows, encoding="utf-8")
    err = _train_expecting_error(tmp_path, recipe_text(str(table)), capsys)
    assert "empty vocabulary" in err and "text_vectorization" in err


def test_max_length_cuts_documents_when_read() -> None:
    from dlcli.data.text_read import truncate

    assert truncate("a  b\nc d e", 3) == "a  b\nc"
    assert truncate("a b", 3) == "a b"
    assert truncate("a b", None) == "a b"


def test_tf_idf_padded_past_the_vocabulary_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keras would save this model and then fail to load it (IDF weights vs vocabulary)."""
    write_folders(tmp_path / "train", 6, seed=0)
    recipe = recipe_text(str(tmp_path / "train"), mode="multi_hot").replace(
        "output_mode: multi_hot", "output_mode: tf_idf"
    )
    err = _train_expecting_error(tmp_path, recipe, capsys)
    learned = len(set(" ".join(WORDS.values()).split())) + 1  # the words and [UNK]
    assert f"learned {learned} tokens, fewer than max_tokens=50" in err


@pytest.mark.parametrize("mode", ["int", "tf_idf"])
def test_resume_restores_the_vocabulary_instead_of_adapting_again(
    tmp_path: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    write_folders(tmp_path / "train", 8, seed=0)
    text = recipe_text(str(tmp_path / "train"), mode="int" if mode == "int" else "multi_hot")
    if mode == "tf_idf":  # max_tokens within the 15 learned tokens: loadable TF-IDF
        text = text.replace(
            "max_tokens: 50, output_mode: multi_hot", "max_tokens: 12, output_mode: tf_idf"
        )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text)
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    before = (run / "vocabulary.txt").read_text(encoding="utf-8")
    # New words in the training data: adapting again would change the vocabulary.
    write_folders(tmp_path / "train", 8, seed=5, extra="novel words everywhere")
    capsys.readouterr()
    code = main(["train", str(recipe), "--out", str(run), "--resume", "--epochs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "restored from the checkpoint, not adapted again" in out
    assert (run / "vocabulary.txt").read_text(encoding="utf-8") == before
    layer = keras.saving.load_model(run / "model.keras").get_layer("text_vectorization")
    assert "\n".join(layer.get_vocabulary()) + "\n" == before
