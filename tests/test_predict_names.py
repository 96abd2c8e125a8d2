"""``predict``/``evaluate`` on hostile file names, symbolic links, missing paths, non-images.

Every file here is real, on disk; names that are not UTF-8 are made through bytes paths.
Outputs are parsed back with Python's ``csv``/``json`` modules (the oracle) and compared
with the names the test wrote. P(bright) of each row is checked against the grey level of
the file the row names (the brightness model of fixtures_images), so rows cannot be
mixed up.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures_images import bright_logit, brightness_model
from PIL import Image

HOSTILE = {
    "carriage\rreturn.png": 30,
    "new\nline.png": 60,
    "comma,name.png": 90,
    'quote"name.png': 110,
    "tab\tname.png": 150,
    "ünïcødé 名前.png": 170,
    'mixed\r\n,"\t end.png': 210,
}
NOT_UTF8 = b"\xff\xfe caf\xe9.png"  # Latin-1 bytes: not valid UTF-8


@pytest.fixture(scope="module")
def bright(tmp_path_factory) -> tuple[Path, Path]:
    return brightness_model(tmp_path_factory.mktemp("bright"))


def predict(capsys, *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    from dlcli.cli import main

    code = main(["predict", *(os.fspath(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def predict_piped(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    """A real ``dlcli predict`` with stdout and stderr as pipes, captured as bytes.

    ``PYTHONIOENCODING=utf-8`` gives stdout the strict UTF-8 of a typical ``en_US.UTF-8``
    desktop (under the C locale Python would already use ``surrogateescape``).
    """
    return subprocess.run(
        [sys.executable, "-m", "dlcli", "predict", *(os.fspath(a) for a in args)],
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONIOENCODING": "utf-8"},
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def save_grey(path: str | bytes, level: int) -> None:
    with open(path, "wb") as fh:  # bytes paths reach the file system unchanged
        Image.new("L", (16, 16), level).save(fh, format="PNG")


def read_csv_file(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        return list(csv.DictReader(fh))


def p_bright(row: dict) -> float:
    if isinstance(row["top_k"], list):
        return next(t["probability"] for t in row["top_k"] if t["label"] == "bright")
    pairs = (item.rsplit(":", 1) for item in row["top_k"].split(";"))
    return next(float(p) for label, p in pairs if label == "bright")


def assert_level(row: dict, level: int) -> None:
    p = p_bright(row)
    assert math.log(p / (1 - p)) == pytest.approx(bright_logit(level), abs=0.06), row


# --- 1: \r, \n, commas, quotes, tabs, unicode ------------------------------------------------


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    root = tmp_path / "hostile"
    root.mkdir()
    for name, level in HOSTILE.items():
        save_grey(str(root / name), level)
    (root / 'broken\r,".png').write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def test_hostile_names_round_trip_through_csv_and_jsonl(
    bright, hostile_folder: Path, tmp_path: Path, capsys
) -> None:
    model, labels = bright
    out, errors = tmp_path / "p.csv", tmp_path / "e.csv"
    code, _, err = predict(
        capsys, model, hostile_folder, "--labels", labels, "-o", out, "--errors", errors
    )
    assert code == 3, err  # the broken file
    rows = read_csv_file(out)
    assert sorted(r["path"] for r in rows) == sorted(str(hostile_folder / n) for n in HOSTILE)
    for r in rows:
        assert set(r) == {"path", "label", "confidence", "top_k", "model"}
        assert_level(r, HOSTILE[os.path.basename(r["path"])])
    skipped = read_csv_file(errors)
    assert [s["path"] for s in skipped] == [str(hostile_folder / 'broken\r,".png')]

    out = tmp_path / "p.jsonl"
    predict(capsys, model, hostile_folder, "--labels", labels, "-o", out)
    with open(out, encoding="utf-8", newline="") as fh:
        lines = fh.read().split("\n")
    assert lines[-1] == ""  # one object per line: names never break a line
    jrows = [json.loads(line) for line in lines[:-1]]
    assert sorted(r["path"] for r in jrows) == sorted(str(hostile_folder / n) for n in HOSTILE)


def test_hostile_names_on_piped_stdout(bright, hostile_folder: Path) -> None:
    model, labels = bright
    proc = predict_piped(model, hostile_folder, "--labels", labels)
    assert proc.returncode == 3, proc.stderr
    text = proc.stdout.decode("utf-8")
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    assert sorted(r["path"] for r in rows) == sorted(str(hostile_folder / n) for n in HOSTILE)
    # People see the control characters spelled out, never raw ones that garble a terminal.
    err = proc.stderr.decode("utf-8")
    assert 'broken\\r,".png' in err and "\r" not in err


# --- 2: names that are not UTF-8 -------------------------------------------------------------


@pytest.fixture
def bytes_folder(tmp_path: Path) -> Path:
    root = tmp_path / "bytes"
    root.mkdir()
    save_grey(str(root / "plain.png"), 40)
    save_grey(os.path.join(os.fsencode(root), NOT_UTF8), 220)
    with open(os.path.join(os.fsencode(root), b"\xff broken.png"), "wb") as fh:
        fh.write(b"not a picture at all")
    return root


def _bytes_paths(paths: list[str]) -> list[bytes]:
    return sorted(os.fsencode(p) for p in paths)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_non_utf8_names_written_not_lost(
    bright, bytes_folder: Path, tmp_path: Path, capsys, suffix: str
) -> None:
    model, labels = bright
    out, errors = tmp_path / f"p{suffix}", tmp_path / f"e{suffix}"
    code, _, err = predict(
        capsys, model, bytes_folder, "--labels", labels, "-o", out, "--errors", errors
    )
    assert code == 3, err
    root = os.fsencode(bytes_folder)
    if suffix == ".csv":
        rows, skipped = read_csv_file(out), read_csv_file(errors)
    else:
        out.read_bytes().decode("utf-8")  # JSON Lines stays valid UTF-8 (\udcXX escapes)
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        skipped = [json.loads(line) for line in errors.read_text("utf-8").splitlines()]
    got = _bytes_paths([r["path"] for r in rows])
    assert got == sorted([os.path.join(root, b"plain.png"), os.path.join(root, NOT_UTF8)])
    for r in rows:
        assert_level(r, 220 if os.fsencode(r["path"]).endswith(NOT_UTF8) else 40)
    assert _bytes_paths([s["path"] for s in skipped]) == [os.path.join(root, b"\xff broken.png")]
    assert "\\xff broken.png" in err  # shown escaped on the terminal


def test_non_utf8_names_on_piped_stdout(bright, bytes_folder: Path) -> None:
    model, labels = bright
    proc = predict_piped(model, bytes_folder, "--labels", labels)
    assert proc.returncode == 3, proc.stderr
    text = proc.stdout.decode("utf-8", "surrogateescape")
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    root = os.fsencode(bytes_folder)
    assert _bytes_paths([r["path"] for r in rows]) == sorted(
        [os.path.join(root, b"plain.png"), os.path.join(root, NOT_UTF8)]
    )


# --- 3: a link to itself ----------------------------------------------------------------------


def test_self_link_without_recursive_is_skipped_with_a_reason(
    bright, tmp_path: Path, capsys
) -> None:
    model, labels = bright
    root = tmp_path / "links"
    root.mkdir()
    save_grey(str(root / "ok.png"), 200)
    os.symlink("self", root / "self")
    os.symlink("loop.png", root / "loop.png")
    for flags in ((), ("--recursive",)):
        out, errors = tmp_path / "p.csv", tmp_path / "e.csv"
        outputs = ("-o", out, "--errors", errors, "--overwrite")
        code, _, err = predict(capsys, model, root, *flags, "--labels", labels, *outputs)
        assert code == 3, err
        assert [r["path"] for r in read_csv_file(out)] == [str(root / "ok.png")]
        reasons = {os.path.basename(s["path"]): s["reason"] for s in read_csv_file(errors)}
        assert set(reasons) == {"self", "loop.png"}
        assert all("symbolic links" in r for r in reasons.values()), reasons


# --- 4: a path that does not exist ------------------------------------------------------------


def test_missing_path_says_it_does_not_exist(bright, tmp_path: Path, capsys) -> None:
    model, labels = bright
    missing = tmp_path / "nope.png"
    code, out, err = predict(capsys, model, missing, "--labels", labels)
    assert code == 2
    assert "path does not exist" in err and str(missing) in err
    assert "other file" not in err and out == ""
    code, _, err = predict(capsys, model, f"{tmp_path}/*.jpg", "--labels", labels)
    assert code == 2 and "pattern matched no files" in err


# --- 5: files that are not images -------------------------------------------------------------


def test_non_image_files_listed_once_and_do_not_change_the_exit_code(
    bright, tmp_path: Path, capsys
) -> None:
    model, labels = bright
    root = tmp_path / "mixed"
    root.mkdir()
    save_grey(str(root / "a.png"), 50)
    save_grey(str(root / "b.jpg"), 200)
    (root / "README.txt").write_text("about these pictures\n")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    errors = tmp_path / "e.csv"
    code, out, err = predict(capsys, model, root, "--labels", labels, "--errors", errors)
    assert code == 0, err
    assert len(list(csv.DictReader(out.splitlines()))) == 2
    assert err.count("README.txt") == 1
    assert "README.txt: not an image (ignored)" in err
    assert ".DS_Store" not in err  # hidden files stay silent
    assert read_csv_file(errors) == [
        {"path": str(root / "README.txt"), "reason": "not an image (ignored)"}
    ]
    # A file that looks like an image and cannot be read still means exit 3.
    (root / "c.png").write_text("not really a png")
    code, _, err = predict(capsys, model, root, "--labels", labels)
    assert code == 3, err


def test_evaluate_ignores_non_image_files(bright, tmp_path: Path, capsys) -> None:
    from dlcli.cli import main

    model, labels = bright
    data = tmp_path / "data"
    for cls, levels in {"dark": (20, 60), "bright": (190, 230)}.items():
        (data / cls).mkdir(parents=True)
        for level in levels:
            save_grey(str(data / cls / f"{level}.png"), level)
    (data / "dark" / "README.txt").write_text("notes\n")
    code = main(["evaluate", str(model), "--data", str(data), "--labels", str(labels), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["num_samples"] == 4 and result["accuracy"] == 1.0
    assert result["skipped"] == []
    assert result["ignored"] == [
        {"path": str(data / "dark" / "README.txt"), "reason": "not an image (ignored)"}
    ]


def test_train_lists_non_image_files_once_and_strict_accepts_them(tmp_path: Path, capsys) -> None:
    from conftest import make_image_folder
    from train_helpers import image_data, write_recipe

    from dlcli.cli import main

    data = make_image_folder(tmp_path / "images", per_class=2)
    (data / "circle" / "README.txt").write_text("drawn by hand\n")
    (data / "square" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    recipe = write_recipe(tmp_path / "r.yaml", data=image_data(data), epochs=1)
    code = main(["train", str(recipe), "--out", str(tmp_path / "run"), "--strict"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = captured.out + captured.err
    assert text.count("README.txt") == 1
    assert f"not an image (ignored): {data / 'circle' / 'README.txt'}" in text
    assert ".DS_Store" not in text
    assert not (tmp_path / "run" / "skipped.txt").exists()  # nothing unreadable
