"""Ctrl-C and SIGTERM mean the same thing in every command: stop, clean up, exit 130.

SIGTERM is what ``kill``, systemd, Slurm and Docker send. Left alone it ends Python at
once (exit 143): no ``finally`` block runs, so temporary files stay behind. Inside
``stop_signals_raise()`` both signals raise :class:`StopSignal` (a ``KeyboardInterrupt``)
in the main thread instead, so every ``finally`` runs and the CLI can say what happened.

``check()`` raises again for a signal whose exception was lost (see there). ``held()``
marks a few statements that must not be split (create a temporary file and
remember its name; rename two folders): a signal arriving inside is raised when the block
ends. It is a flag checked by the Python-level handler, not ``pthread_sigmask``: the C-level
handler may run in any thread (TensorFlow starts many); the Python one always runs in the
main thread.

No TensorFlow and nothing heavy here: ``cli.py`` installs the handlers for every command.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``signal_name`` says which."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@dataclass
class _State:
    held: int = 0
    pending: str | None = None
    received: str | None = None  # the first stop signal seen while handlers were installed


_state = _State()


def signal_name(exc: BaseException) -> str:
    """``SIGTERM``/``SIGINT`` for a :class:`StopSignal`, ``SIGINT`` for a plain Ctrl-C."""
    return exc.signal_name if isinstance(exc, StopSignal) else "SIGINT"


def received() -> str | None:
    """The name of the first stop signal received inside ``stop_signals_raise()``, if any."""
    return _state.received


def deliver(name: str) -> None:
    """Raise :class:`StopSignal` now, or at the end of the enclosing ``held()`` block."""
    if _state.received is None:
        _state.received = name
    if _state.held:
        _state.pending = _state.pending or name
        return
    raise StopSignal(name)


def check() -> None:
    """Raise :class:`StopSignal` if a stop signal arrived while the handlers were installed.

    Call it before committing work (renaming a finished file into place). The exception
    the handler raised can be lost: a signal that lands while Python runs a finalizer
    (``__del__``, of which TensorFlow has many) only prints "Exception ignored", and C
    code may clear it. The signal itself is remembered, so the stop still happens here.
    """
    if _state.received is not None and not _state.held:
        raise StopSignal(_state.received)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    deliver(signal.Signals(signum).name)


@contextlib.contextmanager
def handlers(handler: Any) -> Iterator[None]:
    """Install ``handler`` for SIGINT and SIGTERM (main thread only), restore on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`StopSignal` while the block runs."""
    outermost = threading.current_thread() is threading.main_thread() and not _installed()
    if outermost:
        _state.received = None
    try:
        with handlers(_raise_stop):
            yield
    finally:
        if outermost:  # a stop belongs to the command it stopped
            _state.received = _state.pending = None


def _installed() -> bool:
    return signal.getsignal(signal.SIGTERM) is _raise_stop


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold a stop signal until the block ends (for statements that must not be split)."""
    _state.held += 1
    try:
        yield
    finally:
        _state.held -= 1
        if not _state.held and _state.pending is not None:
            name, _state.pending = _state.pending, None
            raise StopSignal(name)  # wins over an exception from the block: the user stopped
