"""Catch matplotlib figures as dlcli saves them, and measure them with the Agg renderer.

``capture_figures`` wraps ``Figure.savefig``: a test runs the real code path (a command, an
engine) and then checks the figures it wrote, artist by artist.
"""

from __future__ import annotations

from typing import Any

import pytest


def capture_figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every matplotlib figure saved while the test runs, in order."""
    from matplotlib.figure import Figure

    caught: list[Any] = []
    original = Figure.savefig

    def savefig(self: Figure, *args: Any, **kwargs: Any) -> Any:
        caught.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return caught


def render(fig: Any) -> Any:
    """Draw a saved (and closed) figure again; return the renderer to measure with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def overlap(a: Any, b: Any) -> bool:
    """Two display-space boxes share some area."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
