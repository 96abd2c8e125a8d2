"""The data-kind registry: a kind is one module.

A toy kind ("vectors": class folders of ``.vec`` text files, each holding ``length``
numbers) is defined and registered *here*, in the test module, and then trained on,
predicted with, evaluated and exported through the ordinary commands, without any engine
knowing it exists. Also: labels.json versions and legacy files, unknown kinds, the recipe
union, and the rule that kind names appear only in their own modules.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from dlcli.cli import main
from dlcli.data.kinds import (
    DataKind,
    LabelledData,
    LabelledFiles,
    Preprocessing,
    SampleInputs,
    get_kind,
    register_kind,
    unregister_kind,
)
from dlcli.data.kinds.base import class_index
from dlcli.errors import DataError, ModelLoadError, RecipeError
from dlcli.recipe import load_recipe_text
from dlcli.recipe.spec import DataSection

REPO = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------- the toy kind


class VectorData(DataSection):
    kind: Literal["vectors"] = "vectors"
    length: int


class VectorPreprocessing(Preprocessing):
    kind: Literal["vectors"] = "vectors"
    length: int


def read_vec(path: str, length: int) -> np.ndarray | str:
    """The numbers in ``path``, or why they cannot be used."""
    try:
        values = [float(v) for v in Path(path).read_text().split()]
    except (OSError, ValueError) as exc:
        return f"not a vector file ({exc})"
    if len(values) != length:
        return f"{len(values)} numbers, expected {length}"
    return np.asarray(values, np.float32)


def vec_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.vec"))


class VectorKind(DataKind):
    name = "vectors"
    section = VectorData
    preprocessing = VectorPreprocessing
    inputs = ".vec files or folders"
    input_noun = "vector files"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, VectorData)
        return f"vectors of {section.length}"

    def input_shape(self, section: DataSection) -> tuple[int | None, ...]:
        assert isinstance(section, VectorData)
        return (section.length,)

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> Any:
        from dlcli.data.bundle import ArraySplit, DataBundle

        assert isinstance(section, VectorData)
        classes = sorted(p.name for p in Path(section.train).iterdir() if p.is_dir())

        def split(root: Path) -> ArraySplit:
            xs, ys, sources = [], [], []
            for i, cls in enumerate(classes):
                for path in vec_files(root / cls):
                    xs.append(read_vec(path, section.length))
                    ys.append(i)
                    sources.append(path)
            return ArraySplit(y=np.asarray(ys, np.int64), sources=sources, x=np.stack(xs))

        return DataBundle(
            class_names=classes,
            input_shape=(section.length,),
            train=split(Path(section.train)),
            validation=split(Path(section.validation)) if section.validation else None,
            preprocessing=VectorPreprocessing(length=section.length),
            seed=seed,
            shuffle=section.shuffle,
            batch_size=section.batch_size,
        )

    def from_input_shape(self, shape: tuple[int | None, ...]) -> dict[str, Any] | None:
        return None  # never claims a bare model

    def find_inputs(self, sources: Sequence[str], recursive: bool) -> tuple[list[str], list]:
        from dlcli.data.listing import SkippedFile

        found: list[str] = []
        skipped: list[SkippedFile] = []
        for src in sources:
            p = Path(src)
            if p.is_dir():
                found += vec_files(p)
            elif p.suffix == ".vec":
                found.append(str(p))
            else:
                skipped.append(SkippedFile(str(p), "not a .vec file", ignored=True))
        return found, skipped

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[Any],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[Any]:
        from dlcli.data.decode import DecodedBatch
        from dlcli.data.listing import SkippedFile

        assert isinstance(prep, VectorPreprocessing)
        paths = [str(p) for p in paths]
        for start in range(0, len(paths), batch_size):
            good, rows, errors = [], [], []
            for path in paths[start : start + batch_size]:
                got = read_vec(path, prep.length)
                if isinstance(got, str):
                    errors.append(SkippedFile(path, got))
                else:
                    good.append(path)
                    rows.append(got)
            x = np.stack(rows) if rows else np.zeros((0, prep.length), np.float32)
            yield DecodedBatch(images=x, paths=good, errors=errors)

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        classes = sorted(p.name for p in path.iterdir() if p.is_dir())
        index = class_index(class_names, classes, path)
        label_of = {f: index[cls] for cls in classes for f in vec_files(path / cls)}
        return LabelledFiles(str(path), list(label_of), label_of)

    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        assert isinstance(prep, VectorPreprocessing) and run_data is not None
        files = vec_files(Path(sample or run_data["train"]))[:limit]
        x = np.stack([read_vec(f, prep.length) for f in files])
        return SampleInputs(x, f"{len(files)} vector(s)")

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        return {"shape": shape, "dtype": "float32", "layout": "NF", "note": "raw numbers"}


@pytest.fixture
def vectors() -> Iterator[VectorKind]:
    kind = register_kind(VectorKind())
    yield kind
    unregister_kind("vectors")


def write_vectors(root: Path, n: int, seed: int) -> None:
    """Two classes: "low" vectors near -1, "high" ones near +1."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        cls, centre = ("high", 1.0) if i % 2 else ("low", -1.0)
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        values = centre + 0.1 * rng.normal(size=4)
        (folder / f"{i:03d}.vec").write_text(" ".join(f"{v:.4f}" for v in values))


TOY_RECIPE = """\
name: toy
seed: 3
data:
  kind: vectors
  train: train
  validation: val
  length: 4
  batch_size: 8
model:
  layers:
    - Dense: {units: 2, activation: softmax, name: probs}
train:
  epochs: 2
  optimizer: {name: adam, learning_rate: 0.05}
"""


def test_a_kind_registered_in_a_test_module_trains_predicts_evaluates_and_exports(
    vectors: VectorKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dlcli.backend import keras

    write_vectors(tmp_path / "train", 32, seed=0)
    write_vectors(tmp_path / "val", 8, seed=1)
    recipe = tmp_path / "toy.yaml"
    recipe.write_text(TOY_RECIPE)
    assert main(["validate", str(recipe)]) == 0
    assert "vectors of 4" in capsys.readouterr().out

    run = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(run), "--quiet"]) == 0, capsys.readouterr()
    labels = json.loads((run / "labels.json").read_text())
    assert labels == {"class_names": ["high", "low"], "version": 1, "kind": "vectors", "length": 4}

    # predict: the toy kind lists and reads the files; compare with the model run by hand.
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.vec").write_text("0.9 1.1 1.0 0.95")
    (tmp_path / "new" / "b.vec").write_text("-1 -1 -0.9 -1.1")
    (tmp_path / "new" / "bad.vec").write_text("1 2")
    out = tmp_path / "pred.csv"
    capsys.readouterr()
    code = main(["predict", str(run), str(tmp_path / "new"), "--out", str(out)])
    assert code == 3  # one file skipped, with its reason
    assert "bad.vec" in capsys.readouterr().err
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert set(rows) == {"a.vec", "b.vec"}
    model = keras.saving.load_model(run / "best.keras")
    x = np.asarray([[0.9, 1.1, 1.0, 0.95], [-1, -1, -0.9, -1.1]], np.float32)
    probs = np.asarray(model(x))
    for name, p in zip(("a.vec", "b.vec"), probs, strict=True):
        assert rows[name]["label"] == ["high", "low"][int(np.argmax(p))]
        assert float(rows[name]["confidence"]) == pytest.approx(float(np.max(p)), abs=1e-5)

    # evaluate on the run's own validation folder, read by the toy kind.
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    val_x, val_y = [], []
    for i, cls in enumerate(["high", "low"]):
        for f in vec_files(tmp_path / "val" / cls):
            val_x.append(read_vec(f, 4))
            val_y.append(i)
    expected = float(np.mean(np.argmax(model(np.stack(val_x)), axis=-1) == np.asarray(val_y)))
    assert result["num_samples"] == 8
    assert result["accuracy"] == pytest.approx(expected)

    # export: parity samples from the toy kind, its serving input in the metadata.
    assert main(["export", str(run), "--format", "saved_model"]) == 0, capsys.readouterr()
    meta = json.loads((run / "export" / "saved_model" / "assets" / "labels.json").read_text())
    assert (meta["kind"], meta["length"], meta["version"]) == ("vectors", 4, 1)
    assert meta["input"]["layout"] == "NF"
    assert meta["parity"]["samples"] == 32
    # The export predicts like the run (its metadata names the kind again).
    capsys.readouterr()
    out2 = tmp_path / "pred2.csv"
    assert (
        main(
            [
                "predict",
                str(run / "export" / "saved_model"),
                str(tmp_path / "new" / "a.vec"),
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    row = next(csv.DictReader(out2.open()))
    assert float(row["confidence"]) == pytest.approx(float(rows["a.vec"]["confidence"]), abs=1e-5)


def test_recipe_union_includes_kinds_registered_at_run_time(vectors: VectorKind) -> None:
    recipe = load_recipe_text(
        "name: t\ndata: {kind: vectors, train: /t, length: 3}\nmodel: {layers: [Dense: 2]}\n"
    )
    assert isinstance(recipe.data, VectorData) and recipe.data.length == 3
    with pytest.raises(RecipeError) as err:
        load_recipe_text(
            "name: t\ndata: {kind: vectors, train: /t, length: 3, image_size: [2, 2]}\n"
            "model: {layers: [Dense: 2]}\n"
        )
    assert "data.image_size: unknown key 'image_size'" in err.value.format()
    from dlcli.recipe import recipe_json_schema

    options = recipe_json_schema()["properties"]["data"]["anyOf"]
    vector_schema = next(o for o in options if o.get("title") == "VectorData")
    assert vector_schema["required"] == ["kind", "length", "train"]


def test_unknown_recipe_kind_is_positioned_with_a_suggestion() -> None:
    with pytest.raises(RecipeError) as err:
        load_recipe_text(
            "name: t\ndata:\n  kind: imagez\n  train: x\nmodel: {layers: [Dense: 2]}\n"
        )
    text = err.value.format()
    assert ":3:" in text and "data.kind: unknown data kind 'imagez'" in text
    assert "did you mean 'images'" in text
    with pytest.raises(DataError, match="unknown data kind 'video'"):
        get_kind("video", error=DataError)


def test_kind_specific_keys_belong_to_their_kind_only() -> None:
    with pytest.raises(RecipeError) as err:
        load_recipe_text(
            "name: t\ndata: {kind: csv, train: t.csv, image_size: [8, 8]}\n"
            "model: {layers: [Dense: 2]}\n"
        )
    assert "data.image_size: unknown key 'image_size'" in err.value.format()
    with pytest.raises(RecipeError) as err:
        load_recipe_text("name: t\ndata: {train: d, label: y}\nmodel: {layers: [Dense: 2]}\n")
    assert "data.label: unknown key 'label'" in err.value.format()  # images is the default
    assert "allowed:" in err.value.format() and "color_mode" in err.value.format()


# ------------------------------------------------------------------------- labels.json


@pytest.fixture(scope="module")
def grey_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dlcli.backend import keras

    inp = keras.Input((8, 8, 1))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
    path = tmp_path_factory.mktemp("grey") / "model.keras"
    keras.Model(inp, out).save(path)
    return path


def run_with(tmp_path: Path, model: Path, labels: dict[str, Any]) -> Path:
    import shutil

    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    shutil.copy(model, run / "model.keras")
    (run / "labels.json").write_text(json.dumps(labels))
    return run


CURRENT = {  # what dlcli wrote before labels.json had a version
    "class_names": ["a", "b", "c"],
    "kind": "images",
    "image_size": [8, 8],
    "color_mode": "grayscale",
    "channels": 1,
    "interpolation": "bilinear",
}


def test_labels_json_without_version_is_version_1(tmp_path: Path, grey_model: Path) -> None:
    from dlcli.modeling.loading import resolve_model

    prep = resolve_model(run_with(tmp_path, grey_model, CURRENT)).preprocessing
    assert (prep.version, prep.kind, prep.image_size, prep.color_mode) == (
        1,
        "images",
        (8, 8),
        "grayscale",
    )


def test_labels_json_without_kind_is_the_first_dlcli_s_images(
    tmp_path: Path, grey_model: Path
) -> None:
    from dlcli.modeling.loading import resolve_model

    earliest = {k: v for k, v in CURRENT.items() if k != "kind"}
    prep = resolve_model(run_with(tmp_path, grey_model, earliest)).preprocessing
    assert (prep.kind, prep.image_size) == ("images", (8, 8))
    # ... and read as strictly as any: a key of another kind is refused, not dropped.
    with pytest.raises(ModelLoadError, match="unknown key 'feature_columns'"):
        resolve_model(run_with(tmp_path, grey_model, {**earliest, "feature_columns": ["x"]}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "video"}, "kind: unknown data kind 'video'"),
        ({"version": 2}, "version: unknown labels.json version 2"),
        ({"version": "1"}, "version: unknown labels.json version '1'"),
    ],
)
def test_unknown_kind_or_version_in_labels_json_exits_2_naming_it(
    tmp_path: Path,
    grey_model: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    message: str,
) -> None:
    run = run_with(tmp_path, grey_model, {**CURRENT, **change})
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8), 3).save(img)
    assert main(["predict", str(run), str(img)]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'labels.json'}: {message}" in err


def test_the_written_labels_json_reads_back_equal() -> None:
    from dlcli.data.kinds.image_kind import ImagePreprocessing
    from dlcli.data.kinds.labels import labels_json, read_preprocessing

    prep = ImagePreprocessing(image_size=(5, 7), color_mode="rgba", channels=4)
    text = json.dumps(labels_json(["x", "y"], prep))
    back = read_preprocessing(json.loads(text), Path("labels.json"))
    assert back == prep and json.loads(text)["class_names"] == ["x", "y"]


# ------------------------------------------------------------- kind names stay in their modules


def test_kind_names_appear_only_in_their_kind_modules_and_the_registry() -> None:
    allowed = {
        REPO / "dlcli" / "data" / "kinds" / "__init__.py",
        REPO / "dlcli" / "data" / "kinds" / "image_kind.py",
        REPO / "dlcli" / "data" / "kinds" / "csv_kind.py",
    }
    pattern = re.compile(r'"images"|"csv"')
    found = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in sorted((REPO / "dlcli").rglob("*.py"))
        if path not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_validate_no_build_reads_kinds_without_tensorflow_or_numpy() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\nfrom dlcli.cli import main\n"
        f"code = main(['validate', '--no-build', {str(REPO / 'recipes' / 'mlp_tabular.yaml')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'tensorflow', 'keras', 'numpy'})\n"
        "print('HEAVY=' + ','.join(heavy))\nsys.exit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "csv (label column 'label')" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.parametrize(
    ("shape", "fits"),
    [
        ((16000,), True),
        ((None,), True),  # a model that takes any length
        ((8000,), False),
        ((16000, 1), False),  # a channel axis labels.json does not describe
        ((16000, 2), False),
    ],
)
def test_audio_model_shape_checked_against_labels_json(
    tmp_path: Path, shape: tuple, fits: bool
) -> None:
    # labels.json says 1 s of mono 16 kHz: the model must take 16000 samples (or any).
    from dlcli.data.kinds import get_kind
    from dlcli.data.kinds.audio_kind import AudioPreprocessing
    from dlcli.errors import ModelLoadError

    prep = AudioPreprocessing(sample_rate=16000, samples=16000)
    source = tmp_path / "labels.json"
    if fits:
        get_kind("audio").check_model(prep, shape, source)
        return
    with pytest.raises(ModelLoadError, match=r"clips of shape \(16000,\)") as caught:
        get_kind("audio").check_model(prep, shape, source)
    assert str(source) in caught.value.format()
