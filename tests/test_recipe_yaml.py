"""The safe YAML reader: positions (1-based, counted by hand) and what it refuses."""

from __future__ import annotations

import time

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe.yamlread import MAX_BYTES, decode_recipe_bytes, format_path, read_yaml_text

TEXT = """\
name: demo
model:
  layers:
    - Dense: {units: 4}
    - Flatten
"""


def test_values_and_positions() -> None:
    tree, pos = read_yaml_text(TEXT, "r.yaml")
    assert tree == {"name": "demo", "model": {"layers": [{"Dense": {"units": 4}}, "Flatten"]}}
    assert pos.keys[("name",)] == (1, 1)
    assert pos.values[("name",)] == (1, 7)
    assert pos.keys[("model", "layers")] == (3, 3)
    assert pos.values[("model", "layers", 0)] == (4, 7)
    assert pos.keys[("model", "layers", 0, "Dense", "units")] == (4, 15)
    assert pos.values[("model", "layers", 0, "Dense", "units")] == (4, 22)
    assert pos.values[("model", "layers", 1)] == (5, 7)


def test_locate_falls_back_to_nearest_parent() -> None:
    _, pos = read_yaml_text(TEXT, "r.yaml")
    # an argument that does not exist (e.g. a missing one) points at its layer's args
    assert pos.locate(("model", "layers", 0, "Dense", "filters")) == ((4, 14), None)


def test_format_path() -> None:
    assert format_path(("model", "layers", 3, "Conv2D", "filters")) == (
        "model.layers[3].Conv2D.filters"
    )
    assert format_path(()) == ""


def test_dates_stay_text_and_scalars_are_typed() -> None:
    tree, _ = read_yaml_text("a: 2020-01-02\nb: 1e-3\nc: yes\nd: ~\ne: '7'\n", None)
    assert tree == {"a": "2020-01-02", "b": 1e-3, "c": True, "d": None, "e": "7"}


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ("a: &x 1\nb: *x\n", "anchors (&) and aliases (*)", (1, 4)),
        ("a: 1\nb: [1,\n", "YAML syntax error", None),
        ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1, column 1)", (2, 1)),
        ("a:\n\tb: 1\n", "tab character in indentation", (2, 1)),
        ("a: !!python/name:os.system x\n", "unsupported YAML tag", (1, 4)),
        ("a: !!binary aGk=\n", "unsupported YAML tag", (1, 4)),
        ("<<: {a: 1}\n", "merge keys", (1, 1)),
        ("1: a\n", "mapping keys must be names", (1, 1)),
        ("a: [" * 30 + "]" * 30 + "\n", "nests deeper than 50 levels", None),
        ("a: 1\n---\nb: 2\n", "expected a single document", (2, 1)),
    ],
)
def test_refused(text: str, message: str, where: tuple[int, int] | None) -> None:
    with pytest.raises(RecipeError) as info:
        read_yaml_text(text, "r.yaml")
    problem = info.value.problem
    assert message in problem.message
    assert problem.file == "r.yaml"
    if where is not None:
        assert (problem.line, problem.column) == where


def test_tab_inside_a_value_is_fine() -> None:
    tree, _ = read_yaml_text('a: "x\\ty"\nb: 1  \t# comment\n', None)
    assert tree == {"a": "x\ty", "b": 1}


def test_billion_laughs_fails_fast() -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    with pytest.raises(RecipeError, match="anchors"):
        read_yaml_text("\n".join(rows) + "\n", "lol.yaml")
    assert time.perf_counter() - start < 0.5


def test_bytes_checks() -> None:
    with pytest.raises(RecipeError, match="too large"):
        decode_recipe_bytes(b"#" * (MAX_BYTES + 1), "big.yaml")
    with pytest.raises(RecipeError, match="binary") as info:
        decode_recipe_bytes(b"a: 1\nb: \x00\n", "bin.yaml")
    assert (info.value.problem.line, info.value.problem.column) == (2, 4)
    with pytest.raises(RecipeError, match="not valid UTF-8") as info:
        decode_recipe_bytes(b"a: 1\nname: caf\xe9\n", "latin.yaml")
    assert (info.value.problem.line, info.value.problem.column) == (2, 10)
    assert decode_recipe_bytes("\ufeffa: 1\n".encode(), None) == "a: 1\n"


def test_empty_document_reads_as_none() -> None:
    assert read_yaml_text("# only a comment\n", None)[0] is None
