"""``dlcli init DATA``: the starter recipe says what the data is, and trains as written.

Oracles: the sizes, rates and counts of the files the tests generate (or of the shipped
data, read again here with Pillow, the ``wave`` module and the ``csv`` module), numpy's
median, and ``dlcli validate`` / ``dlcli train`` on the written recipe.
"""

from __future__ import annotations

import csv
import os
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dlcli.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


def _init(capsys, data: Path, out: Path, *extra: str) -> tuple[dict, str]:
    code = main(["init", str(data), "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return yaml.safe_load(out.read_text(encoding="utf-8")), captured.out


def _resolved(recipe_path: Path, value: str) -> Path:
    return (recipe_path.parent / value).resolve()


def _image_folder(root: Path, counts: dict[str, int], *, seed: int = 0, mode: str = "L") -> list:
    """Images of random sizes; returns their (height, width)."""
    rng = np.random.default_rng(seed)
    sizes = []
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            h, w = int(rng.integers(12, 40)), int(rng.integers(12, 40))
            pixels = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
            if mode == "gray-rgb":  # stored as RGB, but every pixel gray
                pixels[..., 1] = pixels[..., 2] = pixels[..., 0]
                img = Image.fromarray(pixels, mode="RGB")
            else:
                img = Image.fromarray(pixels, mode="RGB").convert(mode)
            img.save(root / cls / f"{cls}_{i}.png")
            sizes.append((h, w))
    return sizes


def test_image_folder_size_is_the_median_and_classes_are_counted(tmp_path: Path, capsys) -> None:
    counts = {"ant": 5, "bee": 3, "cat": 1}  # 9 images: the medians are whole numbers
    sizes = _image_folder(tmp_path / "pics", counts)
    out = tmp_path / "recipe.yaml"
    recipe, text = _init(capsys, tmp_path / "pics", out)
    data = recipe["data"]
    assert data["kind"] == "images"
    assert data["image_size"] == [
        int(np.median([h for h, _ in sizes])),
        int(np.median([w for _, w in sizes])),
    ]
    assert data["color_mode"] == "grayscale"
    assert data["validation_split"] == 0.2 and "validation" not in data
    assert _resolved(out, data["train"]) == (tmp_path / "pics").resolve()
    listed = {c: len(os.listdir(tmp_path / "pics" / c)) for c in counts}
    assert f"3 ({sum(listed.values())} examples)" in text
    for cls, n in listed.items():
        assert f"{cls} {n}" in text
    assert "cat" in text.split("too few examples")[1]  # one image: cannot also validate
    assert recipe["model"]["layers"][-1]["Dense"]["units"] == 3
    assert "# median of 9 sampled image sizes" in out.read_text()  # says why


@pytest.mark.parametrize(("mode", "expected"), [("gray-rgb", "grayscale"), ("RGB", "rgb")])
def test_colour_mode_from_the_pixels(tmp_path: Path, capsys, mode: str, expected: str) -> None:
    _image_folder(tmp_path / "pics", {"a": 3, "b": 3}, mode=mode)
    recipe, _ = _init(capsys, tmp_path / "pics", tmp_path / "r.yaml")
    assert recipe["data"]["color_mode"] == expected


def test_ten_to_one_imbalance_is_reported_and_weighted(tmp_path: Path, capsys) -> None:
    _image_folder(tmp_path / "pics", {"common": 20, "rare": 2})
    recipe, text = _init(capsys, tmp_path / "pics", tmp_path / "r.yaml")
    assert "imbalance" in text and "10.0:1" in text
    assert recipe["train"]["class_weight"] == "balanced"


def test_shipped_digits(tmp_path: Path, capsys) -> None:
    out = tmp_path / "digits.yaml"
    recipe, text = _init(capsys, DATA / "digits", out)
    data = recipe["data"]
    train = DATA / "digits" / "train"
    sizes = [Image.open(p).size[::-1] for p in sorted(train.glob("*/*.png"))]
    heights, widths = [s[0] for s in sizes], [s[1] for s in sizes]
    assert data["image_size"] == [int(np.median(heights)), int(np.median(widths))]
    assert data["color_mode"] == "grayscale"
    assert _resolved(out, data["train"]) == train.resolve()
    assert _resolved(out, data["validation"]) == (DATA / "digits" / "test").resolve()
    for digit in range(10):
        assert f"{digit} {len(list((train / str(digit)).glob('*.png')))}" in text
    assert main(["validate", str(out)]) == 0


def _wav(path: Path, rate: int, seconds: float, channels: int = 1) -> None:
    frames = round(rate * seconds)
    signal = (np.sin(np.arange(frames) / 5.0) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.repeat(signal, channels).tobytes())


def _covers(duration: float, seconds: list[float]) -> None:
    """``duration`` covers 95% of the clips and is the shortest 0.1 s step that does."""
    assert np.mean(np.asarray(seconds) <= duration + 1e-9) >= 0.95
    assert duration <= 0.1 + 1e-9 or np.mean(np.asarray(seconds) <= duration - 0.1) < 0.95
    assert round(duration * 10, 6) == round(duration * 10)


def test_shipped_speech(tmp_path: Path, capsys) -> None:
    out = tmp_path / "speech.yaml"
    recipe, text = _init(capsys, DATA / "speech", out)
    data = recipe["data"]
    rates, seconds = Counter(), []
    for path in sorted((DATA / "speech" / "train").glob("*/*.wav")):
        with wave.open(str(path)) as fh:
            rates[fh.getframerate()] += 1
            seconds.append(fh.getnframes() / fh.getframerate())
    assert data["kind"] == "audio"
    assert data["sample_rate"] == rates.most_common(1)[0][0]
    _covers(data["duration"], seconds)
    assert f"10 ({len(seconds)} examples)" in text
    assert main(["validate", str(out)]) == 0


def test_sound_folder_rate_and_duration(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    seconds = []
    for cls in ("yes", "no"):
        (tmp_path / "clips" / cls).mkdir(parents=True)
        for i in range(20):
            s = float(rng.uniform(0.2, 1.4))
            _wav(tmp_path / "clips" / cls / f"{i}.wav", 8000, s, channels=1 + i % 2)
            seconds.append(round(8000 * s) / 8000)
    out = tmp_path / "r.yaml"
    recipe, text = _init(capsys, tmp_path / "clips", out)
    assert recipe["data"]["sample_rate"] == 8000
    _covers(recipe["data"]["duration"], seconds)
    assert "averaged to one channel" in text  # half the files are stereo
    assert main(["validate", str(out)]) == 0


def test_shipped_fortunes_is_a_text_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fortunes.yaml"
    recipe, text = _init(capsys, DATA / "fortunes", out)
    data = recipe["data"]
    assert (data["kind"], data["text"], data["label"]) == ("text", "text", "label")
    assert _resolved(out, data["validation"]) == (DATA / "fortunes" / "test.csv").resolve()
    with open(DATA / "fortunes" / "train.csv", newline="", encoding="utf-8") as fh:
        counts = Counter(row["label"] for row in csv.DictReader(fh))
    for cls, n in counts.items():
        assert f"{cls} {n:,}" in text
    assert recipe["model"]["layers"][-1]["Dense"]["units"] == len(counts)


def test_text_class_folders(tmp_path: Path, capsys) -> None:
    words = {"spam": "buy cheap pills now", "ham": "see you at lunch tomorrow"}
    for cls, sentence in words.items():
        (tmp_path / "docs" / cls).mkdir(parents=True)
        for i in range(4):
            (tmp_path / "docs" / cls / f"{i}.txt").write_text(f"{sentence} {i}\n")
    out = tmp_path / "r.yaml"
    recipe, text = _init(capsys, tmp_path / "docs", out)
    assert recipe["data"]["kind"] == "text"
    assert "ham 4" in text and "spam 4" in text
    assert main(["validate", str(out)]) == 0


def test_shipped_wine_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "wine.yaml"
    recipe, text = _init(capsys, DATA / "wine" / "wine.csv", out)
    with open(DATA / "wine" / "wine.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    counts = Counter(r["label"] for r in rows)
    assert recipe["data"]["label"] == "label"
    assert set(recipe["data"]["columns"]) == set(rows[0]) - {"label"}
    for cls, n in counts.items():
        assert f"{cls} {n}" in text
    assert recipe["model"]["layers"][-1]["Dense"]["units"] == 3
    assert main(["validate", str(out)]) == 0


def test_numbers_in_the_label_column_are_a_regression_target(tmp_path: Path, capsys) -> None:
    out = tmp_path / "diabetes.yaml"
    recipe, text = _init(capsys, DATA / "diabetes.csv", out)
    with open(DATA / "diabetes.csv", newline="") as fh:
        header = next(csv.reader(fh))
    data = recipe["data"]
    assert data["label"] == header[-1]  # no column named label: the last one, said so
    assert "the last one is taken" in text
    assert data["target"]["type"] == "regression"
    assert recipe["model"]["layers"][-1]["Dense"]["units"] == 1
    assert "activation" not in recipe["model"]["layers"][-1]["Dense"]
    assert main(["validate", str(out)]) == 0


def test_joined_tags_are_a_multi_label_target(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    lines = ["x1,x2,tags"]
    tags = ["red", "green", "blue"]
    for _ in range(40):
        chosen = [t for t in tags if rng.random() < 0.5] or ["red"]
        lines.append(f"{rng.normal():.3f},{rng.normal():.3f},{'|'.join(chosen)}")
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.yaml"
    recipe, _ = _init(capsys, tmp_path / "t.csv", out, "--label", "tags")
    assert recipe["data"]["target"] == {"type": "multi_label", "sep": "|"}
    head = recipe["model"]["layers"][-1]["Dense"]
    assert (head["units"], head["activation"]) == (3, "sigmoid")
    assert main(["validate", str(out)]) == 0


def test_a_target_type_no_starter_drafts_is_refused() -> None:
    # Before: any name was taken, and the output layer silently fell back to classes.
    from dlcli.starter.labels import TargetGuess

    with pytest.raises(ValueError, match="'ordinal'"):
        TargetGuess("ordinal", "ranked labels")


def test_a_table_of_image_file_names(tmp_path: Path, capsys) -> None:
    """The Kaggle layout: train.csv of filename,label with the images beside it."""
    rng = np.random.default_rng(5)
    (tmp_path / "kaggle" / "images").mkdir(parents=True)
    lines, sizes = ["filename,label"], []
    for i in range(11):
        h, w = int(rng.integers(14, 30)), int(rng.integers(14, 30))
        pixels = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels, mode="RGB").save(tmp_path / "kaggle" / "images" / f"{i}.png")
        lines.append(f"images/{i}.png,{'cat' if i % 3 else 'dog'}")
        sizes.append((h, w))
    (tmp_path / "kaggle" / "train.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.yaml"
    recipe, text = _init(capsys, tmp_path / "kaggle", out)
    data = recipe["data"]
    assert (data["kind"], data["label"], data["columns"]) == (
        "table",
        "label",
        {"filename": "image"},
    )
    assert data["image_size"] == [
        int(np.median([s[0] for s in sizes])),
        int(np.median([s[1] for s in sizes])),
    ]
    assert data["color_mode"] == "rgb"
    assert "cat 7" in text and "dog 4" in text
    assert main(["validate", str(out)]) == 0


def test_a_starter_recipe_trains_one_epoch(tmp_path: Path, capsys) -> None:
    from conftest import make_image_folder

    make_image_folder(tmp_path / "shapes", per_class=4, size=16)
    out = tmp_path / "shapes.yaml"
    _init(capsys, tmp_path / "shapes", out)
    run = tmp_path / "run"
    assert main(["train", str(out), "--epochs", "1", "--out", str(run)]) == 0
    assert (run / "model.keras").is_file()
    with open(run / "history.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1


def test_user_mistakes_exit_2_and_keep_files(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path / "missing"), "--out", str(tmp_path / "r.yaml")]) == 2
    assert "data not found" in capsys.readouterr().err
    _image_folder(tmp_path / "pics", {"a": 2, "b": 2})
    existing = tmp_path / "mine.yaml"
    existing.write_text("keep me\n")
    assert main(["init", str(tmp_path / "pics"), "--out", str(existing)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert existing.read_text() == "keep me\n"
    assert main(["init", str(tmp_path / "pics"), "--out", str(tmp_path / "r.txt")]) == 2
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    args = ["init", str(tmp_path / "t.csv"), "--out", str(tmp_path / "t.yaml"), "--label", "c"]
    assert main(args) == 2
    assert "--label" in capsys.readouterr().err
    loose = tmp_path / "loose"
    loose.mkdir()
    Image.new("L", (8, 8)).save(loose / "x.png")
    assert main(["init", str(loose), "--out", str(tmp_path / "l.yaml")]) == 2
    assert "no class sub-folders" in capsys.readouterr().err
    assert (
        main(["init", str(tmp_path / "pics"), "--out", str(tmp_path / "p.yaml"), "--label", "x"])
        == 2
    )
