"""What ``dlcli train`` shows while it runs and when it ends.

A terminal gets Rich: an epoch bar and a step bar with live loss/metrics, samples/s and
ETA, one summary line per finished epoch above the bars, and a closing table of final
metrics and saved files. Anything else (pipes, CI, nohup) gets exactly one plain line per
epoch: no carriage returns, no escape codes. ``quiet`` prints only where the run went.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlcli.console import is_interactive
from dlcli.render.train_progress import TRACING, TrainBars

_SHORT = {"accuracy": "acc", "val_accuracy": "val_acc"}


def _num(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def format_logs(logs: dict[str, float], *, short: bool = False) -> str:
    return "  ".join(f"{_SHORT.get(k, k) if short else k} {_num(v)}" for k, v in logs.items())


class TrainRenderer:
    """An ``on_event`` callback for ``dlcli.training.train``; call ``close()`` in ``finally``."""

    def __init__(self, console: Console, *, quiet: bool = False, live: bool | None = None):
        self.console = console
        self.quiet = quiet
        self.live = (is_interactive(console) if live is None else live) and not quiet
        self.progress: TrainBars | None = None
        self._epochs = 0
        self._is_chief = True

    def _print(self, text: str, style: str | None = None) -> None:
        self.console.print(text if self.live else escape(text), style=style, highlight=False)

    def __call__(self, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    # -- events: one handler per event class, named _on_<ClassName> --------------------

    def _on_RunStarted(self, e: Any) -> None:
        self._epochs, self._is_chief = e.epochs, e.is_chief
        if self.quiet:
            return
        p = self._print
        role = "" if e.is_chief else " (worker, not the chief: writes nothing)"
        p(f"run: {e.name} -> {e.run_dir}{role}")
        p(
            f"device: {e.device}  strategy: {e.strategy}  replicas: {e.replicas}  "
            f"precision: {e.precision}"
        )
        p(
            f"data: {e.num_train:,} training, {e.num_validation:,} validation examples; "
            f"global batch {e.global_batch_size}, {e.steps_per_epoch} steps per epoch"
        )
        if e.skipped:
            p(f"skipped {e.skipped} unreadable file(s); see skipped.txt in the run folder")
        if e.start_epoch:
            p(f"resuming after epoch {e.start_epoch} of {e.epochs}")
        for w in e.warnings:
            p(f"warning: {w}", style="yellow" if self.live else None)
        if self.live:
            self.progress = TrainBars(
                self.console, epochs=e.epochs, start_epoch=e.start_epoch, steps=e.steps_per_epoch
            )

    def _on_Notice(self, e: Any) -> None:
        if self.quiet:
            return
        if e.warning:
            self._print(f"warning: {e.text}", style="yellow" if self.live else None)
        else:
            self._print(e.text)

    def _on_EpochStarted(self, e: Any) -> None:
        if self.progress is not None:
            self.progress.epoch_started(e.epoch, e.steps)

    def _on_TracingStarted(self, e: Any) -> None:
        if self.progress is not None:
            self.progress.note(TRACING)
        elif not self.quiet:
            self._print(TRACING)  # one line: a log shows why nothing happens for a while

    def _on_TracingFinished(self, e: Any) -> None:
        if self.progress is not None:
            self.progress.note(f"traced in {e.seconds:.1f}s; first steps...")

    def _on_StepsDone(self, e: Any) -> None:
        if self.progress is not None:
            logs = format_logs(e.logs, short=True)
            self.progress.steps_done(e.step, e.steps, logs, e.samples_per_s)

    def _on_EpochEnded(self, e: Any) -> None:
        if self.quiet:
            return
        width = len(str(e.epochs))
        line = (
            f"epoch {e.epoch:>{width}}/{e.epochs}  {format_logs(e.logs)}  lr {_num(e.lr)}  "
            f"{e.epoch_time_s:.1f}s  {e.samples_per_s:,.0f} samples/s"
        )
        if e.improved:
            line += "  *best"
        if e.stop_reason == "early_stopping":
            line += "  (early stopping)"
        if self.progress is not None:
            self.progress.epoch_ended(e.epoch)
        self._print(line)

    def _on_RunFinished(self, e: Any) -> None:
        self.close()
        result = e.result
        if self.quiet:
            if result.is_chief:
                self.console.print(str(result.run_dir), highlight=False, markup=False)
            return
        m = result.metrics
        best = m.get("best", {})
        finished = f"finished {result.epochs_run}/{result.epochs_planned} epochs"
        if result.stopped_early:
            finished += " (early stopping)"
        finished += (
            f" in {m.get('wall_time_s', 0):.1f}s, {m.get('samples_per_s') or 0:,.0f} samples/s"
        )
        self._print(finished)
        if self.live:
            self._table(result)
        else:
            self._print(f"final: {format_logs(m.get('final', {}))}")
            if best.get("value") is not None:
                self._print(
                    f"best {best['monitor']}: {_num(best['value'])} (epoch {best['epoch']})"
                )
            if result.is_chief:
                self._print(f"saved: {result.run_dir}")
                for name in result.files:
                    self._print(f"  {name}")

    def _table(self, result: Any) -> None:
        m = result.metrics
        table = Table(title="final metrics", show_header=True, header_style="bold")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in m.get("final", {}).items():
            table.add_row(key, _num(value))
        best = m.get("best", {})
        if best.get("value") is not None:
            table.add_row(f"best {best['monitor']}", f"{_num(best['value'])} @ {best['epoch']}")
        self.console.print(table)
        if result.is_chief:
            files = Table(title=f"saved in {result.run_dir}", show_header=False)
            files.add_column("file")
            files.add_column("what")
            for name in result.files:
                files.add_row(name, _WHAT.get(name, ""))
            self.console.print(files)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


_WHAT = {
    "recipe.yaml": "the resolved recipe",
    "labels.json": "class names and preprocessing",
    "model.keras": "final model",
    "best.keras": "best model by the checkpoint monitor",
    "history.csv": "metrics per epoch",
    "metrics.json": "final metrics, timing, versions, device",
    "curves.png": "loss and metric curves",
    "skipped.txt": "files that could not be read",
    "checkpoints": "last epoch, for --resume",
    "logs": "TensorBoard scalars",
}
