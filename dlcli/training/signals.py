"""Ctrl-C and SIGTERM during the epoch loop: finish the current chunk of steps, then stop.

Outside the loop (start-up, the final save) ``dlcli.interrupts`` makes both signals raise
``StopSignal`` at once, for the whole command. Inside ``with StopRequest() as stop`` the
first signal only sets ``stop.requested``; the engine checks it between chunks of steps,
makes sure the last completed epoch is checkpointed and raises ``Interrupted``. A second
signal while it is saving raises ``StopSignal`` at once (the user insists). Handlers are
installed only in the main thread and the previous ones restored on exit.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

from dlcli import interrupts


class StopRequest:
    def __init__(self) -> None:
        self.requested = False
        self.signal_name: str | None = None
        self._stack = contextlib.ExitStack()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            interrupts.deliver(name)
            return
        self.requested = True
        self.signal_name = name

    def __enter__(self) -> StopRequest:
        interrupts.check()  # stopped during start-up, the exception lost in a finalizer
        self._stack.enter_context(interrupts.handlers(self._handle))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
