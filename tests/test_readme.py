"""The README's promises: its recipe is valid, its commands exist, and the main job works."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from dlcli.cli import main


def _readme(repo_root: Path) -> str:
    return (repo_root / "README.md").read_text(encoding="utf-8")


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_has_exactly_the_two_setup_commands(repo_root: Path) -> None:
    blocks = [b.strip() for b in _bash_blocks(_readme(repo_root))]
    assert blocks[0] == "pip install -e . && dlcli train recipes/digits.yaml"
    assert blocks[1] == "pip install -e '.[test]' && pytest"
    ci = (repo_root / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && pytest" in ci


def test_readme_recipe_validates(repo_root: Path, tmp_path: Path, capsys) -> None:
    text = re.search(r"```yaml\n(.*?)```", _readme(repo_root), flags=re.S).group(1)
    # The example's data paths are relative to a recipe in recipes/.
    (tmp_path / "data").symlink_to(repo_root / "data")
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "readme.yaml"
    recipe.write_text(text)
    assert main(["validate", str(recipe)]) == 0
    assert "params" in capsys.readouterr().out


def test_every_command_in_the_readme_table_exists(repo_root: Path) -> None:
    import typer.main

    from dlcli.cli import build_app

    group = typer.main.get_command(build_app())
    listed = set(re.findall(r"^\| `dlcli (\w+)", _readme(repo_root), flags=re.M))
    assert listed, "no command table found"
    assert listed <= set(group.commands), listed - set(group.commands)


def test_readme_paths_exist(repo_root: Path) -> None:
    text = _readme(repo_root)
    for path in set(re.findall(r"\((docs/[\w./-]+)\)", text)):
        assert (repo_root / path).exists(), path
    for block in _bash_blocks(text):
        for word in shlex.split(block, comments=True):
            if word.startswith(("recipes/", "data/")):
                assert (repo_root / word).exists(), word


@pytest.mark.slow
def test_main_job_trains_digits_to_097(repo_root: Path, run_dlcli, tmp_path: Path) -> None:
    """The README's main command, as a newcomer runs it (default run directory under ./runs)."""
    result = run_dlcli("train", str(repo_root / "recipes" / "digits.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "runs" / "digits").iterdir())
    assert len(runs) == 1
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["final"]["val_accuracy"] >= 0.97
    assert metrics["epochs_run"] == metrics["epochs_planned"] == 15
