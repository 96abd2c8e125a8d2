"""The layer cap is honest: a model at the cap builds, saves, loads and runs.

Keras walks functional graphs recursively (about one frame per layer), so models of
1,000 layers and more used to fail with "maximum recursion depth exceeded".
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dlcli.errors import RecipeError
from dlcli.recipe import load_recipe_text
from dlcli.recipe.graph import MAX_LAYERS


def _chain(layers: int) -> str:
    """``layers`` Dense layers: blocks of 100 (repeat is capped at 1,000) plus the rest."""
    body = layers - 1
    entries = "".join("    - b: {repeat: 100}\n" for _ in range(body // 100))
    entries += "    - Dense: 3\n" * (body % 100)
    return (
        "name: deep\nmodel:\n  input: [3]\n  blocks:\n    b: [Dense: 3]\n  layers:\n"
        + entries
        + "    - Dense: {units: 2, activation: softmax}\n"
    )


def test_one_past_the_cap_is_refused_before_building() -> None:
    assert len(load_recipe_text(_chain(MAX_LAYERS)).model.layers) == MAX_LAYERS
    with pytest.raises(RecipeError, match=f"more than {MAX_LAYERS:,} layers"):
        load_recipe_text(_chain(MAX_LAYERS + 1))


@pytest.mark.slow
def test_a_model_at_the_cap_builds_saves_loads_and_predicts(tmp_path: Path) -> None:
    from dlcli.modeling.builder import build_model
    from dlcli.modeling.loading import load_model_file
    from dlcli.modeling.summary import summarize

    model = build_model(load_recipe_text(_chain(MAX_LAYERS)).model)
    assert len(model.layers) == MAX_LAYERS + 1  # and the input
    # Hand count: 3x3 kernels + 3 biases per hidden layer, 3x2 + 2 for the output.
    assert model.count_params() == (MAX_LAYERS - 1) * 12 + 8
    assert summarize(model).total_params == model.count_params()
    path = tmp_path / "deep.keras"
    model.save(path)
    loaded = load_model_file(path)
    # Oracle: the same forward pass in numpy, from the saved weights.
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float64")
    expected = x
    weights = loaded.get_weights()
    for kernel, bias in zip(weights[::2], weights[1::2], strict=True):
        expected = expected @ kernel + bias
    expected = np.exp(expected - expected.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    got = np.asarray(loaded(x.astype("float32"), training=False))  # eager: no tracing
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-5)
    assert [w.shape for w in weights] == [w.shape for w in model.get_weights()]


@pytest.mark.slow
def test_validate_builds_a_1200_layer_recipe_in_a_fresh_process(tmp_path: Path) -> None:
    recipe = tmp_path / "deep.yaml"
    recipe.write_text(_chain(1200))
    result = subprocess.run(
        [sys.executable, "-m", "dlcli", "validate", str(recipe)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, textwrap.shorten(result.stderr, 2000)
    assert "recursion" not in result.stderr
    assert re.search(r"^\s+layers\s+1200$", result.stdout, flags=re.M), result.stdout
