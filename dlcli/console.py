"""Terminal helpers shared by the CLI layer (no TensorFlow here).

Rendering choices follow one rule: a terminal gets Rich (colour, live bars); anything
else (a pipe, a log file, CI) gets plain lines with no carriage returns and no ANSI
escape codes.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    """The console commands print to. ``NO_COLOR`` and non-terminals get plain text."""
    stream = sys.stderr if stderr else sys.stdout
    interactive = stream.isatty() and os.environ.get("TERM") != "dumb"
    return Console(
        file=stream,
        force_terminal=interactive,
        no_color=not interactive or "NO_COLOR" in os.environ,
        highlight=False,
        soft_wrap=not interactive,
        width=None if interactive else 120,
    )


def is_interactive(console: Console) -> bool:
    """True when live displays (progress bars, previews) are appropriate."""
    return console.is_terminal and not console.is_dumb_terminal
