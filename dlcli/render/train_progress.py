"""The live bars of ``dlcli train``: an epoch row and a step row that fit any width.

Each row starts with one count, the epoch in progress (``epoch 2/30``) or the steps done
(``step 13/50``); the bar shows the same progress, so no second count contradicts it.
Rich squeezes a row that is too wide until its cells read ``epo…``; here the row drops
whole fields instead, least useful first (elapsed time, samples/s, ETA, the bar), and
the count and loss stay readable down to 40 columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table

TRACING = "tracing the training step..."


def _layouts() -> list[tuple[ProgressColumn, ...]]:
    """Column sets from the richest to the barest; the first that fits is drawn."""

    def count() -> TextColumn:
        return TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True))

    def logs(*, wrap: bool = False) -> TextColumn:
        # Barest layout: the logs wrap onto a second line rather than squeeze the count.
        column = Column(no_wrap=not wrap, overflow="fold" if wrap else "ellipsis")
        return TextColumn("{task.fields[logs]}", table_column=column)

    def rate() -> TextColumn:
        return TextColumn("{task.fields[rate]}")

    return [
        (
            count(),
            BarColumn(bar_width=30),
            logs(),
            rate(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ),
        (
            count(),
            BarColumn(bar_width=20),
            logs(),
            rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ),
        (count(), BarColumn(bar_width=12), logs(), TextColumn("ETA"), TimeRemainingColumn()),
        (count(), BarColumn(bar_width=10), logs()),
        (count(), logs(wrap=True)),
    ]


class FittedProgress(Progress):
    """A ``Progress`` that picks, at every refresh, the richest layout that fits the width."""

    def __init__(self, layouts: Sequence[tuple[ProgressColumn, ...]], console: Console) -> None:
        self._layouts = list(layouts)
        self._screen = console  # set first: Progress.__init__ already draws a table
        super().__init__(*layouts[0], console=console, transient=True)

    def make_tasks_table(self, tasks: Sequence[Task]) -> Table:
        console = self._screen
        unbounded = console.options.update(max_width=1_000_000)  # else clamped to the width
        for columns in self._layouts:
            self.columns = columns
            table = super().make_tasks_table(tasks)
            if Measurement.get(console, unbounded, table).maximum <= console.width:
                return table
        return table


class TrainBars:
    """The two live rows, driven by the training events' values."""

    def __init__(self, console: Console, *, epochs: int, start_epoch: int, steps: int) -> None:
        self.progress = FittedProgress(_layouts(), console)
        self._epochs = epochs
        self._steps = steps
        self._epoch: TaskID = self.progress.add_task(
            "epochs",
            total=epochs,
            completed=start_epoch,
            count=self._epoch_count(start_epoch + 1),
            logs="",
            rate="",
        )
        self._step: TaskID = self.progress.add_task(
            "steps", total=steps, count=self._step_count(0, steps), logs="", rate=""
        )
        self.progress.start()

    def _epoch_count(self, epoch: int) -> str:
        width = len(str(self._epochs))
        return f"epoch {min(epoch, self._epochs):>{width}}/{self._epochs}"

    @staticmethod
    def _step_count(step: int, steps: int) -> str:
        return f"step {step:>{len(str(steps))}}/{steps}"

    def epoch_started(self, epoch: int, steps: int) -> None:
        self._steps = steps
        # The epoch first: a refresh in between shows the new epoch, never an old one at 0.
        self.progress.update(self._epoch, count=self._epoch_count(epoch))
        self.progress.reset(
            self._step, total=steps, count=self._step_count(0, steps), logs="", rate=""
        )

    def note(self, text: str) -> None:
        """Say what is happening on the step row until the next steps are reported."""
        self.progress.update(self._step, logs=text)

    def steps_done(self, step: int, steps: int, logs: str, samples_per_s: float) -> None:
        self.progress.update(
            self._step,
            completed=step,
            count=self._step_count(step, steps),
            logs=logs,
            rate=f"{samples_per_s:,.0f} samples/s",
        )

    def epoch_ended(self, epoch: int) -> None:
        self.progress.update(self._epoch, completed=epoch)
        steps = self._steps
        self.progress.update(self._step, completed=steps, count=self._step_count(steps, steps))

    def refresh(self) -> None:
        self.progress.refresh()

    def stop(self) -> None:
        self.progress.stop()
