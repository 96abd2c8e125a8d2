"""``dlcli init DATA``: look at a folder or table and write a commented starter recipe."""

from __future__ import annotations

from pathlib import Path

import typer

HELP = """Look at a dataset and write a commented starter recipe that trains as it is.

DATA is a folder of class folders (images, sound files or .txt files; `train/` and `test/` parts are used as training and validation), or a table (.csv, .parquet) with a label column. It prints what it detected and why: the kind of data, what the labels are (classes, tags, numbers), per-class counts and any imbalance, the image size (median of the sampled images) and colour mode, or the sample rate and a clip length covering 95% of the sound files; and picks a model from the shipped recipes for that kind.
"""  # noqa: E501


def register(app: typer.Typer) -> None:
    @app.command("init", help=HELP)
    def init_command(
        data: Path = typer.Argument(..., metavar="DATA", help="Folder or table to look at."),
        out: Path = typer.Option(Path("recipe.yaml"), "--out", "-o", help="Recipe file to write."),
        label: str | None = typer.Option(
            None,
            "--label",
            help="Label column of a table (default: label, labels, class, target or y).",
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    ) -> int:
        return run_init(data, out=out, label=label, overwrite=overwrite)


def run_init(data: Path, *, out: Path, label: str | None, overwrite: bool) -> int:
    from dlcli.atomic import check_writable, write_text
    from dlcli.console import make_console
    from dlcli.render.init_output import show_findings
    from dlcli.starter import draft_recipe

    if out.suffix.lower() not in (".yaml", ".yml"):
        from dlcli.errors import UsageError

        raise UsageError(
            "a recipe file name ends in .yaml",
            field="--out",
            expected="a file name like recipe.yaml",
            received=str(out),
        )
    check_writable(out, overwrite=overwrite)
    starter = draft_recipe(data, out=out, label=label)
    write_text(out, starter.text)
    console = make_console()
    show_findings(console, starter.findings)
    console.print(
        f"wrote {out}: check it with `dlcli validate {out}`, train with `dlcli train {out}`",
        markup=False,
        soft_wrap=True,
    )
    return 0
