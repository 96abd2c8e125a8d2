"""``dlcli tune``: every bad input exits 2 naming the key or URL, before any training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_ports
from tune_helpers import wine_recipe, wine_space

from dlcli.errors import RecipeError
from dlcli.tuning.space import check_against_recipe, read_space

PROBE = """
import sys
from dlcli.cli import main
code = main({argv!r})
print("TENSORFLOW=" + str("tensorflow" in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("train.optimizer.learning_rate: {log_uniform: [0.01, 0.001]}\n", ["empty range", ":1:"]),
        ("train.optimizer.learning_rate: {uniform: [0.1, 0.1]}\n", ["empty range"]),
        (
            "data.batch_size: {choice: [8]}\n"
            "train.optimizer.learning_rate: {log_uniform: [0, 0.1]}\n",
            ["above 0", ":2:"],
        ),
        ("model.layers[1].Dense.units: {int: [0, 16], log: true}\n", ["above 0"]),
        ("model.layers[1].Dense.units: {choice: []}\n", ["empty choice"]),
        ("model.layers[1].Dense.units: {choise: [1, 2]}\n", ["did you mean 'choice'"]),
        ("model.layers[1].Dense.units: {int: [1.5, 4]}\n", ["two integers"]),
        ("model.layers[1].Dense.units: {int: [1, 4], step: 8}\n", ["wider than the range"]),
        ("- a\n- b\n", ["must be a mapping"]),
    ],
)
def test_bad_space_is_refused_with_its_line(tmp_path: Path, text: str, words: list[str]) -> None:
    space = wine_space(tmp_path / "space.yaml", text)
    with pytest.raises(RecipeError) as info:
        read_space(space)
    message = info.value.format()
    assert str(space) in message
    for word in words:
        assert word in message, message


def test_key_that_is_no_recipe_path_gets_did_you_mean(tmp_path: Path) -> None:
    recipe = wine_recipe(tmp_path / "r.yaml")
    space = read_space(
        wine_space(
            tmp_path / "s.yaml",
            "train.optimizer.learning_rate: {choice: [0.1]}\n"
            "train.optimizer.learnin_rate: {uniform: [0.1, 0.2]}\n",
        )
    )
    with pytest.raises(RecipeError) as info:
        check_against_recipe(space, recipe, [])
    message = info.value.format()
    assert f"{tmp_path / 's.yaml'}:2:" in message
    assert "train.optimizer.learnin_rate" in message
    assert "did you mean 'learning_rate'" in message


def test_value_the_recipe_refuses_is_named(tmp_path: Path) -> None:
    recipe = wine_recipe(tmp_path / "r.yaml")
    space = read_space(wine_space(tmp_path / "s.yaml", "data.batch_size: {int: [-4, 16]}\n"))
    with pytest.raises(RecipeError) as info:
        check_against_recipe(space, recipe, [])
    assert "data.batch_size=-4" in info.value.format()


def test_good_space_reads_every_kind(tmp_path: Path) -> None:
    space = read_space(
        wine_space(
            tmp_path / "s.yaml",
            "train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}\n"
            "model.layers[1].Dense.units: {int: [4, 16], step: 4}\n"
            "data.batch_size: {choice: [8, 16]}\n"
            "train.optimizer.beta_1: {uniform: [0.8, 0.95]}\n",
        )
    )
    kinds = {p.key: (p.kind, p.low, p.high, p.step, p.log) for p in space}
    assert kinds["train.optimizer.learning_rate"] == ("log_uniform", 1e-4, 1e-2, None, True)
    assert kinds["model.layers[1].Dense.units"] == ("int", 4, 16, 4, False)
    assert [p.choices for p in space if p.kind == "choice"] == [(8, 16)]
    check_against_recipe(space, wine_recipe(tmp_path / "r.yaml"), [])  # all edges load


@pytest.mark.parametrize(
    ("space", "storage", "named"),
    [
        ("train.optimizer.learnin_rate: {uniform: [0.1, 0.2]}\n", None, "learnin_rate"),
        ("train.optimizer.learning_rate: {log_uniform: [0.0, 0.1]}\n", None, "learning_rate"),
        ("model.layers[1].Dense.units: {int: [8, 4]}\n", None, "empty range"),
        (None, "postgresql://u:secret@127.0.0.1:{port}/db", "127.0.0.1:{port}"),
    ],
)
def test_cli_bad_input_exits_2_before_training(
    tmp_path: Path, space: str | None, storage: str | None, named: str
) -> None:
    port = free_ports(1)[0]  # nothing listens there
    recipe = wine_recipe(tmp_path / "r.yaml")
    space_file = wine_space(tmp_path / "s.yaml", *([space] if space else []))
    args = ["tune", str(recipe), "--space", str(space_file), "--out", str(tmp_path / "t")]
    if storage:
        args += ["--storage", storage.format(port=port)]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "TENSORFLOW=False" in proc.stdout  # refused before anything trained
    assert named.format(port=port) in proc.stderr
    assert "secret" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "t" / "trials").exists()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("90", 90), ("30m", 1800), ("2h", 7200), ("1.5d", 129600)]
)
def test_timeout_units(text: str, seconds: float) -> None:
    from dlcli.commands.tune import parse_timeout

    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["2x", "0s", "-3m", "h", ""])
def test_bad_timeout_is_refused(text: str) -> None:
    from dlcli.commands.tune import parse_timeout
    from dlcli.errors import UsageError

    with pytest.raises(UsageError, match="--timeout"):
        parse_timeout(text)
