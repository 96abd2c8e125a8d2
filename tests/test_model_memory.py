"""A model too large to train here is refused before any weight is allocated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from train_helpers import image_data, write_recipe

from dlcli.errors import ModelBuildError
from dlcli.modeling import memory
from dlcli.modeling.builder import build_model, count_parameters
from dlcli.recipe import load_recipe_text

HUGE = [
    {"Rescaling": {"scale": 1 / 255}},
    {"Flatten": None},
    {"Dense": {"units": 8}},
    {"Dense": {"units": 1_000_000_000, "name": "huge"}},
    {"Dense": {"units": 2, "activation": "softmax"}},
]


def test_counts_match_keras_count_params_per_layer() -> None:
    from dlcli.backend import keras

    text = (
        "name: c\nmodel:\n  input: [6, 6, 3]\n  layers:\n"
        "    - Conv2D: {filters: 4, kernel_size: 3}\n"
        "    - BatchNormalization\n"
        "    - Reshape: {target_shape: [16, 4]}\n"
        "    - MultiHeadAttention: {num_heads: 2, key_dim: 3, inputs: [reshape, reshape]}\n"
        "    - Flatten\n"
        "    - Dense: 5\n"
    )
    spec = load_recipe_text(text, "c.yaml").model
    counts = count_parameters(spec, (6, 6, 3))
    # Oracle: the same network written by hand in Keras, its weights really allocated.
    inp = keras.Input((6, 6, 3))
    hand = [
        keras.layers.Conv2D(4, 3),
        keras.layers.BatchNormalization(),
        keras.layers.Reshape((16, 4)),
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=3),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
    ]
    x = inp
    for layer in hand:
        x = layer(x, x) if isinstance(layer, keras.layers.MultiHeadAttention) else layer(x)
    oracle = keras.Model(inp, x)
    assert [c.total for c in counts] == [layer.count_params() for layer in hand]
    assert sum(c.total for c in counts) == oracle.count_params()
    frozen = sum(int(w.numpy().size) for w in oracle.non_trainable_weights)
    assert sum(c.non_trainable for c in counts) == frozen == 8  # BN moving mean/variance
    assert [c.name for c in counts][:2] == ["conv2d", "batch_normalization"]


def test_trial_build_leaves_no_deferred_weights_behind() -> None:
    """The huge layer's deferred variable must not be allocated by a later stateless scope."""
    from dlcli.backend import keras

    spec = load_recipe_text(
        "name: h\nmodel:\n  input: [4]\n  layers:\n    - Dense: {units: 1000000000}\n", "h.yaml"
    ).model
    (only,) = count_parameters(spec, (4,))
    assert only.total == 5 * 1_000_000_000
    started = time.monotonic()
    with keras.StatelessScope():  # on exit Keras initialises every deferred variable
        pass
    assert time.monotonic() - started < 1


def test_build_refuses_a_model_too_large_fast() -> None:
    text = (
        "name: h\nmodel:\n  input: [16, 16, 1]\n  layers:\n"
        "    - Flatten\n    - Dense: 8\n    - Dense: {units: 1000000000, name: huge}\n"
        "    - Dense: 2\n"
    )
    spec = load_recipe_text(text, "h.yaml").model
    started = time.monotonic()
    with pytest.raises(ModelBuildError) as info:
        build_model(spec)
    assert time.monotonic() - started < 3
    message = info.value.format()
    assert message.startswith("h.yaml:7:7: ")
    assert "layer 3 'huge' (Dense)" in message
    params = 8 * 1_000_000_000 + 1_000_000_000  # kernel 8 x units, bias units
    assert f"{params:,} parameters" in message
    assert f"{params * 16 / 2**30:,.1f} GiB" in message  # x4 bytes x4 copies


def test_available_memory_is_bounded_by_meminfo() -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo")
    fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines())
    kernel = int(fields["MemAvailable"].split()[0]) * 1024
    available = memory.available_bytes()
    assert available is not None
    assert 0 < available <= kernel * 1.1  # MemAvailable moves a little between reads


@pytest.mark.parametrize("command", ["validate", "train"])
def test_cli_refuses_with_exit_2_before_allocating(
    command: str, tmp_path: Path, image_folder: Path, run_dlcli
) -> None:
    recipe = write_recipe(tmp_path / "huge.yaml", data=image_data(image_folder), layers=HUGE)
    args = [command, str(recipe)]
    if command == "train":
        args += ["--out", str(tmp_path / "run")]
    started = time.monotonic()
    result = run_dlcli(*args, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-2000:]
    assert "'huge' (Dense)" in result.stderr
    assert "9,000,000,000 parameters" in result.stderr
    assert "OOM" not in result.stderr and "Traceback" not in result.stderr
    assert elapsed < 60  # was 15 s of allocation and an OOM before; now a start-up and a check
    assert not (tmp_path / "run").exists()


def _fake_cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_and_v1_limits_are_read(tmp_path: Path, monkeypatch) -> None:
    v2 = _fake_cgroup(
        tmp_path / "v2",
        {
            "memory.max": "1073741824\n",
            "memory.current": "536870912\n",
            "memory.stat": "anon 1\ninactive_file 268435456\nactive_file 5\n",
        },
    )
    monkeypatch.setattr(memory, "_CGROUP", v2)
    # 1 GiB limit - (512 MiB used - 256 MiB reclaimable cache) = 768 MiB
    assert memory._cgroup_available() == 768 * 2**20
    (v2 / "memory.max").write_text("max\n")
    assert memory._cgroup_available() is None
    v1 = _fake_cgroup(
        tmp_path / "v1",
        {
            "memory/memory.limit_in_bytes": "2147483648\n",
            "memory/memory.usage_in_bytes": "1073741824\n",
            "memory/memory.stat": "total_inactive_file 0\n",
        },
    )
    monkeypatch.setattr(memory, "_CGROUP", v1)
    assert memory._cgroup_available() == 2**30


def test_a_container_limit_below_the_model_refuses_it(tmp_path: Path, monkeypatch) -> None:
    limit = _fake_cgroup(
        tmp_path, {"memory.max": str(200 * 2**20), "memory.current": "0", "memory.stat": ""}
    )
    monkeypatch.setattr(memory, "_CGROUP", limit)
    spec = load_recipe_text(
        "name: m\nmodel:\n  input: [4096]\n  layers:\n    - Dense: {units: 4096, name: wide}\n",
        "m.yaml",
    ).model
    params = 4096 * 4096 + 4096
    with pytest.raises(ModelBuildError) as info:
        build_model(spec)
    message = info.value.format()
    assert f"'wide' (Dense): {params:,} parameters need {params * 16 / 2**20:,.1f} MiB" in message
    assert "than the 200.0 MiB of memory available" in message
