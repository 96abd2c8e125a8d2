"""A clean stop asked for by the caller of ``train``: ``StopTraining``.

A caller's ``on_event`` callback may raise ``StopTraining`` when it receives an
``EpochEnded`` event (a hyper-parameter search pruning a trial that looks bad). The epoch
is already checkpointed and in the history at that point; the loop then ends as early
stopping does, so the run folder gets its final files (``model.keras``, ``best.keras``,
``history.csv``, ``metrics.json`` with ``stopped_early: true``) and ``train`` returns its
``TrainResult`` normally. Raised from any other event, it is an ordinary exception.
"""

from __future__ import annotations


class StopTraining(Exception):
    """Raised by an ``on_event`` callback on ``EpochEnded``: end the run after this epoch."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
