"""The live training bars: one count per row, fields dropped (not squeezed) when narrow,
and a "tracing" note while the first step is traced (issue 11)."""

from __future__ import annotations

import io
import re
from pathlib import Path

from conftest import make_image_folder
from rich.console import Console
from train_helpers import image_data, write_recipe

from dlcli.render.train_output import TrainRenderer
from dlcli.training.events import (
    EpochEnded,
    EpochStarted,
    RunStarted,
    StepsDone,
    TracingFinished,
    TracingStarted,
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOGS = {"loss": 0.693147, "accuracy": 0.5}


def _started(tmp_path: Path, *, epochs: int = 30, steps: int = 50) -> RunStarted:
    return RunStarted(
        name="t", run_dir=tmp_path, device="CPU", strategy="default", replicas=1,
        precision="float32", epochs=epochs, start_epoch=0, steps_per_epoch=steps,
        num_train=100, num_validation=0, global_batch_size=2,
    )  # fmt: skip


def _frame(renderer: TrainRenderer, buf: io.StringIO) -> list[str]:
    """The live rows as drawn now: one refresh of the real Progress, escape codes removed."""
    start = len(buf.getvalue())
    renderer.progress.refresh()
    text = _ANSI.sub("", buf.getvalue()[start:]).replace("\r", "\n")
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _in_epoch_two(tmp_path: Path, width: int) -> tuple[TrainRenderer, io.StringIO]:
    """A live renderer 13 steps into epoch 2 of 30 (epoch 1 complete)."""
    buf = io.StringIO()
    renderer = TrainRenderer(Console(file=buf, force_terminal=True, width=width, color_system=None))
    renderer(_started(tmp_path))
    renderer(EpochStarted(1, 30, 50))
    renderer(StepsDone(1, 25, 50, LOGS, 1234.0))
    renderer(EpochEnded(1, 30, LOGS, 0.01, 0.2, 30.0, True, 0.5))
    renderer(EpochStarted(2, 30, 50))
    renderer(StepsDone(2, 13, 50, LOGS, 1234.0))
    return renderer, buf


def test_each_live_row_shows_one_count(tmp_path: Path) -> None:
    renderer, buf = _in_epoch_two(tmp_path, 120)
    try:
        rows = _frame(renderer, buf)
    finally:
        renderer.close()
    epoch_row = next(r for r in rows if "/30" in r)
    step_row = next(r for r in rows if "/50" in r)
    # Epoch 2 is running (1 of 30 done): the row names the epoch once, not "2/30 ... 1/30".
    assert re.findall(r"\d+/30", epoch_row) == ["2/30"]
    assert re.findall(r"\d+/50", step_row) == ["13/50"]
    assert "loss 0.6931" in step_row and "samples/s" in step_row and "ETA" in step_row


def test_live_rows_drop_fields_instead_of_squeezing(tmp_path: Path) -> None:
    for width in (40, 80):
        renderer, buf = _in_epoch_two(tmp_path, width)
        try:
            rows = _frame(renderer, buf)
        finally:
            renderer.close()
        assert rows and max(len(r) for r in rows) <= width, rows
        assert not any("…" in r for r in rows), rows
        epoch_row = next(r for r in rows if r.startswith("epoch"))
        step_row = next(r for r in rows if r.startswith("step"))
        assert re.search(r"epoch\s+2/30", epoch_row), rows
        assert re.search(r"13/50", step_row) and "loss 0.6931" in step_row, rows
        assert ("ETA" in step_row) == (width >= 80), rows  # narrow: fewer fields


def test_tracing_note_replaces_frozen_bars(tmp_path: Path) -> None:
    buf = io.StringIO()
    renderer = TrainRenderer(Console(file=buf, force_terminal=True, width=80, color_system=None))
    renderer(_started(tmp_path))
    renderer(EpochStarted(1, 30, 50))
    try:
        renderer(TracingStarted())
        tracing = _frame(renderer, buf)
        renderer(TracingFinished(2.5))
        traced = _frame(renderer, buf)
        renderer(StepsDone(1, 3, 50, LOGS, 10.0))
        stepping = _frame(renderer, buf)
    finally:
        renderer.close()
    assert any("tracing the training step..." in r for r in tracing), tracing
    assert any("traced in 2.5s" in r for r in traced), traced
    assert not any("trac" in r for r in stepping) and any("loss 0.6931" in r for r in stepping)


def test_real_run_reports_tracing_once_before_the_first_step(tmp_path: Path) -> None:
    from dlcli.recipe import load_recipe
    from dlcli.training import TrainOptions, train
    from dlcli.training.loop import StepFunctions

    train_dir = make_image_folder(tmp_path / "train", per_class=4, seed=1)
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", data=image_data(train_dir)))
    traces: list[int] = []
    chunk = StepFunctions.train_chunk

    def counting_chunk(self: StepFunctions, iterator, steps: int):
        result = chunk(self, iterator, steps)
        traces.append(self._train_chunk.experimental_get_tracing_count())
        return result

    StepFunctions.train_chunk = counting_chunk  # spy: the real step still runs
    events: list = []
    plain = io.StringIO()
    renderer = TrainRenderer(Console(file=plain, force_terminal=False, width=120))
    try:
        train(
            recipe,
            TrainOptions(out=tmp_path / "run"),
            on_event=lambda e: (events.append(e), renderer(e)),
        )
    finally:
        StepFunctions.train_chunk = chunk
    kinds = [type(e).__name__ for e in events]
    first = kinds.index("EpochStarted")
    assert kinds[first + 1 : first + 3] == ["TracingStarted", "TracingFinished"]
    assert kinds.count("TracingStarted") == kinds.count("TracingFinished") == 1
    assert events[first + 2].seconds > 0
    # The explicit trace is the only one: the steps reuse it (no second, hidden trace).
    assert traces and set(traces) == {1}
    lines = plain.getvalue().splitlines()
    assert lines.count("tracing the training step...") == 1
    assert lines.index("tracing the training step...") < next(
        i for i, line in enumerate(lines) if line.startswith("epoch 1/2")
    )
