"""``dlcli inspect --activations TEXT`` for a model that reads raw text: which tokens drive
its prediction (gradient x input, :mod:`dlcli.modeling.text_inspection`), as a list in the
terminal and a bar chart (``tokens.png``, with the numbers in ``tokens.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.modeling.text_inspection import TokenAttribution, attribute

BAR = 20  # characters for the largest score


def token_lines(result: TokenAttribution, class_names: list[str] | None) -> list[str]:
    name = class_names[result.predicted] if class_names else str(result.predicted)
    lines = [
        f"predicted: {name} ({result.probability:.3f}); token scores: gradient x input "
        "(+ pushes towards it)"
    ]
    top = float(np.max(np.abs(result.scores))) if len(result.scores) else 0.0
    width = max((len(t) for t in result.tokens), default=0)
    for token, score in zip(result.tokens, result.scores, strict=True):
        n = round(BAR * abs(float(score)) / top) if top > 0 else 0
        bar = ("+" if score >= 0 else "-") * n
        lines.append(f"  {token or '(empty)':<{width}}  {float(score):+.4f}  {bar}")
    return lines


def save_token_png(result: TokenAttribution, path: Path, class_names: list[str] | None) -> None:
    from dlcli.viz.plots import _pyplot, _save

    plt = _pyplot()
    n = max(1, len(result.tokens))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * n + 1.5), 3.6))
    colours = ["#2a7fbf" if s >= 0 else "#d9534f" for s in result.scores]
    ax.bar(range(len(result.scores)), result.scores, color=colours)
    ax.set_xticks(range(len(result.tokens)))
    ax.set_xticklabels(result.tokens, rotation=60, ha="right", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.6)
    name = class_names[result.predicted] if class_names else str(result.predicted)
    ax.set_title(f"tokens driving '{name}' ({result.probability:.3f}): gradient x input")
    fig.tight_layout()
    _save(fig, path)


def text_activations_view(
    model: Any,
    text: str,
    class_names: list[str] | None,
    folder: Path,
    overwrite: bool,
    console: Any,
) -> TokenAttribution:
    from dlcli.atomic import check_writable, write_text

    png, numbers = folder / "tokens.png", folder / "tokens.json"
    for target in (png, numbers):
        check_writable(target, overwrite=overwrite)
    result = attribute(model, text)
    save_token_png(result, png, class_names)
    doc = {
        "text": result.text,
        "predicted": result.predicted,
        "label": class_names[result.predicted] if class_names else None,
        "probability": result.probability,
        "tokens": [
            {"token": t, "score": float(s)}
            for t, s in zip(result.tokens, result.scores, strict=True)
        ],
        "method": "gradient x input",
    }
    write_text(numbers, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    for line in token_lines(result, class_names):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"tokens: {png}", markup=False, soft_wrap=True)
    return result
