"""Layer entries, blocks, generated names and graph references (no TensorFlow)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from dlcli.errors import RecipeError
from dlcli.recipe import INPUT, load_recipe_text
from dlcli.recipe.layers import snake_case


def model(layers: str, blocks: str = "", extra: str = "") -> str:
    text = "name: t\nmodel:\n  input: [8, 8, 3]\n"
    if blocks:
        text += "  blocks:\n" + textwrap.indent(textwrap.dedent(blocks), "    ")
    text += "  layers:\n" + textwrap.indent(textwrap.dedent(layers), "    ")
    return text + extra


def layers_of(text: str) -> list[tuple[str, str, list[str], dict]]:
    recipe = load_recipe_text(text, "t.yaml")
    return [(s.type, s.name, s.inputs, s.args) for s in recipe.model.layers]


def problems_of(text: str, **kw) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, "t.yaml", **kw)
    return [p.format() for p in info.value.problems]


def test_entry_forms() -> None:
    got = layers_of(
        model(
            """\
            - Flatten
            - Dropout: 0.25
            - Dense: {units: 3, activation: relu}
            - Reshape: [3, 1]
            - Flatten: null
            """
        )
    )
    assert got == [
        ("Flatten", "flatten", [INPUT], {}),
        ("Dropout", "dropout", ["flatten"], {"rate": 0.25}),
        ("Dense", "dense", ["dropout"], {"units": 3, "activation": "relu"}),
        ("Reshape", "reshape", ["dense"], {"target_shape": [3, 1]}),
        ("Flatten", "flatten_1", ["reshape"], {}),
    ]


def test_generated_names_follow_keras_and_skip_given_ones() -> None:
    got = layers_of(
        model(
            """\
            - Conv2D: {filters: 2, kernel_size: 1}
            - Conv2D: {filters: 2, kernel_size: 1, name: conv2d_1}
            - Conv2D: {filters: 2, kernel_size: 1}
            - MaxPooling2D
            - GlobalAveragePooling2D
            """
        )
    )
    assert [name for _, name, _, _ in got] == [
        "conv2d",
        "conv2d_1",
        "conv2d_2",
        "max_pooling2d",
        "global_average_pooling2d",
    ]


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        ("Conv2D", "conv2d"),
        ("BatchNormalization", "batch_normalization"),
        ("LSTM", "lstm"),
        ("Conv2DTranspose", "conv2d_transpose"),
        ("MultiHeadAttention", "multi_head_attention"),
    ],
)
def test_snake_case(cls: str, name: str) -> None:
    assert snake_case(cls) == name


def test_residual_graph_inputs() -> None:
    got = layers_of(
        model(
            """\
            - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: a}
            - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: b}
            - Add: {inputs: [a, b], name: sum}
            - Concatenate: {inputs: [sum, input]}
            """
        )
    )
    assert [(n, i) for _, n, i, _ in got] == [
        ("a", [INPUT]),
        ("b", ["a"]),
        ("sum", ["a", "b"]),
        ("concatenate", ["sum", INPUT]),
    ]


BLOCK = """\
res:
  - Conv2D: {filters: 4, kernel_size: 3, padding: same}
  - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: conv_b}
  - Add: {inputs: [block_input, conv_b]}
"""


def test_blocks_expand_with_instance_prefixes() -> None:
    got = layers_of(
        model(
            """\
            - Conv2D: {filters: 4, kernel_size: 1, name: stem}
            - res: {repeat: 2}
            - res
            - Add: {inputs: [res_1, res_3]}
            """,
            BLOCK,
        )
    )
    expected = [("stem", [INPUT])]
    prev = "stem"
    for k in (1, 2, 3):
        p = f"res_{k}"
        expected += [
            (f"{p}_conv2d", [prev]),
            (f"{p}_conv_b", [f"{p}_conv2d"]),
            (f"{p}_add", [prev, f"{p}_conv_b"]),
        ]
        prev = f"{p}_add"
    expected.append(("add", ["res_1_add", "res_3_add"]))  # instance name = its last layer
    assert [(n, i) for _, n, i, _ in got] == expected


def test_block_entry_name_overrides_prefix() -> None:
    got = layers_of(model("- res: {name: stage}\n- res: {name: deep, repeat: 2}\n", BLOCK))
    names = [n for _, n, _, _ in got]
    assert names[:3] == ["stage_conv2d", "stage_conv_b", "stage_add"]
    assert names[3] == "deep_1_conv2d" and names[6] == "deep_2_conv2d"


def test_block_problems() -> None:
    text = model(
        "- res\n",
        """\
        res:
          - Dense: {units: 2, inputs: later}
          - Dense: {units: 2, name: later}
          - Dense: {units: 2, inputs: nowhere}
        """,
    )
    found = problems_of(text)
    assert any("forward reference to 'later'" in p for p in found)
    assert any("unknown input 'nowhere'" in p and "block_input" in p for p in found)


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            "- Conv2d: {filters: 2, kernel_size: 1}",
            "unknown layer 'Conv2d' (did you mean 'Conv2D'?)",
        ),
        ("- Dense: {unit: 2}", "unknown argument 'unit' for Dense (did you mean 'units'?)"),
        ("- Dense: {activation: relu}", "Dense needs the argument 'units'"),
        ("- Add: 2", "Add takes no positional argument"),
        ("- Dense: {units: 2, name: a/b}", "bad layer name"),
        ("- Dense: {units: 2, name: input}", "'input' is reserved"),
        ("- Dense: {units: 2, inputs: [a]}", "unknown input 'a'"),
        ("- Dense: {units: 2, inputs: []}", "bad inputs"),
        ("- Lambda: {function: x}", "cannot be used in a recipe"),
        ("- 3", "bad layer entry"),
        ("- {}", "bad layer entry"),
    ],
)
def test_entry_problems(layers: str, message: str) -> None:
    assert any(message in p for p in problems_of(model(layers + "\n")))


def test_several_problems_reported_together_in_file_order() -> None:
    text = model(
        """\
        - Dense: {unit: 2}
        - Conv2d: 3
        - Dense: {units: 2, inputs: ghost}
        """,
        extra="train:\n  epochs: zero\n",
    )
    found = problems_of(text)
    assert len(found) == 4
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines) == [5, 6, 7, 9]


def test_failed_entry_names_are_not_reported_again() -> None:
    text = model("- Dense: {unit: 2, name: first}\n- Dense: {units: 2, inputs: first}\n")
    assert len(problems_of(text)) == 1


def test_augment_entries_are_sequential() -> None:
    text = (
        "name: t\ndata:\n  train: imgs\n  image_size: [8, 8]\n  augment:\n"
        "    - RandomFlip: horizontal\n    - RandomRotation: 0.1\n"
        "model: {layers: [Flatten]}\n"
    )
    aug = load_recipe_text(text).data.augment
    assert [(a.type, a.name, a.inputs, a.args) for a in aug] == [
        ("RandomFlip", "random_flip", [INPUT], {"mode": "horizontal"}),
        ("RandomRotation", "random_rotation", ["random_flip"], {"factor": 0.1}),
    ]
    bad = text.replace("0.1\n", "{factor: 0.1, inputs: input}\n")
    assert any("'inputs' is not allowed" in p for p in problems_of(bad))


def test_no_tensorflow_imported() -> None:
    import subprocess

    code = (
        "import sys; from dlcli.recipe import load_recipe_text;"
        "load_recipe_text('name: t\\nmodel: {input: [3], layers: [Dense: 2]}\\n');"
        "bad = [m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules];"
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_problem_list_is_capped() -> None:
    text = model("- Dense: {unit: 2}\n" * 60)
    found = problems_of(text)
    assert len(found) == 51
    assert found[-1] == "... and 10 more problems"


def test_booleans_are_not_taken_as_numbers() -> None:
    # True == 1 in Python and to Keras: `units: true` built a 1-unit layer, `Dropout: true`
    # (rate 1) dropped every value.
    found = problems_of(model("- Flatten\n- Dropout: true\n- Dense: {units: true}\n"))
    assert found == [
        "t.yaml:6:16: model.layers[1].Dropout: Dropout argument 'rate' is not a true/false "
        "switch; received: True (see `dlcli layers Dropout`)",
        "t.yaml:7:22: model.layers[2].Dense.units: Dense argument 'units' is not a true/false "
        "switch; received: True (see `dlcli layers Dense`)",
    ]
    found = problems_of(model("- Conv2D: {filters: 2, kernel_size: 3, groups: true}\n"))
    assert "Conv2D argument 'groups' is not a true/false switch; expected a number" in found[0]
    # real switches still take booleans
    got = layers_of(model("- Flatten\n- Dense: {units: 2, use_bias: false}\n"))
    assert got[1][3] == {"units": 2, "use_bias": False}
