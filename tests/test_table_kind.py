"""The ``table`` data kind: CSV/Parquet manifests of numbers, categories, text and file paths.

Oracles: Pillow decodes the manifest's PNGs, the csv module and pyarrow write the tables,
vocabularies and one-hot rows are written out by hand, and the trained model is run by
plain Keras on the Pillow pixels.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_image_folder
from PIL import Image

from dlcli.cli import main
from dlcli.data import load_datasets
from dlcli.errors import DataError
from dlcli.recipe import load_recipe_text

MODEL = """\
model:
  layers:
    - Rescaling: {scale: 0.00392}
    - Flatten: {}
    - Dense: {units: 2, activation: softmax}
train: {epochs: 1, optimizer: {name: adam, learning_rate: 0.01}}
"""


def kaggle_manifest(root: Path, *, missing: int = 0) -> Path:
    """``train.csv`` of ``filename,label`` beside ``images/<class>/*.png`` (relative paths)."""
    make_image_folder(root / "images", per_class=6)
    rows = [
        (p.relative_to(root).as_posix(), p.parent.name)
        for p in sorted((root / "images").rglob("*.png"))
    ]
    rows += [(f"images/gone_{i}.png", "circle") for i in range(missing)]
    with (root / "train.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "label"])
        writer.writerows(rows)
    return root / "train.csv"


def recipe_file(root: Path, data: str, model: str = MODEL) -> Path:
    path = root / "recipe.yaml"
    path.write_text(f"name: t\nseed: 3\n{data}\n{model}")
    return path


def pillow(path: Path, mode: str = "RGB") -> np.ndarray:
    return np.asarray(Image.open(path).convert(mode), dtype=np.float32)


def test_kaggle_manifest_is_one_line_and_decodes_as_pillow(tmp_path: Path) -> None:
    table = kaggle_manifest(tmp_path)
    recipe = load_recipe_text(
        "name: t\ndata: {kind: table, train: train.csv}\n" + MODEL, base_dir=tmp_path
    )
    bundle = load_datasets(recipe.data, seed=0)
    assert bundle.class_names == ["circle", "square"]
    assert bundle.input_shape == (16, 16, 3)  # size from the files, rgb by default
    xs, ys = [], []
    for x, y in bundle.make_train_unshuffled(5):
        xs.append(x.numpy())
        ys.append(y.numpy())
    x, y = np.concatenate(xs), np.concatenate(ys)
    with table.open() as fh:
        rows = list(csv.DictReader(fh))
    expected = np.stack([pillow(tmp_path / r["filename"]) for r in rows])
    np.testing.assert_array_equal(x, expected)
    assert [bundle.class_names[i] for i in y] == [r["label"] for r in rows]
    assert bundle.train.sources[0] == f"{table}:2"  # CSV line of the first data row
    # inspect --activations decodes a picture as the image column does
    from dlcli.data.kinds import get_kind

    first = tmp_path / rows[0]["filename"]
    picture = get_kind("table").activation_input(bundle.preprocessing, (16, 16, 3), first)
    np.testing.assert_array_equal(picture, pillow(first))


def test_table_model_trains_predicts_evaluates_and_exports(tmp_path: Path, capsys) -> None:
    from dlcli.backend import keras

    table = kaggle_manifest(tmp_path, missing=1)
    recipe = recipe_file(tmp_path, "data: {kind: table, train: train.csv, color_mode: grayscale}")
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    labels = json.loads((run / "labels.json").read_text())
    assert labels["kind"] == "table" and labels["label_column"] == "label"
    assert labels["columns"] == [
        {"name": "filename", "type": "image", "image_size": [16, 16], "color_mode": "grayscale"}
    ]
    # the missing file's row was skipped with its reason, the run went on
    skipped = (run / "skipped.txt").read_text()
    assert f"{table}:14" in skipped and "file not found" in skipped

    # predict on the table: same rows, predictions equal plain Keras on Pillow's pixels
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    assert main(["predict", str(run), str(table), "--out", str(out)]) == 3  # one row skipped
    got = {r["path"]: r for r in csv.DictReader(out.open())}
    model = keras.saving.load_model(run / "best.keras")
    with table.open() as fh:
        rows = list(csv.DictReader(fh))[:12]
    pixels = np.stack([pillow(tmp_path / r["filename"], "L")[..., None] for r in rows])
    probs = np.asarray(model(pixels))
    for i, p in enumerate(probs):
        row = got[f"{table}:{i + 2}"]
        assert row["label"] == ["circle", "square"][int(np.argmax(p))]
        assert float(row["confidence"]) == pytest.approx(float(np.max(p)), abs=1e-5)

    # evaluate --data TABLE: accuracy from the same predictions and the label column
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(table), "--json"]) == 3  # one skipped
    result = json.loads(capsys.readouterr().out)
    truth = np.asarray([["circle", "square"].index(r["label"]) for r in rows])
    assert result["num_samples"] == 12
    assert result["accuracy"] == pytest.approx(float(np.mean(np.argmax(probs, -1) == truth)))
    assert [s["path"] for s in result["skipped"]] == [f"{table}:14"]

    # export: parity on the run's own rows
    assert main(["export", str(run), "--format", "saved_model"]) == 0
    meta = json.loads((run / "export" / "saved_model" / "assets" / "labels.json").read_text())
    assert meta["kind"] == "table" and meta["parity"]["samples"] == 12


def test_categories_one_hot_and_index_with_their_vocabulary(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "size,city,zone,label\n1.5,paris,b,x\n2,oslo,a,y\n-3,paris,c,x\n4,rome,,y\n"
    )
    recipe = load_recipe_text(
        "name: t\ndata:\n  kind: table\n  train: t.csv\n  columns:\n    size: number\n"
        "    city: category\n    zone: {type: category, encode: index}\n" + MODEL,
        base_dir=tmp_path,
    )
    bundle = load_datasets(recipe.data, seed=0)
    columns = {c.name: c for c in bundle.preprocessing.columns}
    assert columns["city"].vocabulary == ["oslo", "paris", "rome"]
    assert columns["zone"].vocabulary == ["a", "b", "c"]  # the empty cell is no value
    (x, _), *_ = list(bundle.make_train_unshuffled(8))
    by_hand = [
        [1.5, 0, 1, 0, 2],  # size, one-hot (oslo, paris, rome), zone index + 1
        [2, 1, 0, 0, 1],
        [-3, 0, 1, 0, 3],
        [4, 0, 0, 1, 0],  # zone missing: index 0, the unknown value
    ]
    np.testing.assert_array_equal(x.numpy(), np.asarray(by_hand, np.float32))
    # a validation table is read with the training vocabulary: unseen values are unknown
    (tmp_path / "v.csv").write_text("size,city,zone,label\n7,nice,z,x\n8,oslo,c,y\n")
    recipe = load_recipe_text(
        "name: t\ndata:\n  kind: table\n  train: t.csv\n  validation: v.csv\n  columns:\n"
        "    size: number\n    city: category\n    zone: {type: category, encode: index}\n" + MODEL,
        base_dir=tmp_path,
    )
    (vx, vy), *_ = list(load_datasets(recipe.data, seed=0).make_validation(8))
    np.testing.assert_array_equal(vx.numpy(), [[7, 0, 0, 0, 0], [8, 1, 0, 0, 3]])
    assert vy.numpy().tolist() == [0, 1]


def test_parquet_reads_as_the_same_csv(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    size = rng.normal(size=20).round(6)
    city = [["oslo", "rome", "lima"][i % 3] for i in range(20)]
    note = [f"word{i} is a long phrase here" for i in range(20)]
    label = ["a" if i % 2 else "b" for i in range(20)]
    pq.write_table(
        pa.table({"size": size, "city": city, "note": note, "label": label}),
        tmp_path / "t.parquet",
    )
    with (tmp_path / "t.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["size", "city", "note", "label"])
        writer.writerows(zip(size.tolist(), city, note, label, strict=True))
    read = {}
    for name in ("t.csv", "t.parquet"):
        recipe = load_recipe_text(
            f"name: t\ndata: {{kind: table, train: {name}}}\nmodel:\n"
            "  inputs: {tab: {columns: [size, city]}, words: {columns: [note]}}\n"
            "  layers:\n    - Dense: {units: 2, inputs: [tab]}\n",
            base_dir=tmp_path,
        )
        bundle = load_datasets(recipe.data, seed=0, inputs=recipe.model.inputs)
        (x, y), *_ = list(bundle.make_train_unshuffled(32))
        read[name] = (x["tab"].numpy(), x["words"].numpy(), y.numpy(), bundle.preprocessing)
    csv_x, csv_words, csv_y, csv_prep = read["t.csv"]
    pq_x, pq_words, pq_y, pq_prep = read["t.parquet"]
    np.testing.assert_array_equal(csv_x, pq_x)
    np.testing.assert_array_equal(csv_words, pq_words)
    np.testing.assert_array_equal(csv_y, pq_y)
    assert csv_prep == pq_prep
    assert csv_x[:, 0].tolist() == pytest.approx(size.tolist())  # the guessed number column
    assert [c.type for c in csv_prep.columns] == ["number", "category", "text"]


def test_missing_files_for_most_rows_exit_2_with_file_row_column(tmp_path: Path) -> None:
    root = tmp_path
    (root / "t.csv").write_text("id,filename,label\n1,a.png,x\n2,b.png,y\n3,c.png,x\n")
    with pytest.raises(DataError) as err:
        load_datasets(
            load_recipe_text(
                "name: t\ndata: {kind: table, train: t.csv, columns: {filename: image}, "
                "image_size: [8, 8]}\n" + MODEL,
                base_dir=root,
            ).data,
            seed=0,
        )
    text = err.value.problem.format()
    assert text.startswith(f"{root / 't.csv'}:2:2: 3 of 3 rows name a file that does not exist")
    assert str(root) in text  # says which folder paths are read from


def test_bad_number_cell_exits_2_naming_file_row_column(tmp_path: Path, capsys) -> None:
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    recipe = recipe_file(
        tmp_path,
        "data: {kind: table, train: t.csv, columns: {a: number, b: number}}",
        "model: {layers: [{Dense: {units: 2, activation: softmax}}]}\n",
    )
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 't.csv'}:3:2" in err and "not a number" in err and "'oops'" in err


def test_guessed_column_types(tmp_path: Path) -> None:
    from dlcli.data.table_columns import infer_columns

    lines = ["id,age,city,review,photo,clip,label"]
    for i in range(25):
        lines.append(
            f"u{i},{20 + i},{['oslo', 'rome'][i % 2]},this was a fine stay number {i},"
            f"p/{i}.jpg,s/{i}.wav,{i % 2}"
        )
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    found = {c.name: c.type for c in infer_columns(tmp_path / "t.csv")}
    assert found == {
        "id": "ignore",  # every value differs: an identifier
        "age": "number",
        "city": "category",
        "review": "text",
        "photo": "image",
        "clip": "audio",
    }


def test_regression_target_and_sample_weight_columns(tmp_path: Path, capsys) -> None:
    """The label column goes to the target registry (regression here); the sample weight
    column is not a feature."""
    from dlcli.backend import keras

    rng = np.random.default_rng(2)
    lines = ["size,city,weight,price"]
    feats, prices = [], []
    for i in range(24):
        size, city = float(rng.normal()), ["oslo", "rome"][i % 2]
        price = 3 * size + (2 if city == "rome" else 0)
        lines.append(f"{size:.4f},{city},1,{price:.4f}")
        feats.append([round(size, 4), float(city == "oslo"), float(city == "rome")])
        prices.append(price)
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    recipe = recipe_file(
        tmp_path,
        "data: {kind: table, train: t.csv, label: price, target: regression, "
        "sample_weight: weight, batch_size: 8}",
        "model: {layers: [{Dense: {units: 1}}]}\ntrain: {epochs: 1, loss: mse, metrics: [mae]}\n",
    )
    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0
    labels = json.loads((run / "labels.json").read_text())
    assert [c["name"] for c in labels["columns"]] == ["size", "city"]
    assert labels["target"]["type"] == "regression"
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(tmp_path / "t.csv"), "--out", str(out)]) == 0
    got = np.asarray([float(r["price"]) for r in csv.DictReader(out.open())])
    model = keras.saving.load_model(run / "best.keras")
    np.testing.assert_allclose(
        got, np.asarray(model(np.asarray(feats, np.float32)))[:, 0], atol=1e-4
    )
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "t.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mae"] == pytest.approx(
        float(np.mean(np.abs(got - np.asarray(prices)))), rel=1e-3
    )


def test_audio_column_reads_as_soundfile_and_text_column_trains(tmp_path: Path, capsys) -> None:
    """An audio path column decodes to soundfile's samples; a text column is a string input
    whose TextVectorization adapts on the table's training rows."""
    import soundfile as sf

    from dlcli.backend import keras

    rng = np.random.default_rng(4)
    (tmp_path / "s").mkdir()
    lines = ["clip,label"]
    for i in range(8):
        wave = (0.3 * np.sin(np.arange(4000) * (0.05 + 0.1 * (i % 2)))).astype(np.float32)
        sf.write(tmp_path / "s" / f"{i}.wav", wave + rng.normal(0, 0.01, 4000), 16000, "FLOAT")
        lines.append(f"s/{i}.wav,{'ab'[i % 2]}")
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    recipe = load_recipe_text(
        "name: t\ndata: {kind: table, train: a.csv, duration: 0.25}\n"
        "model: {layers: [{Dense: {units: 2, activation: softmax}}]}\n",
        base_dir=tmp_path,
    )
    bundle = load_datasets(recipe.data, seed=0)
    assert bundle.input_shape == (4000,)
    (x, _), *_ = list(bundle.make_train_unshuffled(8))
    expected = np.stack(
        [sf.read(tmp_path / "s" / f"{i}.wav", dtype="float32")[0] for i in range(8)]
    )
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)

    words = {"a": "bright sunny warm day", "b": "dark cold rainy night"}
    rows = [f"{words['ab'[i % 2]]} number {i},{'ab'[i % 2]}" for i in range(12)]
    (tmp_path / "t.csv").write_text("review,label\n" + "\n".join(rows) + "\n")
    path = recipe_file(
        tmp_path,
        "data: {kind: table, train: t.csv}",
        "model:\n  layers:\n    - TextVectorization: {max_tokens: 40, output_mode: multi_hot,"
        " pad_to_max_tokens: true}\n"
        "    - Dense: {units: 2, activation: softmax}\ntrain: {epochs: 1}\n",
    )
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run), "--quiet"]) == 0
    assert json.loads((run / "labels.json").read_text())["columns"] == [
        {"name": "review", "type": "text"}
    ]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), str(tmp_path / "t.csv"), "--out", str(out)]) == 0
    got = [float(r["confidence"]) for r in csv.DictReader(out.open())]
    model = keras.saving.load_model(run / "best.keras")
    texts = np.asarray([r.rsplit(",", 1)[0] for r in rows], dtype=object)
    probs = np.asarray(model(texts))
    np.testing.assert_allclose(got, probs.max(axis=-1), atol=1e-5)


def test_validate_no_build_reads_a_table_recipe_without_numpy(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "t.csv").write_text("photo,city,size,clip,label\n" + "a.png,oslo,1,b.wav,x\n" * 3)
    recipe = recipe_file(tmp_path, "data: {kind: table, train: t.csv}")
    probe = (
        "import sys\nfrom dlcli.cli import main\n"
        f"code = main(['validate', '--no-build', {str(recipe)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras', 'numpy', 'pyarrow', 'soundfile'})\n"
        "print('HEAVY=' + ','.join(heavy))\nsys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "table (label column found by name" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


def test_one_missing_file_is_a_skipped_row_unless_strict(tmp_path: Path) -> None:
    table = kaggle_manifest(tmp_path, missing=1)  # 12 images and 1 missing file
    recipe = load_recipe_text(
        "name: t\ndata: {kind: table, train: train.csv}\n" + MODEL, base_dir=tmp_path
    )
    bundle = load_datasets(recipe.data, seed=0)
    assert bundle.num_train == 12
    assert [(s.path, "file not found" in s.reason) for s in bundle.skipped] == [
        (f"{table}:14", True)
    ]
    with pytest.raises(DataError) as err:
        load_datasets(recipe.data, seed=0, strict=True)
    assert err.value.problem.format().startswith(f"{table}:14:1: 1 of 13 rows name a file")
