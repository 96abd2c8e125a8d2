"""Imports point one way (docs/architecture.md), and the TensorFlow-free layer imports in any
order.

The layers, left never importing right:
errors/recipe/targets/data.kinds <- backend <- modeling/data/devices <- engines <- tuning
<- render <- commands <- cli. The registries (``data.kinds``, ``targets``) reach their
implementations lazily, inside functions; nothing else imports upwards at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dlcli

ROOT = Path(dlcli.__file__).parent

LAYERS: dict[str, int] = {
    "errors": 0,
    "interrupts": 0,
    "atomic": 0,
    "console": 0,
    "recipe": 0,
    "targets": 0,
    "data.kinds": 0,
    # TensorFlow-free readers the kinds' sections use (the table kind's column types).
    "data.listing": 0,
    "data.table_read": 0,
    "data.table_columns": 0,
    "backend": 1,
    "modeling": 2,
    "data": 2,
    "devices": 2,
    "training": 3,
    "prediction": 3,
    "evaluation": 3,
    "viz": 3,
    "export": 3,
    "explain": 3,
    "starter": 3,
    "report": 3,
    "tuning": 4,
    "render": 5,
    "commands": 6,
    "cli": 7,
}
# Registries whose entries are implemented in a lower layer, reached inside functions.
LAZY_REGISTRIES = ("data.kinds", "targets")
# Developer scripts and the entry point, not part of the layering.
EXEMPT = {"dlcli.__main__", "dlcli.recipe.gen_catalog", "dlcli.recipe.gen_backbones"}
# Known exceptions, each (importer, imported): the tuning pictures draw tuning's rows.
ALLOWED_UPWARDS = {("dlcli.viz.tuning_plots", "dlcli.tuning.events")}
# Keras/TensorFlow internals the backend does not re-export (after dlcli.backend loaded them).
ALLOWED_TF = {
    "dlcli.modeling.backbone_weights",
    "dlcli.modeling.formats.onnx",
    "dlcli.modeling.tflite_metadata",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    name = ".".join(parts)
    return name.removesuffix(".__init__")


def _layer(module: str) -> tuple[str, int] | None:
    """The longest LAYERS prefix of a dlcli module, and its layer."""
    rest = module.removeprefix("dlcli.")
    if module == "dlcli" or rest == module:
        return None
    best = None
    for prefix, layer in LAYERS.items():
        if (rest == prefix or rest.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, layer)
    return best


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import outside TYPE_CHECKING."""
    found: list[tuple[str, int, bool]] = []

    def visit(nodes: list[ast.AST], top: bool) -> None:
        for child in nodes:
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(list(child.orelse), top)
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    base = base[: len(base) - child.level + (1 if is_package else 0)]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                found.append((name, child.lineno, top))
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(list(ast.iter_child_nodes(child)), top and not inner)

    visit(list(tree.body), True)
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        if module in EXEMPT:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own = _layer(module)
        for imported, line, top in _imports(tree, module, path.name == "__init__.py"):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            root = imported.split(".")[0]
            if root in ("tensorflow", "keras") and module != "dlcli.backend":
                if module not in ALLOWED_TF:
                    problems.append(f"{where}: imports {imported} (use dlcli.backend)")
                continue
            other = _layer(imported)
            if own is None or other is None or other[1] <= own[1]:
                continue
            if (module, imported) in ALLOWED_UPWARDS:
                continue
            if own[0] in LAZY_REGISTRIES and not top:
                continue
            problems.append(f"{where}: {module} (layer {own[1]}) imports {imported} ({other[1]})")
    return problems


def test_imports_point_one_way() -> None:
    assert _violations() == []


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [
        _module_name(p)
        for p in ROOT.rglob("*.py")
        if _module_name(p) not in EXEMPT | {"dlcli"} and _layer(_module_name(p)) is None
    ]
    assert unplaced == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    # The oracle: a hand-written engine module that imports a command is a violation.
    tree = ast.parse("def f():\n    from dlcli.commands.train import register\n")
    found = _imports(tree, "dlcli.training.fake", False)
    assert found == [("dlcli.commands.train", 2, False)]
    assert _layer("dlcli.commands.train") == ("commands", 6)
    assert _layer("dlcli.data.kinds.table_kind") == ("data.kinds", 0)
    assert _layer("dlcli.data.table_dataset") == ("data", 2)


FIRST_IMPORT = """
import importlib, sys
failed = []
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == "dlcli" or m.startswith("dlcli.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{{name}}: {{exc!r}}")
print("\\n".join(failed))
"""


def test_tensorflow_free_modules_import_first_in_a_fresh_interpreter() -> None:
    # A module of the TensorFlow-free layer imported before any other (as `dlcli init` or a
    # plug-in may) must not hit an import cycle (dlcli.targets -> dlcli.recipe -> targets).
    names = sorted(
        _module_name(p)
        for p in ROOT.rglob("*.py")
        if (layer := _layer(_module_name(p))) is not None
        and layer[1] == 0
        and _module_name(p) not in EXEMPT
    )
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT.format(names=names)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
