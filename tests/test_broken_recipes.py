"""The broken-recipe corpus: every file must fail `dlcli validate` cleanly with exit 2.

Each file in tests/broken_recipes/ starts with comment lines:
``# expect: TEXT`` (must appear in the error output), ``# at: LINE:COL`` (the position the
message must point at, counted by hand), ``# args: ...`` (extra CLI arguments) and
``# needs: build`` (the problem only shows when the model is built, with TensorFlow).
All other files are run with TensorFlow and Keras made unimportable, which proves the
schema checks never load them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "broken_recipes"
FILES = sorted(p for p in CORPUS.iterdir() if p.is_file())


def _headers(path: Path) -> dict[str, str]:
    text = path.read_bytes().decode("utf-8", "replace")
    return dict(re.findall(r"^# (expect|at|args|needs): (.*)$", text, flags=re.M))


@pytest.fixture(scope="module")
def no_tf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PYTHONPATH with fake tensorflow/keras packages that fail loudly when imported."""
    root = tmp_path_factory.mktemp("no_tf")
    for name in ("tensorflow", "keras"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(f"raise RuntimeError('{name} was imported')\n")
    return {"PYTHONPATH": str(root)}


def test_corpus_is_big_enough() -> None:
    assert len(FILES) >= 28
    for path in FILES:
        assert "expect" in _headers(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_broken_recipe_fails_cleanly(path: Path, run_dlcli, no_tf) -> None:
    headers = _headers(path)
    build = headers.get("needs") == "build"
    args = shlex.split(headers.get("args", ""))
    result = run_dlcli("validate", str(path), *args, env=None if build else no_tf)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert headers["expect"] in result.stderr, result.stderr
    if "at" in headers:
        assert f"{path.name}:{headers['at']}:" in result.stderr, result.stderr


def test_huge_recipe_is_refused_before_parsing(tmp_path: Path, run_dlcli, no_tf) -> None:
    huge = tmp_path / "huge.yaml"
    line = "# " + "x" * 1000 + "\n"
    huge.write_text("name: huge\n" + line * 1100)  # ~1.1 MB, over the 1 MiB cap
    result = run_dlcli("validate", str(huge), env=no_tf)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "the recipe is too large" in result.stderr
    assert "huge.yaml" in result.stderr


def test_missing_file_is_a_user_error(tmp_path: Path, run_dlcli, no_tf) -> None:
    result = run_dlcli("validate", str(tmp_path / "nope.yaml"), env=no_tf)
    assert result.returncode == 2
    assert "recipe file not found" in result.stderr
