"""``dlcli tune``'s output: a live Rich table in a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from dlcli.render.tune_output import TuneRenderer
from dlcli.tuning.events import StudyOpened, TrialEnded, TrialEpoch, TrialRow, TrialStarted
from dlcli.tuning.space import read_space, recipe_values

KEYS = ("train.optimizer.learning_rate", "model.layers[1].Dense.units")


def _events() -> list:
    first = TrialRow(0, "running", {KEYS[0]: 0.01, KEYS[1]: 8}, None)
    done = TrialRow(0, "complete", {KEYS[0]: 0.01, KEYS[1]: 8}, 0.25, epochs=2)
    second = TrialRow(1, "running", {KEYS[0]: 0.5, KEYS[1]: 4}, None)
    pruned = TrialRow(1, "pruned", {KEYS[0]: 0.5, KEYS[1]: 4}, 0.9, 1, "pruned after epoch 1")
    return [
        StudyOpened("s", "sqlite:///x.db", Path("tunes/s"), "val_loss", "minimize", 4, 0, KEYS),
        TrialStarted(first),
        TrialEpoch(0, 1, 2, 0.5),
        TrialEpoch(0, 2, 2, 0.25),
        TrialEnded(done, done),
        TrialStarted(second),
        TrialEpoch(1, 1, 2, 0.9),
        TrialEnded(pruned, done),
    ]


def _render(terminal: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=160, color_system=None)
    renderer = TuneRenderer(console, live=terminal)
    for event in _events():
        renderer(event)
    renderer.close()
    return buffer.getvalue()


def test_plain_output_is_one_line_per_event_without_control_codes() -> None:
    text = _render(terminal=False)
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].startswith("study s in sqlite:///x.db: 0 of 4 trials finished")
    assert "trial 0 epoch 2/2: val_loss=0.25" in lines
    assert "trial 1 pruned: val_loss=0.9 (pruned after epoch 1); best: trial 0 0.25" in lines
    assert len(lines) == 8  # the opening line and 7 trial events


def test_terminal_output_is_a_table_with_every_trial_and_the_best() -> None:
    text = _render(terminal=True)
    final = text[text.rindex("┏") :]  # the last redraw of the live table
    assert "trial 0 epoch" not in text  # no plain lines under the table
    for cell in (KEYS[0], "complete", "pruned after epoch 1", "best: trial 0, val_loss = 0.25"):
        assert cell in final, cell


def test_baseline_is_the_recipes_own_values_when_the_space_holds_them(tmp_path: Path) -> None:
    space_file = tmp_path / "s.yaml"
    space_file.write_text(
        "train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-1]}\n"
        "model.layers[1].Dense.units: {int: [4, 16], step: 4}\n"
    )
    space = read_space(space_file)
    resolved = (
        "model:\n  layers:\n  - BatchNormalization: {name: bn}\n  - Dense: {units: 8}\n"
        "train:\n  optimizer: {name: adam, learning_rate: 0.01}\n"
    )
    assert recipe_values(space, resolved) == {KEYS[0]: 0.01, KEYS[1]: 8}
    assert recipe_values(space, resolved.replace("units: 8", "units: 6")) is None  # off-step
    assert recipe_values(space, resolved.replace("0.01}", "0.5}")) is None  # out of range
    assert recipe_values(space, resolved.replace("  - Dense: {units: 8}\n", "")) is None
