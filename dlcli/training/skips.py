"""Files found unreadable while training reads the data (streamed image folders).

Streaming decodes each image as epoch 1 first reaches it, so the run's skipped list grows
during that epoch (``DataBundle.skipped``). After every epoch (once its checkpoint is
committed) ``skipped.txt`` is rewritten if the list grew, and a warning says how many were
added; ``announce`` writes the list known at the start (``--strict`` or start-up checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlcli.training.events import EventCallback, Notice


def report_new_skips(run: Any, skipped: Sequence[Any], on_event: EventCallback) -> None:
    """Rewrite ``skipped.txt`` and warn when ``skipped`` lists more files than it does."""
    found = list(skipped)  # a snapshot: decoding threads may still be appending
    listed = run.file("skipped.txt")
    reported = len(listed.read_text(encoding="utf-8").splitlines()) if listed.is_file() else 0
    if len(found) <= reported:
        return
    run.write_skipped(found)
    on_event(
        Notice(
            f"skipped {len(found) - reported:,} unreadable file(s) while reading the data "
            f"({len(found):,} in all); see skipped.txt in the run folder",
            warning=True,
        )
    )
