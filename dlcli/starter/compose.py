"""A :class:`Draft` as recipe YAML: one line per setting, each with the comment saying
why, in the order of the shipped recipes (name, seed, data, model, train)."""

from __future__ import annotations

from typing import Any

import yaml

from dlcli.starter.base import Draft, Entry

COMMENT_COLUMN = 44  # comments start here when the line is shorter
LINE_WIDTH = 100  # longer lines take their comment on the line above


def flow(value: Any) -> str:
    """``value`` as one line of YAML (flow style for lists and mappings)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return text.removesuffix("...").strip()


def _line(text: str, comment: str, indent: str) -> str:
    """``text  # comment``; a comment that would run past LINE_WIDTH goes above instead."""
    if not comment:
        return text
    if max(len(text), COMMENT_COLUMN - 1) + 3 + len(comment) <= LINE_WIDTH:
        return f"{text.ljust(COMMENT_COLUMN - 1)} # {comment}"
    return f"{indent}# {comment}\n{text}"


def _entry(entry: Entry, indent: str) -> str:
    one_line = f"{indent}{entry.key}: {flow(entry.value)}"
    if isinstance(entry.value, dict) and len(one_line) > LINE_WIDTH:  # one key per line
        inner = [f"{indent}  {flow(k)}: {flow(v)}" for k, v in entry.value.items()]
        return "\n".join([_line(f"{indent}{entry.key}:", entry.comment, indent), *inner])
    return _line(one_line, entry.comment, indent)


def _layer(entry: Entry) -> str:
    text = f"    - {entry.key}"
    if entry.value is not None:
        text += f": {flow(entry.value)}"
    return _line(text, entry.comment, "    ")


def compose(draft: Draft, *, seed: int = 42) -> str:
    """The recipe text: header comments, then the sections."""
    lines = [f"# {h}" if h else "#" for h in draft.header]
    lines += [f"name: {flow(draft.name)}", f"seed: {seed}", "data:"]
    lines += [_entry(e, "  ") for e in draft.data]
    lines += ["model:", "  layers:"]
    lines += [_layer(e) for e in draft.layers]
    lines += ["train:"]
    lines += [_entry(e, "  ") for e in draft.train]
    return "\n".join(lines) + "\n"
