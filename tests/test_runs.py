"""`dlcli runs`: listing real run directories written in the documented format, and --compare."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from dlcli.cli import main


def _write_run(
    folder: Path, *, name: str, lr: float, epochs: int, started: str, val_acc: list[float]
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
        },
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    with open(folder / "history.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s"]
        )
        for i, acc in enumerate(val_acc, start=1):
            writer.writerow([i, 1.0 / i, acc, 1.1 / i, acc, lr, 0.5])
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
    keys = {d["key"]: (d["a"], d["b"]) for d in payload["differences"]}
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
    text = capsys.readouterr().out
    assert "train.optimizer.args.learning_rate: 0.001 -> 0.0005" in text


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
