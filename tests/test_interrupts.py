"""Stop signals in-process: a stop whose exception was lost still stops before a commit."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dlcli import interrupts
from dlcli.atomic import write_text


class _SignalsInFinalizer:
    """Sends SIGTERM to this process from ``__del__``: the handler's exception is lost."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))  # the Python-level handler runs here, inside the finalizer


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_lost_in_a_finalizer_still_stops_before_a_file_is_committed(tmp_path: Path):
    target = tmp_path / "metrics.json"
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.stop_signals_raise():
        _SignalsInFinalizer()  # collected at once; its StopSignal is "ignored"
        assert interrupts.received() == "SIGTERM"  # the process goes on regardless
        with pytest.raises(interrupts.StopSignal, match="SIGTERM"):
            write_text(target, "{}")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary
    assert interrupts.received() is None  # the stop belonged to that block
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


def test_a_signal_inside_held_is_raised_when_the_block_ends():
    order = []
    with interrupts.stop_signals_raise(), pytest.raises(interrupts.StopSignal):
        with interrupts.held():
            os.kill(os.getpid(), signal.SIGINT)
            order.append("after kill")  # not interrupted
        order.append("after block")  # not reached
    assert order == ["after kill"]
