"""A hostile ``config.json`` nested absurdly deep is refused by name, not a RecursionError."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from dlcli.errors import ModelLoadError
from dlcli.modeling.safety import MAX_CONFIG_DEPTH, check_keras_archive, find_unsafe_objects


def _keras_file(path: Path, config_text: str) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", config_text)
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


def _nested(levels: int) -> str:
    """A model-looking object whose config holds ``levels`` nested lists."""
    return '{"class_name": "Functional", "config": ' + "[" * levels + "]" * levels + "}"


def test_deep_config_is_refused_by_the_cli_with_exit_2(tmp_path: Path, run_dlcli) -> None:
    model = _keras_file(tmp_path / "deep.keras", _nested(200_000))
    result = run_dlcli("inspect", str(model), timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(model) in result.stderr
    assert "nested too deeply" in result.stderr
    assert "RecursionError" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("levels", [MAX_CONFIG_DEPTH + 5, 5_000, 200_000])
def test_depth_beyond_the_limit_is_refused_whether_or_not_json_can_parse_it(
    tmp_path: Path, levels: int
) -> None:
    model = _keras_file(tmp_path / "deep.keras", _nested(levels))
    with pytest.raises(ModelLoadError, match="nested too deeply") as info:
        check_keras_archive(model)
    assert info.value.problem.file == model


def test_depth_within_the_limit_is_walked_to_the_bottom(tmp_path: Path) -> None:
    # A Lambda hidden at the bottom of a deep (but allowed) config is still found.
    inner = {"class_name": "Lambda", "module": "keras.layers", "config": {"name": "l"}}
    text = json.dumps(inner)
    for _ in range(MAX_CONFIG_DEPTH - 5):
        text = "[" + text + "]"
    top = '{"class_name": "Functional", "module": "keras.src.models.functional", "config": '
    model = _keras_file(tmp_path / "ok.keras", top + text + "}")
    config = check_keras_archive(model)
    (found,) = find_unsafe_objects(config)
    assert "layer 'l' (Lambda)" in found
