"""Ctrl-C and SIGTERM during training: finish the current chunk of steps, then stop cleanly.

Inside the ``with StopRequest() as stop`` block the first SIGINT/SIGTERM only sets
``stop.requested``; the engine checks it between chunks of steps, makes sure the last
completed epoch is checkpointed and raises ``Interrupted``. A second signal while it is
saving raises ``KeyboardInterrupt`` at once (the user insists). Handlers are installed only
in the main thread and restored on exit.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
