"""``dlcli tune`` output: a live table of trials on a terminal, plain lines elsewhere.

The table has one row per trial (number, state, each searched value, the monitored value,
epochs, note) and the best so far in its caption. Piped or logged, each event is one line
(no carriage returns, no colour). ``show_summary`` prints a study read back from storage.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from dlcli.console import is_interactive
from dlcli.tuning.events import (
    StudyOpened,
    StudySummary,
    TrialEnded,
    TrialEpoch,
    TrialRow,
    TrialStarted,
    TuneEvent,
    Waiting,
)

_STYLES = {"complete": "green", "pruned": "yellow", "failed": "red", "running": "cyan"}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def params_text(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={fmt(v)}" for k, v in params.items())


def trials_table(
    rows: list[TrialRow], keys: tuple[str, ...], monitor: str, best: TrialRow | None
) -> Table:
    caption = (
        f"best: trial {best.number}, {monitor} = {fmt(best.value)}" if best else "best: none yet"
    )
    table = Table(caption=caption, caption_justify="left")
    for title in ("trial", "state", *keys, monitor, "epochs", "note"):
        table.add_column(title, overflow="fold")
    for row in sorted(rows, key=lambda r: r.number):
        style = "bold" if best is not None and row.number == best.number else None
        state = f"[{_STYLES.get(row.state, 'white')}]{row.state}[/]"
        cells = [fmt(row.params.get(k)) for k in keys]
        table.add_row(
            str(row.number), state, *cells, fmt(row.value), fmt(row.epochs), row.note, style=style
        )
    return table


class TuneRenderer:
    """The ``on_event`` callback of ``tune``."""

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live_mode = is_interactive(console) if live is None else live
        self.rows: dict[int, TrialRow] = {}
        self.keys: tuple[str, ...] = ()
        self.monitor = "value"
        self.best: TrialRow | None = None
        self._live: Live | None = None

    def __call__(self, event: TuneEvent) -> None:
        if isinstance(event, StudyOpened):
            self._opened(event)
        elif isinstance(event, TrialStarted):
            self.rows[event.row.number] = event.row
            if not self.live_mode:
                self._line(f"trial {event.row.number} started: {params_text(event.row.params)}")
        elif isinstance(event, TrialEpoch):
            self._epoch(event)
        elif isinstance(event, TrialEnded):
            self._ended(event)
        elif isinstance(event, Waiting):
            self._line(f"waiting for {event.running} trial(s) other workers are running")
        self._refresh()

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def _opened(self, e: StudyOpened) -> None:
        self.keys, self.monitor = e.keys, e.monitor
        self.rows = {r.number: r for r in e.rows}
        done = [r for r in e.rows if r.state == "complete" and r.value is not None]
        if done:
            pick = max if e.direction == "maximize" else min
            self.best = pick(done, key=lambda r: float(r.value or 0.0))
        self._line(
            f"study {e.study} in {e.storage}: {e.done} of {e.requested} trials finished; "
            f"{e.direction} {e.monitor}; trial runs in {e.out / 'trials'}"
        )
        for note in e.notes:
            self._line(note)
        if self.live_mode:
            self._live = Live(self._table(), console=self.console, auto_refresh=False)
            self._live.start()

    def _epoch(self, e: TrialEpoch) -> None:
        row = self.rows.get(e.number)
        if row is not None:
            self.rows[e.number] = TrialRow(
                row.number, row.state, row.params, e.value, e.epoch, row.note, row.run_dir
            )
        if not self.live_mode:
            self._line(
                f"trial {e.number} epoch {e.epoch}/{e.epochs}: {self.monitor}={fmt(e.value)}"
            )

    def _ended(self, e: TrialEnded) -> None:
        self.rows[e.row.number] = e.row
        self.best = e.best
        if not self.live_mode:
            note = f" ({e.row.note})" if e.row.note else ""
            best = f"; best: trial {e.best.number} {fmt(e.best.value)}" if e.best else ""
            self._line(
                f"trial {e.row.number} {e.row.state}: {self.monitor}={fmt(e.row.value)}{note}{best}"
            )

    def _table(self) -> Table:
        return trials_table(list(self.rows.values()), self.keys, self.monitor, self.best)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table(), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def show_summary(console: Console, summary: StudySummary, *, table: bool = True) -> None:
    """The study's trials (unless a live table just showed them), best trial and files."""
    if table:
        console.print(trials_table(summary.rows, summary.keys, summary.monitor, summary.best))
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.counts.items()))
    console.print(
        f"study {summary.study} ({summary.storage}): {counts or 'no trials'}", markup=False
    )
    best = summary.best
    if best is None:
        console.print("no complete trial yet", markup=False)
    else:
        console.print(
            f"best trial {best.number}: {summary.monitor} = {fmt(best.value)}; "
            f"{params_text(best.params)}",
            markup=False,
        )
        if best.run_dir:
            console.print(f"  run folder: {best.run_dir}", markup=False)
    for name, path in summary.files.items():
        console.print(f"  {name}: {path}", markup=False)
    for note in summary.notes:
        console.print(f"  ({note})", markup=False)
