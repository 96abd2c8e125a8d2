"""What ``dlcli explain`` shows: per input, the heat map over it in truecolour half blocks
(or the tokens on coloured backgrounds) and the top classes; plain lines off a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from dlcli.console import is_interactive
from dlcli.render.predict_output import shown_path

BAR_WIDTH = 30
RESERVED_LINES = 8  # title, top-k rows and the prompt stay on screen with the picture


def explanation_line(exp: Any, files: list[str]) -> str:
    """One plain line: what was predicted, what was explained, how, where it was saved."""
    from dlcli.explain.figure import title

    top = ", ".join(f"{name} {p:.3f}" for name, p in exp.top_k)
    text = f"{shown_path(exp.path)}: predicted {exp.predicted_name}; {title(exp).split(': ', 1)[1]}"
    text += f"; top: {top}"
    if files:
        text += " -> " + ", ".join(shown_path(f) for f in files)
    return text


def render_explanation(console: Console, exp: Any, files: list[str]) -> None:
    if not is_interactive(console):
        console.print(explanation_line(exp, files), markup=False, highlight=False, soft_wrap=True)
        if exp.view == "token":
            console.print(_plain_tokens(exp), markup=False, highlight=False, soft_wrap=True)
        return
    console.print(f"[bold]{escape(explanation_line(exp, []))}[/bold]", highlight=False)
    if exp.view == "token":
        console.print(_coloured_tokens(exp))
    else:
        console.print(_picture(console, exp, len(exp.top_k)))
    console.print(_bars(exp))
    for path in files:
        console.print(f"wrote {escape(shown_path(path))}", highlight=False)


def _picture(console: Console, exp: Any, bar_rows: int) -> Text:
    from dlcli.explain.figure import overlay_rgb
    from dlcli.viz.halfblock import fit_width, render_halfblock

    width = max(16, console.width - 2)
    lines = max(8, console.height - RESERVED_LINES - bar_rows)
    return render_halfblock(fit_width(overlay_rgb(exp), width, max_height=2 * lines))


def _bars(exp: Any) -> Text:
    pad = max(len(name) for name, _ in exp.top_k)
    text = Text()
    for name, p in exp.top_k:
        style = "red" if name == exp.explained_name else "green"
        text.append(f"{name:>{pad}} ")
        text.append("█" * round(BAR_WIDTH * p), style=style)
        text.append(f" {p:.3f}\n")
    text.rstrip()
    return text


def _levels(exp: Any) -> list[float]:
    """Each token's score as 0..1 (0.5: no effect), scaled by the largest magnitude."""
    scores = [float(s) for s in exp.attribution.heat]
    bound = max((abs(s) for s in scores), default=0.0)
    return [0.5 + 0.5 * s / bound if bound > 0 else 0.5 for s in scores]


def _coloured_tokens(exp: Any) -> Text:
    from matplotlib import colormaps

    from dlcli.explain.figure import TOKEN_CMAP

    cmap = colormaps[TOKEN_CMAP]
    text = Text()
    for token, level in zip(exp.attribution.tokens, _levels(exp), strict=True):
        r, g, b, _ = (round(255 * c) for c in cmap(level))
        text.append(token, style=f"black on rgb({r},{g},{b})")
        text.append(" ")
    text.append("\n(green: towards ")
    text.append(exp.explained_name)
    text.append(", red: against)")
    return text


def _plain_tokens(exp: Any) -> str:
    pairs = zip(exp.attribution.tokens, exp.attribution.heat, strict=True)
    return "  tokens: " + " ".join(f"{t}({float(s):+.3g})" for t, s in pairs)


def render_done(
    console: Console, *, explained: int, skipped: int, folder: str, seconds: float
) -> None:
    note = f", {skipped} skipped" if skipped else ""
    console.print(
        f"explained {explained} input(s){note} in {seconds:.1f} s; pictures in {folder}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
