"""What ``dlcli init`` prints: one line per finding (what, value, why); warnings marked."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from dlcli.starter.base import Finding


def finding_line(finding: Finding, width: int) -> Text:
    text = Text()
    text.append(f"{finding.topic.ljust(width)}  ", style="bold")
    text.append(finding.value, style="yellow" if finding.warning else "cyan")
    if finding.why:
        text.append(f"  ({finding.why})", style="dim")
    if finding.warning:
        text.append("  [check this]", style="yellow")
    return text


def show_findings(console: Console, findings: Sequence[Finding]) -> None:
    """The findings in order, topics aligned; plain text off a terminal."""
    width = max((len(f.topic) for f in findings), default=0)
    console.print("detected:", style="bold")
    for finding in findings:
        console.print(Text("  ").append_text(finding_line(finding, width)), soft_wrap=True)
