"""``dlcli predict``: same answers as calling the model, every awkward file handled, outputs."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from fixtures_images import (
    DIGITS,
    bright_logit,
    brightness_model,
    digits_model_path,
    make_nasty_folder,
    pil_digits,
)


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory) -> Path:
    return digits_model_path(tmp_path_factory)


@pytest.fixture(scope="module")
def bright(tmp_path_factory) -> tuple[Path, Path]:
    return brightness_model(tmp_path_factory.mktemp("bright"))


@pytest.fixture(scope="module")
def nasty(tmp_path_factory) -> tuple[Path, dict[str, int], dict[str, str]]:
    root = tmp_path_factory.mktemp("nasty") / "images"
    levels, bad = make_nasty_folder(root)
    return root, levels, bad


def predict(capsys, *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    from dlcli.cli import main

    code = main(["predict", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def top_k_pairs(cell: str) -> list[tuple[str, float]]:
    return [(lab, float(p)) for lab, p in (item.rsplit(":", 1) for item in cell.split(";"))]


def assert_rows_match_levels(rows: list[dict[str, str]], levels: dict[str, int]) -> None:
    """Each row's P(bright) is the one its own file's grey level gives (paths not mixed up)."""
    assert sorted(Path(r["path"]).name for r in rows) == sorted(levels)
    for r in rows:
        level = levels[Path(r["path"]).name]
        probs = dict(top_k_pairs(r["top_k"]))
        p = probs["bright"]
        assert math.log(p / (1 - p)) == pytest.approx(bright_logit(level), abs=0.06), r
        assert r["label"] == ("bright" if level > 128 else "dark")


# --- acceptance: the same predictions as the model called directly -------------------------


def test_digits_predictions_match_model_called_directly(
    digits_model: Path, tmp_path: Path, capsys
) -> None:
    from dlcli.backend import keras

    out = tmp_path / "preds.csv"
    code, _, err = predict(capsys, digits_model, DIGITS / "test", "--recursive", "--out", out)
    assert code == 0, err
    rows = read_csv_rows(out.read_text())

    # Oracle: pixels read with Pillow + NumPy, the model called on them directly.
    paths, x, _ = pil_digits(DIGITS / "test")
    model = keras.saving.load_model(digits_model)
    probs = np.concatenate([np.asarray(model(x[i : i + 100])) for i in range(0, len(x), 100)])
    assert [r["path"] for r in rows] == [str(p) for p in paths]  # each file once, in order
    np.testing.assert_array_equal([int(r["label"]) for r in rows], probs.argmax(axis=1))
    np.testing.assert_allclose([float(r["confidence"]) for r in rows], probs.max(axis=1), atol=2e-6)
    for row, p in zip(rows, probs, strict=True):
        pairs = top_k_pairs(row["top_k"])
        assert [int(lab) for lab, _ in pairs] == list(np.argsort(-p, kind="stable")[:3])
        np.testing.assert_allclose([v for _, v in pairs], np.sort(p)[::-1][:3], atol=2e-6)

    # --labels names the classes of a plain Keras model (in output order).
    names = [f"digit-{i}" for i in range(10)]
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(names) + "\n")
    out = tmp_path / "preds.jsonl"
    code, _, err = predict(
        capsys, digits_model, DIGITS / "test", "-r", "--labels", labels, "-o", out, "-k", "1"
    )
    assert code == 0, err
    named = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["label"] for r in named] == [names[i] for i in probs.argmax(axis=1)]
    assert all(len(r["top_k"]) == 1 for r in named)


# --- the nasty folder ----------------------------------------------------------------------


def test_nasty_folder_good_files_predicted_bad_files_listed(
    bright, nasty, tmp_path: Path, capsys
) -> None:
    model, labels = bright
    root, levels, bad = nasty
    out, errors = tmp_path / "p.csv", tmp_path / "skipped.jsonl"
    code, _, err = predict(
        capsys, model, root, "--labels", labels, "--out", out, "--errors", errors
    )
    assert code == 3, err
    rows = read_csv_rows(out.read_text())
    assert_rows_match_levels(rows, levels)

    skipped = [json.loads(line) for line in errors.read_text().splitlines()]
    reasons = {Path(s["path"]).name: s["reason"] for s in skipped}
    assert set(reasons) == set(bad)  # hidden files are not listed, bad ones all are
    for name, word in bad.items():
        assert word in reasons[name], (name, reasons[name])
        assert name in err and reasons[name] in err  # also on the terminal, with the reason


def test_strict_exit_1_and_clean_input_exit_0(bright, nasty, tmp_path: Path, capsys) -> None:
    model, labels = bright
    root, levels, _ = nasty
    code, _, _ = predict(
        capsys, model, root, "--labels", labels, "--strict", "-o", tmp_path / "a.csv"
    )
    assert code == 1
    good = [root / name for name in sorted(levels)]
    code, _, err = predict(capsys, model, *good, "--labels", labels, "-o", tmp_path / "b.csv")
    assert code == 0, err
    assert "skipped" not in err


def test_jsonl_output_and_top_k(bright, nasty, tmp_path: Path, capsys) -> None:
    model, labels = bright
    root, levels, _ = nasty
    out = tmp_path / "p.jsonl"
    code, _, err = predict(capsys, model, root, "--labels", labels, "-o", out, "-k", "5")
    assert code == 3, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    as_csv = [
        {
            "path": r["path"],
            "label": r["label"],
            "top_k": ";".join(f"{t['label']}:{t['probability']}" for t in r["top_k"]),
        }
        for r in rows
    ]
    assert_rows_match_levels(as_csv, levels)
    for r in rows:
        assert set(r) == {"path", "label", "confidence", "top_k", "model"}
        assert r["model"] == str(model)
        probs = [t["probability"] for t in r["top_k"]]
        assert len(probs) == 2  # capped at the number of classes
        assert probs == sorted(probs, reverse=True)
        assert r["top_k"][0] == {"label": r["label"], "probability": r["confidence"]}


def test_logits_model_gets_softmax(tmp_path: Path, nasty, capsys) -> None:
    model, labels = brightness_model(tmp_path, units="logits")
    root, levels, _ = nasty
    out = tmp_path / "p.csv"
    predict(capsys, model, root, "--labels", labels, "-o", out)
    assert_rows_match_levels(read_csv_rows(out.read_text()), levels)


# --- sources -------------------------------------------------------------------------------


def test_files_folders_globs_and_recursion(bright, tmp_path: Path, capsys) -> None:
    from PIL import Image

    model, labels = bright
    root = tmp_path / "src"
    for rel, level in {
        "a.png": 40,
        "b.jpg": 200,
        "c.bmp": 60,
        "sub/d.png": 220,
        "sub/deeper/e.png": 20,
        ".hidden/f.png": 250,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (16, 16), level).save(root / rel)

    def names(*sources: object, flags: tuple[str, ...] = ()) -> tuple[list[str], str]:
        out = tmp_path / "p.csv"
        code, _, err = predict(
            capsys, model, *sources, *flags, "--labels", labels, "-o", out, "--overwrite"
        )
        assert code == 0, err
        return [os.path.relpath(r["path"], root) for r in read_csv_rows(out.read_text())], err

    got, err = names(root)
    assert got == ["a.png", "b.jpg", "c.bmp"]
    assert "--recursive" in err  # the sub-folder that was not searched is mentioned
    got, _ = names(root, flags=("--recursive",))
    assert got == ["a.png", "b.jpg", "c.bmp", "sub/d.png", "sub/deeper/e.png"]
    got, _ = names(root / "c.bmp", f"{root}/*.png", root / "sub", f"{root}/a.png")
    assert got == ["c.bmp", "a.png", "sub/d.png"]  # mixed freely, no duplicates
    got, _ = names(f"{root}/**/*.png", flags=("-r",))
    assert got == ["a.png", "sub/d.png", "sub/deeper/e.png"]


def test_no_images_is_a_usage_error(bright, tmp_path: Path, capsys) -> None:
    model, labels = bright
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hi")
    code, _, err = predict(capsys, model, tmp_path / "docs", "--labels", labels)
    assert code == 2
    assert "no image files" in err


# --- files and flags -----------------------------------------------------------------------


def test_existing_out_refused_before_any_work(tmp_path: Path, capsys, bright, nasty) -> None:
    out = tmp_path / "preds.csv"
    out.write_text("precious\n")
    # The model does not even exist: the --out check must come first.
    code, _, err = predict(capsys, tmp_path / "missing.keras", tmp_path, "--out", out)
    assert code == 2
    assert "exists" in err and "--overwrite" in err
    assert out.read_text() == "precious\n"

    model, labels = bright
    root, levels, _ = nasty
    code, _, _ = predict(capsys, model, root, "--labels", labels, "-o", out, "--overwrite")
    assert code == 3
    assert len(read_csv_rows(out.read_text())) == len(levels)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".preds.csv")]  # no temp left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--link"], "--sort-into"),
        (["--out", "preds.txt"], ".csv or .jsonl"),
        (["--top-k", "0"], "top-k"),
    ],
)
def test_bad_flags(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code, out, err = predict(capsys, tmp_path / "m.keras", tmp_path, *args)
    assert code == 2
    assert message in out + err


def test_sort_into_copies_never_overwrites_and_links(bright, nasty, tmp_path: Path, capsys) -> None:
    model, labels = bright
    root, levels, _ = nasty
    expected = {name: "bright" if level > 128 else "dark" for name, level in levels.items()}
    dest = tmp_path / "sorted"
    (dest / "dark").mkdir(parents=True)
    (dest / "dark" / "gray.png").write_bytes(b"already here")
    code, _, err = predict(
        capsys, model, root, "--labels", labels, "-o", tmp_path / "a.csv", "--sort-into", dest
    )
    assert code == 3, err
    assert (dest / "dark" / "gray.png").read_bytes() == b"already here"
    for name, label in expected.items():
        placed = dest / label / (name if name != "gray.png" else "gray_1.png")
        assert placed.read_bytes() == (root / name).read_bytes()
        assert not placed.is_symlink() and os.stat(placed).st_ino != os.stat(root / name).st_ino
    assert "copied" in err

    # Second run with --link: the names are taken, so _1/_2 suffixes; hard links to originals.
    code, _, err = predict(
        capsys,
        *(model, root, "--labels", labels, "-o", tmp_path / "b.csv"),
        *("--sort-into", dest, "--link"),
    )
    assert code == 3
    linked = dest / "bright" / "rgb_1.jpg"
    assert os.stat(linked).st_ino == os.stat(root / "rgb.jpg").st_ino
    assert (dest / "dark" / "gray_2.png").exists()
    assert "hard-linked" in err
    counts = {label: len(list((dest / label).iterdir())) for label in ("dark", "bright")}
    n_dark = sum(1 for v in expected.values() if v == "dark")
    assert counts == {"dark": 2 * n_dark + 1, "bright": 2 * (len(expected) - n_dark)}
    assert not list(dest.rglob(".*"))  # no temporary files left


# --- terminals and pipes (real subprocesses) -----------------------------------------------


def test_piped_stdout_is_csv(run_dlcli, bright, nasty) -> None:
    """stdout is a pipe: CSV on stdout, plain progress/skipped/summary on stderr."""
    model, labels = bright
    root, levels, bad = nasty
    proc = run_dlcli("predict", str(model), str(root), "--labels", str(labels))
    assert proc.returncode == 3, proc.stderr
    rows = read_csv_rows(proc.stdout)
    assert list(rows[0]) == ["path", "label", "confidence", "top_k", "model"]
    assert {r["model"] for r in rows} == {str(model)}
    assert_rows_match_levels(rows, levels)
    for text in (proc.stdout, proc.stderr):
        assert "\r" not in text and "\x1b[" not in text
    for name in bad:
        assert name in proc.stderr
    assert "img/s" in proc.stderr


def test_terminal_gets_a_table_and_live_progress(bright, nasty, tmp_path: Path) -> None:
    """stdout and stderr are a terminal (a pty): a Rich table and a progress bar with rate/ETA."""
    import pty
    import subprocess
    import sys

    model, labels = bright
    root, levels, _ = nasty
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlcli", "predict", str(model), str(root), "--labels", str(labels)],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=tmp_path,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 3
    text = b"".join(chunks).decode("utf-8", "replace")
    assert "predictions in" in text and "confidence" in text and "┃" in text
    for name in levels:
        assert name in text
    assert "ETA" in text and "img/s" in text
    assert "path,label,confidence" not in text  # no CSV in a terminal


# --- streaming: bounded look-ahead, flat memory --------------------------------------------


def test_engine_streams_with_bounded_lookahead(bright, tmp_path: Path) -> None:
    """Paths are pulled lazily: the first results come out long before the input ends."""
    from PIL import Image

    from dlcli.modeling.loading import resolve_model
    from dlcli.prediction import iter_predictions

    model, labels = bright
    img = tmp_path / "one.png"
    Image.new("L", (16, 16), 200).save(img)
    pulled = 0

    def paths():
        nonlocal pulled
        for _ in range(400):
            pulled += 1
            yield str(img)

    loaded = resolve_model(model, labels=labels)
    batches = iter_predictions(loaded, paths(), batch_size=8, workers=2)
    first = next(batches)
    assert len(first.predictions) == 8
    assert pulled <= 8 * 5  # at most 2 * workers batches decoded ahead, plus the one yielded
    rest = sum(len(b.predictions) for b in batches)
    assert 8 + rest == pulled == 400


def test_memory_flat_in_the_number_of_images(tmp_path: Path, capsys) -> None:
    """Traced peak memory of a 2,400-file run is within a few MB of a 400-file run.

    Each image is decoded to 64x64x3 float32 (48 KiB): keeping them all would add over
    90 MB; streaming keeps a few batches. (Process RSS, TF included: bench/predict_throughput.py.)
    """
    import tracemalloc

    from PIL import Image

    from dlcli.backend import keras
    from dlcli.cli import main

    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model_path = tmp_path / "wide.keras"
    model.save(model_path)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(png, format="PNG")
    folders = {"small": 400, "large": 2400}
    for name, count in folders.items():
        (tmp_path / name).mkdir()
        for i in range(count):
            (tmp_path / name / f"{i:05d}.png").write_bytes(png.getvalue())

    peaks = {}
    for name, count in folders.items():
        out = tmp_path / f"{name}.csv"
        tracemalloc.start()
        try:
            code = main(["predict", str(model_path), str(tmp_path / name), "-o", str(out)])
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        capsys.readouterr()
        assert code == 0
        assert len(read_csv_rows(out.read_text())) == count
    growth_mb = (peaks["large"] - peaks["small"]) / 2**20
    assert growth_mb < 8, peaks


def test_error_at_stream_start_leaves_stdout_empty(bright, nasty, tmp_path: Path, capsys) -> None:
    """A --labels file that does not fit the model fails with exit 2 and no CSV header."""
    model, labels = bright
    root, _, _ = nasty
    wrong = tmp_path / "wrong.txt"
    names = labels.read_text().split()
    wrong.write_text("\n".join([*names, "extra"]) + "\n")
    code, out, err = predict(capsys, model, root, "--labels", wrong)
    assert code == 2 and "class names" in err
    assert out == ""
