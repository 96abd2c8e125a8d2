"""Mistakes with block parameters: exit 2, one line each, pointing at the use and the block.

Every position below was counted by hand in the recipe text (line:column, from 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dlcli.cli import main

TOP = "name: errs\nmodel:\n  input: [8, 8, 3]\n  blocks:\n"


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *args: str):
    path = tmp_path / "r.yaml"
    path.write_text(TOP + text)
    code = main(["validate", str(path), *args])
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()]
    return code, path, [line.removeprefix("error: ") for line in lines if line]


UP = """\
    up:
      params: [skip, {filters: 4}]
      layers:
        - UpSampling2D: 1
        - Concatenate: {inputs: [up_sampling2d, "${skip}"]}
        - Conv2D: {filters: "${filters}", kernel_size: 1}
  layers:
    - Conv2D: {filters: 4, kernel_size: 1, name: stem}
"""


def test_unknown_and_missing_parameters_point_at_use_and_declaration(tmp_path, capsys) -> None:
    uses = "    - up: {skip: stem, filtres: 3}\n    - up: {filters: 2}\n"
    code, p, lines = _validate(tmp_path, UP + uses, capsys, "--no-build")
    assert code == 2
    assert lines == [
        f"{p}:13:24: model.layers[1].up.filtres: unknown parameter 'filtres' for block 'up'; "
        "expected one of its parameters (skip, filters), 'repeat' or 'name' "
        f"(did you mean 'filters'?; its parameters are declared at {p}:6:15)",
        f"{p}:14:11: model.layers[2].up: block 'up' needs parameter 'skip' (it has no default) "
        f"(e.g. `- up: {{skip: ...}}`; declared at {p}:6:16)",
    ]


def test_unused_parameter_and_unknown_reference_point_at_the_block(tmp_path, capsys) -> None:
    block = """\
    conv:
      params: {filters: 8, strides: 1}
      layers:
        - Conv2D: {filters: "${filters}", kernel_size: "${size}"}
  layers:
    - conv
"""
    code, p, lines = _validate(tmp_path, block, capsys, "--no-build")
    assert code == 2
    assert lines == [
        f"{p}:6:28: model.blocks.conv.params.strides: parameter 'strides' of block 'conv' is "
        "never used in its layers (use it as ${strides} in a layer's arguments, or remove it)",
        f"{p}:8:56: model.blocks.conv.layers[0].Conv2D.kernel_size: '${{size}}' names no "
        "parameter of block 'conv' (its parameters: filters, strides)",
    ]


TYPED = """\
    conv:
      params: {filters: 8, order: last}
      layers:
        - Conv2D: {filters: "${filters}", kernel_size: 1, data_format: "channels_${order}"}
  layers:
    - conv
"""


def test_a_bad_value_is_reported_at_the_use_naming_the_block_line(tmp_path, capsys) -> None:
    uses = "    - conv: {filters: true}\n    - conv: {order: [1, 2]}\n"
    code, p, lines = _validate(tmp_path, TYPED + uses, capsys, "--no-build")
    assert code == 2
    assert lines == [
        f"{p}:11:23: model.layers[1].conv.filters: Conv2D argument 'filters' is not a true/false "
        "switch; received: True (see `dlcli layers Conv2D`; block 'conv' puts ${filters} into "
        f"model.blocks.conv.layers[0].Conv2D.filters at {p}:8:29)",
        f"{p}:12:21: model.layers[2].conv.order: '${{order}}' is inside a text here, so its "
        "value must be text or a number; received: [1, 2] (block 'conv' puts ${order} into "
        f"model.blocks.conv.layers[0].Conv2D.data_format at {p}:8:72)",
    ]


def test_a_bad_default_names_the_use_the_block_line_and_the_default(tmp_path, capsys) -> None:
    block = """\
    conv:
      params: {filters: true}
      layers:
        - Conv2D: {filters: "${filters}", kernel_size: 1}
  layers:
    - conv
"""
    code, p, lines = _validate(tmp_path, block, capsys, "--no-build")
    assert code == 2
    assert lines == [
        f"{p}:10:7: model.layers[0].conv: Conv2D argument 'filters' is not a true/false switch; "
        "received: True (see `dlcli layers Conv2D`; block 'conv' puts ${filters} into "
        f"model.blocks.conv.layers[0].Conv2D.filters at {p}:8:29; 'filters' is its default, "
        f"declared at {p}:6:25)"
    ]


def test_a_value_keras_refuses_names_the_block_layer_and_the_use(tmp_path, capsys) -> None:
    code, p, lines = _validate(tmp_path, TYPED + "    - conv: {filters: -3}\n", capsys)
    assert code == 2
    assert lines[0].startswith(
        f"{p}:8:11: model.blocks.conv.layers[0] (block use model.layers[1] at {p}:11:7): "
        "layer 2 'conv_2_conv2d' (Conv2D): "
    )
    assert "filters=-3" in lines[0]


def test_an_outside_layer_parameter_is_checked_where_the_block_is_used(tmp_path, capsys) -> None:
    uses = "    - up: {skip: stm}\n    - up: {skip: later}\n    - Dense: {units: 2, name: later}\n"
    code, p, lines = _validate(tmp_path, UP + uses, capsys, "--no-build")
    assert code == 2
    into = "model.blocks.up.layers[1].Concatenate.inputs[1]"
    put = f"block 'up' puts ${{skip}} into {into} at {p}:9:49"
    assert lines == [
        f"{p}:13:18: model.layers[1].up.skip: unknown input 'stm' (did you mean 'stem'?; {put})",
        f"{p}:14:18: model.layers[2].up.skip: forward reference to 'later' (defined later, at "
        f"model.layers[3]); a layer may only use earlier layers ({put})",
    ]


@pytest.mark.parametrize(
    ("block", "layers", "expected"),
    [
        (  # a plain (list) block has no parameters to substitute
            '    res:\n      - Dense: {units: "${n}"}\n',
            "    - res\n",
            "6:24: model.blocks.res[0].Dense.units: '${n}' names no parameter of block 'res' "
            "(it declares none: write the block as {params: {name: default}, layers: [...]})",
        ),
        (  # a plain block given a value keeps its old message, with the way out
            "    res:\n      - Dense: 2\n",
            "    - res: {units: 3}\n",
            "8:13: model.layers[0].res.units: unknown block argument 'units'; expected 'repeat' "
            "or 'name' (block 'res' takes no parameters (declare them with `params:` at ",
        ),
        (  # substitution is text only: no arithmetic
            "    b:\n      params: {n: 2}\n      layers:\n        - Dense: {units: '${n*2}'}\n",
            "    - b\n",
            "8:26: model.blocks.b.layers[0].Dense.units: bad parameter reference '${n*2}'",
        ),
        (  # a layer name is fixed where the block is defined
            "    b:\n      params: {n: 2}\n      layers:\n"
            "        - Dense: {units: '${n}', name: 'd${n}'}\n",
            "    - b\n",
            "8:40: model.blocks.b.layers[0].Dense.name: a layer name inside a block cannot "
            "come from a parameter",
        ),
        (  # substitution is one pass: a value given at a use is taken as it is
            "    b:\n      params: {n: 2}\n      layers:\n        - Dense: {units: '${n}'}\n",
            "    - b: {n: '${m}'}\n",
            "10:14: model.layers[0].b.n: a value given to a block cannot use '${...}'",
        ),
        (  # ${...} outside a block is a mistake, not a string
            "    b: [Dense: 2]\n",
            "    - Dense: {units: '${n}'}\n",
            "7:7: model.layers[0]: '${...}' is substituted only inside a block's layers",
        ),
        (  # a required parameter has no default: `repeat`/`name` are the block entry's
            "    b:\n      params: [repeat]\n      layers:\n        - Dense: {units: '${x}'}\n",
            "    - b\n",
            "6:16: model.blocks.b.params[0]: 'repeat' cannot name a parameter",
        ),
    ],
)
def test_definition_mistakes(tmp_path, capsys, block: str, layers: str, expected: str) -> None:
    code, p, lines = _validate(tmp_path, block + "  layers:\n" + layers, capsys, "--no-build")
    assert code == 2
    assert any(line.startswith(f"{p}:{expected}") for line in lines), lines


def test_unquoted_reference_in_a_flow_mapping_gets_a_hint(tmp_path, capsys) -> None:
    text = "    b:\n      params: {n: 2}\n      layers:\n        - Dense: {units: ${n}}\n"
    code, p, lines = _validate(tmp_path, text + "  layers:\n    - b\n", capsys)
    assert code == 2
    assert lines[0].startswith(f"{p}:8:")
    assert lines[0].endswith(
        '(inside [...] or {...}, quote a block parameter: {filters: "${filters}"})'
    )


def test_every_problem_of_a_block_is_listed_at_once(tmp_path, capsys) -> None:
    block = """\
    conv:
      params: {filters: 8}
      layers:
        - Conv2D: {filters: "${filtres}", kernel_size: 1}
        - Dens: 3
  layers:
    - conv
"""
    code, p, lines = _validate(tmp_path, block, capsys, "--no-build")
    assert code == 2
    assert [line.split(": ", 2)[0] for line in lines] == [f"{p}:6:16", f"{p}:8:29", f"{p}:9:11"]
    assert "never used" in lines[0] and "did you mean 'filters'?" in lines[1]
    assert "unknown layer 'Dens'" in lines[2]
