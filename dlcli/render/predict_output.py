"""What ``dlcli predict`` shows a person: progress, a results table, skipped files, a summary.

Data (CSV/JSONL rows) goes to stdout or ``--out``; everything here goes to the console it
is given (stderr, so piped CSV stays clean), except the results table, which is the data
when stdout is a terminal. A terminal gets a live Rich bar with files/s and ETA; anything
else gets one plain line every few seconds (no ``\\r``, no colour codes). Nouns and rate
units come from the model's data kind (images, documents, clips, rows).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from dlcli.console import is_interactive

SKIPPED_SHOWN = 50


def shown_path(path: str) -> str:
    """A file name safe to print: control characters and undecodable bytes made visible.

    A name may hold ``\r``, ``\n``, an escape sequence or bytes that are not UTF-8; printed
    raw they would garble the terminal (or crash a strict stream). Data files get the exact
    name; people get ``\r``, ``\x1b``, ``\xff`` spelled out.
    """
    out: list[str] = []
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's escape for a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code <= 0xDFFF:
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def render_model_notes(console: Console, choice: str | None, warnings: Sequence[str]) -> None:
    """Which model file is used (for a run directory) and the model's warnings, on stderr."""
    if choice:
        console.print(escape(shown_path(choice)), highlight=False)
    style = "yellow" if is_interactive(console) else None
    for warning in warnings:
        console.print(f"warning: {escape(shown_path(warning))}", highlight=False, style=style)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressReporter:
    """Counts files done (scored or skipped) against ``total``; a bar or plain lines.

    ``noun`` names the files (``image files``), ``unit`` them in the rate (``img``).
    """

    def __init__(
        self,
        console: Console,
        total: int,
        *,
        what: str = "predict",
        every_s: float = 5.0,
        noun: str = "files",
        unit: str = "files",
    ) -> None:
        self.console = console
        self.total = total
        self.what = what
        self.noun = noun
        self.unit = unit
        self.every_s = every_s
        self.done = 0
        self._start = time.perf_counter()
        self._last_line = self._start
        self._progress: Progress | None = None
        self._task = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def rate(self) -> float:
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def __enter__(self) -> ProgressReporter:
        self._start = self._last_line = time.perf_counter()
        if is_interactive(self.console):
            self._progress = Progress(
                TextColumn(f"[bold]{self.what}[/bold]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.what, total=self.total, rate="")
        return self

    def set_total(self, total: int) -> None:
        self.total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: int) -> None:
        self.done += n
        if self._progress is not None:
            self._progress.update(self._task, advance=n, rate=f"{self.rate:,.0f} {self.unit}/s")
            return
        now = time.perf_counter()
        if now - self._last_line >= self.every_s and self.done < self.total:
            self._last_line = now
            self.console.print(self._line(), highlight=False)

    def _line(self) -> str:
        rate = self.rate
        remaining = (self.total - self.done) / rate if rate > 0 else 0.0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.what}: {self.done:,}/{self.total:,} {self.noun} ({pct:.0f}%), "
            f"{rate:,.0f} {self.unit}/s, ETA {_duration(remaining)}"
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
            self._progress = None


class PredictionTable:
    """The terminal view of predictions: the first ``limit`` rows, memory stays bounded."""

    def __init__(self, limit: int = 500, *, noun: str = "image") -> None:
        self.limit = limit
        self.noun = noun  # one prediction's (the data kind's item_noun)
        self.rows: list[tuple[str, str, str, str]] = []
        self.total = 0

    def add(self, predictions: Iterable) -> None:
        for p in predictions:
            self.total += 1
            if len(self.rows) < self.limit:
                top = ", ".join(f"{label} {prob:.1%}" for label, prob in p.top_k[1:])
                self.rows.append((p.path, p.label, f"{p.confidence:.1%}", top))

    def render(self, console: Console) -> None:
        if not self.total:
            return
        # Paths relative to their common folder (named in the title) keep the table narrow.
        base = ""
        if len(self.rows) > 1:
            with contextlib.suppress(ValueError):
                base = os.path.commonpath([r[0] for r in self.rows])
            if base and os.path.isfile(base):
                base = os.path.dirname(base)
        count = f"{self.total:,} {self.noun}(s)"
        title = f"predictions ({count})"
        if base:
            title = f"predictions in {escape(shown_path(base))} ({count})"
        table = Table(title=title)
        table.add_column("path", overflow="fold")
        table.add_column("label", style="bold")
        table.add_column("confidence", justify="right")
        table.add_column("next most likely", style="dim")
        for path, *rest in self.rows:
            shown = os.path.relpath(path, base) if base else path
            table.add_row(escape(shown_path(shown)), *(escape(shown_path(c)) for c in rest))
        console.print(table)
        if self.total > len(self.rows):
            console.print(
                f"... {self.total - len(self.rows):,} more rows not shown; "
                "use --out preds.csv (or pipe the output) to get them all",
                highlight=False,
            )


def render_skipped(
    console: Console,
    skipped: Sequence,
    *,
    errors_file: str | None,
    input_noun: str = "image files",
) -> None:
    """List files not used, with their reasons (the first SKIPPED_SHOWN of each kind).

    Files that are not the model's inputs (``ignored``; ``input_noun`` names those) come
    first under their own heading: they are not failures. All of them go to ``--errors``.
    """
    ignored = [s for s in skipped if getattr(s, "ignored", False)]
    failed = [s for s in skipped if not getattr(s, "ignored", False)]
    style = "yellow" if is_interactive(console) else None
    if ignored:
        what = f"ignored {len(ignored):,} file(s) that are not {input_noun}:"
        console.print(what, highlight=False)
        _list_files(console, ignored, errors_file)
    if failed:
        console.print(f"skipped {len(failed):,} file(s):", style=style, highlight=False)
        _list_files(console, failed, errors_file)


def _list_files(console: Console, files: Sequence, errors_file: str | None) -> None:
    for s in files[:SKIPPED_SHOWN]:
        line = f"  {escape(shown_path(s.path))}: {escape(s.reason)}"
        console.print(line, highlight=False, soft_wrap=True)
    if len(files) > SKIPPED_SHOWN:
        more = len(files) - SKIPPED_SHOWN
        where = f"; all are listed in {errors_file}" if errors_file else "; use --errors FILE"
        console.print(f"  ... and {more:,} more{where}", highlight=False)


def render_summary(
    console: Console,
    *,
    predicted: int,
    skipped: int,
    seconds: float,
    ignored: int = 0,
    out: str | None,
    errors_file: str | None,
    output_kind: str,
    sorted_note: str | None,
    item_noun: str,
    item_unit: str,
    input_noun: str,
) -> None:
    """``item_noun``/``item_unit`` name one prediction (``row``, ``rows``: the data kind's);
    ``input_noun`` the files it reads, for the ignored ones."""
    rate = predicted / seconds if seconds > 0 else 0.0
    text = f"predicted {predicted:,} {item_noun}(s) in {seconds:.1f}s ({rate:,.0f} {item_unit}/s)"
    if skipped:
        text += f", skipped {skipped:,}"
    if ignored:
        text += f", ignored {ignored:,} file(s) that are not {input_noun}"
    console.print(text, highlight=False)
    console.print(f"model output: {output_kind}", highlight=False, style="dim")
    if out:
        console.print(f"wrote {escape(shown_path(out))}", highlight=False)
    if errors_file:
        listed = f"{skipped:,} skipped" + (f", {ignored:,} ignored" if ignored else "")
        console.print(f"wrote {escape(shown_path(errors_file))} ({listed})", highlight=False)
    if sorted_note:
        console.print(sorted_note, highlight=False)
