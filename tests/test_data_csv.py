"""CSV datasets: parsing, class names, and errors that name file, line and column."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dlcli.data import load_datasets
from dlcli.errors import DataError

REPO = Path(__file__).resolve().parent.parent


def csv_spec(train: Path, **kw: Any) -> Any:
    fields = dict(
        kind="csv",
        train=train,
        validation=None,
        validation_split=None,
        image_size=None,
        color_mode="rgb",
        batch_size=4,
        shuffle=False,
        cache="memory",
        augment=[],
        label="label",
        features=None,
    )
    fields.update(kw)
    try:
        from dlcli.recipe import DataSpec  # type: ignore[attr-defined]
    except ImportError:
        return SimpleNamespace(**fields)
    return DataSpec(**fields)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _all(ds) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_csv_happy_path(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", "a,label,b\n1,dog,2.5\n3,cat,-4\n\n5e-1,dog,0\n")
    b = load_datasets(csv_spec(p), seed=0)
    assert b.class_names == ["cat", "dog"]
    assert b.input_shape == (2,)
    assert b.preprocessing.model_dump(mode="json") == {
        "version": 1,
        "kind": "csv",
        "feature_columns": ["a", "b"],
        "label_column": "label",
        "num_features": None,
    }
    x, y = _all(b.make_train(2))
    np.testing.assert_array_equal(x, np.array([[1, 2.5], [3, -4], [0.5, 0]], np.float32))
    np.testing.assert_array_equal(y, [1, 0, 1])


def test_integer_labels_sorted_numerically_and_feature_subset(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", "x,y,z,target\n1,2,3,10\n4,5,6,2\n7,8,9,2\n")
    b = load_datasets(csv_spec(p, label="target", features=["z", "x"]), seed=0)
    assert b.class_names == ["2", "10"]
    x, y = _all(b.make_train(8))
    np.testing.assert_array_equal(x, [[3, 1], [6, 4], [9, 7]])
    np.testing.assert_array_equal(y, [1, 0, 0])


def test_shipped_wine_matches_csv_module() -> None:
    path = REPO / "data" / "wine" / "wine.csv"
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    b = load_datasets(csv_spec(path, validation_split=0.2), seed=0)
    assert b.class_names == ["class_0", "class_1", "class_2"]
    assert b.input_shape == (13,) and b.num_train + b.num_validation == len(rows) == 178
    assert np.bincount(b.validation.y).tolist() == [12, 14, 10]  # 59/71/48 classes x 0.2
    x, y = _all(b.make_validation(64))
    for xi, yi, src in zip(x, y, b.validation.sources, strict=True):
        row = rows[int(src.rsplit(":", 1)[1]) - 2]
        assert b.class_names[yi] == row["label"]
        np.testing.assert_allclose(xi[0], float(row["alcohol"]), rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "kw", "expect"),
    [
        ("a,b\n1,2\n", {}, ["d.csv:1", "label column 'label' not found", "['a', 'b']"]),
        ("a,label\n1,x\nfoo,y\n", {}, ["d.csv:3:1", "non-numeric", "'foo'"]),
        ("a,b,label\n1,2,x\n1,,y\n", {}, ["d.csv:3:2", "missing value in column 'b'"]),
        ("a,b,label\n1,2,x\n1,NaN,y\n", {}, ["d.csv:3:2", "missing value"]),
        ("a,b,label\n1,2,x\n1,2\n", {}, ["d.csv:3", "row has 2 cells", "3 cells"]),
        ("a,label\n1,\n", {}, ["d.csv:2:2", "missing label"]),
        ("a,label\n", {}, ["no data rows"]),
        ("", {}, ["empty"]),
        ("a,label\n1,x\n", {"features": ["q"]}, ["d.csv:1", "['q']"]),
        # a repeated name would read the first column twice, silently
        ("a,a,label\n1,2,x\n3,4,y\n", {}, ["d.csv:1", "repeated column", "['a']"]),
        ("a,label\n1,1\n2,0\n", {"features": ["a", "label"]}, ["also listed as a feature"]),
    ],
)
def test_csv_errors(tmp_path: Path, text: str, kw: dict, expect: list[str]) -> None:
    p = _write(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as err:
        load_datasets(csv_spec(p, **kw), seed=0)
    for part in expect:
        assert part in str(err.value)


def test_csv_reports_every_bad_cell_and_missing_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", "a,b,label\nx,1,c\n2,y,c\n")
    with pytest.raises(DataError) as err:
        load_datasets(csv_spec(p), seed=0)
    assert [(q.line, q.column) for q in err.value.problems] == [(2, 1), (3, 2)]
    with pytest.raises(DataError, match="not found"):
        load_datasets(csv_spec(tmp_path / "none.csv"), seed=0)


def test_csv_validation_file_labels_checked(tmp_path: Path) -> None:
    tr = _write(tmp_path / "t.csv", "a,label\n1,x\n2,y\n")
    va = _write(tmp_path / "v.csv", "a,label\n1,x\n2,z\n")
    with pytest.raises(DataError, match="not seen in training"):
        load_datasets(csv_spec(tr, validation=va), seed=0)
    ok = _write(tmp_path / "v2.csv", "a,label\n3,y\n")
    b = load_datasets(csv_spec(tr, validation=ok), seed=0)
    assert b.num_validation == 1 and _all(b.make_validation())[1].tolist() == [1]
