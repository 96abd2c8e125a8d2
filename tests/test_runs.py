"""`dlcli runs`: listing real run directories written in the documented format, and --compare."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import yaml

from dlcli.cli import main


def _write_run(
    folder: Path,
    *,
    name: str,
    lr: float,
    epochs: int,
    started: str,
    val_acc: list[float],
    loss_scale: float = 1.0,
    train_extra: dict | None = None,
) -> Path:
    folder.mkdir(parents=True)
    recipe = {
        "name": name,
        "seed": 1,
        "model": {"input": [8, 8, 1], "layers": [{"type": "Dense", "args": {"units": 4}}]},
        "train": {
            "epochs": epochs,
            "optimizer": {"name": "adam", "args": {"learning_rate": lr}},
            "metrics": ["accuracy"],
            **(train_extra or {}),
        },
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    with open(folder / "history.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s"]
        )
        for i, acc in enumerate(val_acc, start=1):
            writer.writerow([i, loss_scale / i, acc, 1.1 * loss_scale / i, acc, lr, 0.5])
    metrics = {
        "final": {
            "loss": 0.5,
            "accuracy": val_acc[-1],
            "val_loss": 0.6,
            "val_accuracy": val_acc[-1],
        },
        "best": {"monitor": "val_loss", "value": 0.55, "epoch": len(val_acc)},
        "epochs_run": len(val_acc),
        "epochs_planned": epochs,
        "wall_time_s": 3.0,
        "samples_per_s": 1234.5,
        "versions": {"python": "3.12"},
        "device": "cpu",
        "replicas": 1,
        "started": started,
        "finished": started,
        "name": name,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def _two_runs(root: Path) -> tuple[Path, Path]:
    a = _write_run(
        root / "a",
        name="a",
        lr=0.001,
        epochs=3,
        started="2026-01-01T10:00:00+00:00",
        val_acc=[0.5, 0.6, 0.7],
    )
    b = _write_run(
        root / "group" / "b",
        name="b",
        lr=0.0005,
        epochs=5,
        started="2026-01-02T10:00:00+00:00",
        val_acc=[0.4, 0.8],
    )
    return a, b


def test_runs_json_lists_runs_newest_first_with_values(tmp_path: Path, capsys) -> None:
    a, _b = _two_runs(tmp_path / "runs")
    broken = tmp_path / "runs" / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    partial = tmp_path / "runs" / "partial"
    partial.mkdir()
    (partial / "recipe.yaml").write_text("train: {epochs: 7}\n")
    (a / "checkpoints").mkdir()
    (a / "checkpoints" / "metrics.json").write_text("{}")  # inside a run: not a run

    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_path = {Path(r["path"]).name: r for r in rows}
    assert set(by_path) == {"a", "b", "broken", "partial"}
    order = [Path(r["path"]).name for r in rows if Path(r["path"]).name in ("a", "b")]
    assert order == ["b", "a"]  # started 2 Jan before 1 Jan (the others date from their mtime)
    assert by_path["a"]["epochs_run"] == 3 and by_path["a"]["epochs_planned"] == 3
    assert by_path["b"]["epochs_run"] == 2 and by_path["b"]["epochs_planned"] == 5
    assert by_path["b"]["final_val_accuracy"] == 0.8
    assert by_path["a"]["samples_per_s"] == 1234.5
    assert by_path["a"]["best_monitor"] == "val_loss" and by_path["a"]["best_value"] == 0.55
    assert by_path["broken"]["status"] == "broken"
    assert by_path["partial"]["status"] == "incomplete"
    assert by_path["partial"]["epochs_planned"] == 7


def test_runs_plain_table_has_no_ansi(tmp_path: Path, run_dlcli) -> None:
    _two_runs(tmp_path / "runs")
    proc = run_dlcli("runs")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout and "\r" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[0].split("\t")[0] == "name"
    assert lines[1].split("\t")[0] == "group/b" and lines[2].split("\t")[0] == "a"
    assert "2/5" in lines[1]


def test_runs_missing_dir_is_user_error(tmp_path: Path) -> None:
    assert main(["runs", str(tmp_path / "nope")]) == 2


def test_compare_lists_exactly_the_differing_keys(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    a, b = _two_runs(tmp_path / "runs")
    out = tmp_path / "compare.png"
    assert main(["runs", "--compare", str(a), str(b), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    keys = {d["key"]: tuple(d["values"]) for d in payload["differences"]}
    assert keys == {
        "name": ("a", "b"),
        "train.epochs": (3, 5),
        "train.optimizer.args.learning_rate": (0.001, 0.0005),
    }
    pixels = np.asarray(Image.open(out).convert("L"), dtype=float)
    assert pixels.var() > 0
    # Refuses to replace the picture without --overwrite.
    assert main(["runs", "--compare", str(a), str(b), "--out", str(out)]) == 2
    assert main(["runs", "--compare", str(a), str(b), "--out", str(out), "--overwrite"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out), delimiter="\t"))
    assert [r["train.optimizer.args.learning_rate"] for r in rows] == ["0.001", "0.0005"]


def test_diff_reports_keys_present_on_one_side_only() -> None:
    from dlcli.viz.runs import diff_recipes

    left = {"train": {"early_stopping": None, "metrics": ["accuracy"]}}
    right = {"train": {"metrics": ["accuracy", "top_k"]}}
    diffs = {d.key: d for d in diff_recipes(left, right)}
    assert set(diffs) == {"train.early_stopping", "train.metrics[1]"}
    assert diffs["train.early_stopping"].right_present is False
    assert diffs["train.metrics[1]"].left_present is False
    assert diffs["train.metrics[1]"].format() == 'train.metrics[1]: (absent) -> "top_k"'


def test_compare_out_with_unknown_picture_format_is_user_error(tmp_path: Path, capsys) -> None:
    a, b = _two_runs(tmp_path / "runs")
    out = tmp_path / "compare.txt"
    assert main(["runs", "--compare", str(a), str(b), "--out", str(out)]) == 2
    assert ".png" in capsys.readouterr().err and not out.exists()


# -- comparing any number of runs (issue 11) ----------------------------------------------

# Matplotlib's default colour cycle: run i is drawn (curves and legend) in colour i.
_TAB10 = [(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C), (0xD6, 0x27, 0x28)]


def _three_runs(root: Path) -> tuple[list[Path], dict[str, list]]:
    """Three runs and, by hand, the recipe keys that differ and each run's value."""
    a = _write_run(
        root / "sweep" / "20260101-100000", name="digits", lr=0.001, epochs=3,
        started="2026-01-01T10:00:00+00:00", val_acc=[0.5, 0.6, 0.7],
    )  # fmt: skip
    b = _write_run(
        root / "sweep" / "20260102-100000", name="digits", lr=0.0005, epochs=3,
        started="2026-01-02T10:00:00+00:00", val_acc=[0.4, 0.8, 0.81], loss_scale=2.0,
    )  # fmt: skip
    c = _write_run(
        root / "sweep" / "20260103-100000", name="digits", lr=0.002, epochs=4,
        started="2026-01-03T10:00:00+00:00", val_acc=[0.3, 0.35, 0.9], loss_scale=3.0,
        train_extra={"loss": "categorical_crossentropy"},
    )  # fmt: skip
    changed = {
        "train.epochs": [3, 3, 4],
        "train.optimizer.args.learning_rate": [0.001, 0.0005, 0.002],
        "train.loss": [None, None, "categorical_crossentropy"],
    }
    return [a, b, c], changed


def _colour_present(pixels, rgb: tuple[int, int, int]) -> bool:
    import numpy as np

    return bool(np.all(pixels == np.array(rgb, dtype=pixels.dtype), axis=-1).any())


def test_compare_three_runs_json_and_plot(tmp_path: Path, capsys) -> None:
    import numpy as np
    from PIL import Image

    runs, changed = _three_runs(tmp_path / "runs")
    out = tmp_path / "compare.png"
    args = ["runs", "--compare", *map(str, runs), "--out", str(out), "--json"]
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]) for r in payload["runs"]] == runs  # none silently dropped
    assert {d["key"]: d["values"] for d in payload["differences"]} == changed
    loss = next(d for d in payload["differences"] if d["key"] == "train.loss")
    assert loss["present"] == [False, False, True]
    assert [r["final"]["val_accuracy"] for r in payload["runs"]] == [0.7, 0.81, 0.9]
    assert payload["plot"] == str(out)
    # One colour per run (curves and the legend that names them), and no fourth.
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert [_colour_present(pixels, rgb) for rgb in _TAB10] == [True, True, True, False]


def test_compare_svg_legend_names_every_run(tmp_path: Path, capsys) -> None:
    import re

    runs, _ = _three_runs(tmp_path / "runs")
    out = tmp_path / "compare.svg"
    assert main(["runs", "--compare", *map(str, runs), "--out", str(out)]) == 0
    svg = out.read_text()
    texts = re.findall(r"<!-- (.*?) -->", svg)  # matplotlib writes each text as a comment
    for run in runs:  # the label, then what sets the run apart
        assert sum(t.startswith(f"{run.name}: ") for t in texts) == 1
    strokes = {m.lower() for m in re.findall(r"stroke: (#[0-9a-fA-F]{6})", svg)}
    assert {"#1f77b4", "#ff7f0e", "#2ca02c"} <= strokes and "#d62728" not in strokes


def test_compare_plain_table_has_a_row_per_run_and_a_column_per_changed_key(
    tmp_path: Path, capsys
) -> None:
    runs, changed = _three_runs(tmp_path / "runs")
    assert main(["runs", "--compare", *map(str, runs)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out), delimiter="\t"))
    assert [r["run"] for r in rows] == [p.name for p in runs]
    assert [Path(r["path"]) for r in rows] == runs
    for key, values in changed.items():
        expected = ["-" if v is None else str(v) for v in values]
        assert [r[key] for r in rows] == expected
    assert "seed" not in rows[0] and "train.metrics[0]" not in rows[0]  # same in every run
    assert [r["val_accuracy"] for r in rows] == ["0.7", "0.81", "0.9"]


def _terminal(monkeypatch, width: int) -> io.StringIO:
    """Route the command's console to a terminal of ``width`` columns; return its text."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width, color_system=None)
    monkeypatch.setattr("dlcli.console.make_console", lambda **_: console)
    return buf


def test_compare_terminal_table_stays_readable_at_80_columns(tmp_path: Path, monkeypatch) -> None:
    runs = []
    for i, lr in enumerate([0.001, 0.0005, 0.002, 0.003, 0.0001, 0.0002], start=1):
        run = _write_run(
            tmp_path / "runs" / f"lr-sweep-2026-01-0{i}-lr{lr}", name="digits", lr=lr,
            epochs=3 + i, started=f"2026-01-0{i}T10:00:00+00:00", val_acc=[0.5, 0.6 + i / 100],
        )  # fmt: skip
        runs.append(run)
    buf = _terminal(monkeypatch, 80)
    assert main(["runs", "--compare", str(tmp_path / "runs")]) == 0  # a folder of runs
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert "…" not in text and "..." not in text
    for i, run in enumerate(runs, start=1):
        rows = [line for line in lines if line.strip().startswith(run.name + " ")]
        assert rows, f"{run.name} has no row of its own"
        row = " ".join(rows)
        lr = yaml.safe_load((run / "recipe.yaml").read_text())["train"]["optimizer"]["args"]
        assert f" {lr['learning_rate']} " in f" {row} "
        assert f" {3 + i} " in f" {row} "  # train.epochs
        assert f"{0.6 + i / 100:.4g}" in row  # final val accuracy
    assert "learning_rate" in text and "train.epochs" in text


def test_compare_needs_two_runs(tmp_path: Path, capsys) -> None:
    a, _b = _two_runs(tmp_path / "runs")
    assert main(["runs", "--compare", str(a)]) == 2
    assert "at least two runs" in capsys.readouterr().err
    assert main(["runs", "--compare", str(a), str(a)]) == 2
    assert main(["runs", str(a), str(_b)]) == 2  # a listing takes one folder


def test_compare_labels_tell_same_named_folders_apart(tmp_path: Path, capsys) -> None:
    x = _write_run(
        tmp_path / "x" / "seed1", name="x", lr=0.1, epochs=1,
        started="2026-01-01T10:00:00+00:00", val_acc=[0.5],
    )  # fmt: skip
    y = _write_run(
        tmp_path / "y" / "seed1", name="y", lr=0.2, epochs=1,
        started="2026-01-01T10:00:00+00:00", val_acc=[0.5],
    )  # fmt: skip
    assert main(["runs", "--compare", str(x), str(y), "--json"]) == 0
    labels = [r["label"] for r in json.loads(capsys.readouterr().out)["runs"]]
    assert labels == ["x/seed1", "y/seed1"]


# -- the list at 80 columns (issue 11) -------------------------------------------------------


def test_list_at_80_columns_keeps_every_run_folder_name_whole(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "runs"
    stamps = ["20260126-104512", "20260126-111533", "20260127-090001"]
    for i, stamp in enumerate(stamps):
        _write_run(
            root / "digits_small_cnn" / stamp, name="digits_small_cnn", lr=0.001, epochs=5,
            started=f"2026-01-2{6 + i}T10:00:00+00:00", val_acc=[0.5, 0.7],
        )  # fmt: skip
    buf = _terminal(monkeypatch, 80)
    assert main(["runs", str(root)]) == 0
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if "digits_small_cnn/" in line]
    assert len(rows) == 3
    # The part that tells runs apart is there in full, with the folder it is in.
    for stamp in stamps:
        assert sum(f"digits_small_cnn/{stamp}" in row for row in rows) == 1
    assert len({row.split()[0] for row in rows}) == 3
    assert "2/5" in rows[0]  # epochs survive the narrowing


# -- compare.png says what differs (issue 18) -----------------------------------------------


def test_compare_picture_says_what_differs_in_each_run(tmp_path: Path, monkeypatch) -> None:
    from figure_capture import capture_figures, overlap, render

    saved = capture_figures(monkeypatch)
    runs, changed = _three_runs(tmp_path / "runs")
    out = tmp_path / "compare.png"
    assert main(["runs", "--compare", *map(str, runs), "--out", str(out), "--json"]) == 0
    (fig,) = saved
    (legend,) = fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    for i, run in enumerate(runs):  # each run's values of the keys written by hand above
        (entry,) = [e for e in entries if e.startswith(f"{run.name}: ")]
        lr = changed["train.optimizer.args.learning_rate"][i]
        assert f"learning_rate={lr}" in entry
        assert f"epochs={changed['train.epochs'][i]}" in entry
        loss = changed["train.loss"][i]
        assert f"loss={'(unset)' if loss is None else loss}" in entry
    title = legend.get_title().get_text()
    assert title.startswith("recipes differ in: ")
    assert set(title.removeprefix("recipes differ in: ").split(", ")) == set(changed)
    renderer = render(fig)
    box = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0
    for ax in fig.axes:
        if ax.get_visible():
            assert not overlap(box, ax.get_tightbbox(renderer))


def test_compare_picture_of_identical_recipes_says_so(tmp_path: Path, monkeypatch) -> None:
    from figure_capture import capture_figures

    saved = capture_figures(monkeypatch)
    a = _write_run(
        tmp_path / "runs" / "one", name="same", lr=0.01, epochs=2,
        started="2026-01-01T10:00:00+00:00", val_acc=[0.5, 0.6],
    )  # fmt: skip
    b = _write_run(
        tmp_path / "runs" / "two", name="same", lr=0.01, epochs=2,
        started="2026-01-02T10:00:00+00:00", val_acc=[0.4, 0.7],
    )  # fmt: skip
    out = tmp_path / "c.png"
    assert main(["runs", "--compare", str(a), str(b), "--out", str(out), "--json"]) == 0
    (legend,) = saved[0].legends
    assert legend.get_title().get_text().startswith("recipes identical")


# -- the list shows each run's path (issue 18) ------------------------------------------------


def _path_cells(lines: list[str], stamps: list[str]) -> dict[str, str]:
    """The path column's cell of each run's row, cut at the column's start in the header."""
    (header,) = [line for line in lines if line.rstrip().endswith(" path")]
    start = header.rindex(" path") + 1
    cells = {}
    for stamp in stamps:
        (row,) = [line for line in lines if f"digits/{stamp}" in line[:start]]
        cells[stamp] = row[start:].strip()
    return cells


def test_list_shows_the_path_whole_when_wide_and_shortened_when_narrow(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stamps = ["20260126-104512", "20260126-111533", "20260127-090001"]
    for i, stamp in enumerate(stamps):
        _write_run(
            tmp_path / "runs" / "digits" / stamp, name="digits", lr=0.001, epochs=5,
            started=f"2026-01-2{6 + i}T10:00:00+00:00", val_acc=[0.5, 0.7],
        )  # fmt: skip
    buf = _terminal(monkeypatch, 200)
    assert main(["runs", "runs"]) == 0
    lines = buf.getvalue().splitlines()
    cells = _path_cells(lines, stamps)
    assert cells == {s: f"runs/digits/{s}" for s in stamps}  # whole, as given
    buf = _terminal(monkeypatch, 80)
    assert main(["runs", "runs"]) == 0
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    for stamp, cell in _path_cells(lines, stamps).items():
        assert cell.endswith(f"/{stamp}") and "…" in cell, cell  # the end: which run
        assert cell.startswith(("runs/…/", "…/")), cell
    assert "2/5" in "\n".join(lines)  # epochs still there


def test_list_path_of_a_deep_absolute_folder_fits_80_columns(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "a" / "rather" / "deep" / "folder" / "of" / "experiments" / "runs"
    stamps = ["20260126-104512", "20260127-090001"]
    for i, stamp in enumerate(stamps):
        _write_run(
            root / "digits" / stamp, name="digits", lr=0.001, epochs=5,
            started=f"2026-01-2{6 + i}T10:00:00+00:00", val_acc=[0.5, 0.7],
        )  # fmt: skip
    buf = _terminal(monkeypatch, 80)
    assert main(["runs", str(root)]) == 0
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    for stamp, cell in _path_cells(lines, stamps).items():
        assert cell.endswith(f"/{stamp}") and len(cell) >= 18, cell
        assert str(root / "digits" / stamp).endswith(cell.split("…", 1)[1])
