"""Check a ``.keras`` archive before Keras opens it: size, members, and code in its config.

A ``.keras`` file is a zip holding ``config.json`` (the architecture), ``metadata.json`` and
the weights. Deserialising the config can run code: a ``Lambda`` layer carries marshalled
Python bytecode, and a class or function from a module outside Keras is imported by name.
So before Keras sees the file we check the archive (a zip, bounded member count and size,
no decompression bomb, the expected members) and walk ``config.json`` ourselves, refusing
anything that is not a built-in Keras object. See docs/security.md.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlcli.errors import ModelLoadError, UnsafeModelError

MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 4 << 30  # 4 GiB uncompressed
MAX_CONFIG_BYTES = 64 << 20  # config.json is parsed in memory
BOMB_RATIO = 100  # a member expanding over 100x its stored size ...
BOMB_FLOOR_BYTES = 16 << 20  # ... and to over 16 MiB is treated as a zip bomb
# Keras deserialises the config recursively; real models nest a few dozen levels (more
# with models inside models). Deeper is an attack on the recursion limit, refused here.
MAX_CONFIG_DEPTH = 500
WEIGHT_MEMBERS = ("model.weights.h5", "model.weights.npz")

TRUST_HINT = (
    "pass --trust-model to load it anyway, only if you trust the file's author: "
    "arbitrary code in the file may then run on this machine"
)

# Built-in Keras classes that still execute something that is not a Keras graph.
REFUSED_CLASSES = {
    "Lambda": "a Lambda layer runs Python bytecode stored in the file",
    "__lambda__": "a serialised Python lambda runs bytecode stored in the file",
    "TFSMLayer": "a TFSMLayer loads and runs a SavedModel from a path named in the file",
    "TorchModuleWrapper": "a TorchModuleWrapper unpickles a PyTorch module",
    "JaxLayer": "a JaxLayer calls a Python function stored in the file",
    "FlaxLayer": "a FlaxLayer calls a Python module stored in the file",
}
# Serialisation markers Keras writes with no module: plain data, no code.
_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"}
)


# --------------------------------------------------------------------------- archive


def check_keras_archive(path: Path) -> dict[str, Any]:
    """Validate the zip structure of a ``.keras`` file and return its parsed config."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read the model file ({exc.strerror or exc})", file=path
        ) from exc
    if head.startswith(b"\x89HDF"):
        raise UnsafeModelError(
            "this .keras file is really a legacy HDF5 (.h5) model, which dlcli refuses by "
            "default: its loader can deserialise code without a safe mode",
            file=path,
            hint=f"re-save it with model.save('model.keras') in Keras 3, or {TRUST_HINT}",
        )
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(
            "not a .keras model: the file is not a zip archive (or it is truncated)",
            file=path,
            expected="a Keras 3 .keras file (a zip with config.json, metadata.json, weights)",
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_members(path, infos)
            names = {i.filename for i in infos}
            missing = [n for n in ("config.json", "metadata.json") if n not in names]
            if not any(w in names for w in WEIGHT_MEMBERS):
                missing.append(" or ".join(WEIGHT_MEMBERS))
            if missing:
                raise ModelLoadError(
                    "not a complete .keras model: missing " + ", ".join(missing),
                    file=path,
                    expected="config.json, metadata.json and model.weights.h5 in the archive",
                    received=sorted(names)[:10],
                )
            if zf.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                raise UnsafeModelError(
                    "config.json in the model is implausibly large",
                    file=path,
                    expected=f"at most {MAX_CONFIG_BYTES >> 20} MiB",
                )
            raw = zf.read("config.json")
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError) as exc:
        raise ModelLoadError(
            f"the .keras archive is corrupt or truncated ({exc})",
            file=path,
            hint="copy or download the file again",
        ) from exc
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"config.json in the model is not valid JSON ({exc})", file=path
        ) from exc
    except RecursionError:  # the JSON parser recurses once per nesting level
        config = None
    if config is None or _too_deep(config):
        raise UnsafeModelError(
            "config.json in the model is nested too deeply",
            file=path,
            expected=f"at most {MAX_CONFIG_DEPTH} levels (Keras models nest a few dozen)",
        )
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelLoadError(
            "config.json in the model does not describe a Keras model",
            file=path,
            expected='a JSON object with "class_name" and "config"',
        )
    return config


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise UnsafeModelError(
            f"the archive has {len(infos):,} members",
            file=path,
            expected=f"at most {MAX_MEMBERS:,} (a Keras model has a handful)",
        )
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise UnsafeModelError(
            f"the archive would expand to {total / 2**30:.1f} GiB",
            file=path,
            expected=f"at most {MAX_TOTAL_BYTES >> 30} GiB uncompressed",
        )
    for info in infos:
        stored = max(info.compress_size, 1)
        if info.file_size > BOMB_FLOOR_BYTES and info.file_size > BOMB_RATIO * stored:
            raise UnsafeModelError(
                f"archive member {info.filename!r} expands {info.file_size / stored:,.0f}x "
                "(a zip bomb?)",
                file=path,
                expected=f"at most {BOMB_RATIO}x for members over {BOMB_FLOOR_BYTES >> 20} MiB",
            )
        if info.filename.startswith(("/", "\\")) or ".." in Path(info.filename).parts:
            raise UnsafeModelError(
                f"archive member {info.filename!r} points outside the archive", file=path
            )


# --------------------------------------------------------------------------- config walk


def find_unsafe_objects(config: Any) -> list[str]:
    """Every object in a Keras config that is not a built-in, code-free Keras object.

    Returns human-readable descriptions naming the enclosing layer. ``compile_config``
    is skipped: dlcli loads with ``compile=False``, so losses and metrics there are never
    deserialised (a custom loss must not stop prediction).
    """
    found: dict[str, str] = {}  # first problem per layer: a Lambda's lambda is one finding
    for where, obj in _walk_objects(config, layer=None):
        problem = _object_problem(obj)
        if problem and where not in found:
            found[where] = problem
    return [f"{where}: {problem}" for where, problem in found.items()]


def _too_deep(config: Any) -> bool:
    """True when ``config`` nests more than MAX_CONFIG_DEPTH lists/objects (no recursion)."""
    stack: list[tuple[Any, int]] = [(config, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, (dict, list)):
            stack.extend((child, depth + 1) for child in children)
    return False


def _walk_objects(node: Any, layer: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object with a ``class_name``, in document order, with its enclosing layer."""
    stack: list[tuple[Any, str | None]] = [(node, layer)]
    while stack:
        node, layer = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node:
                cfg = node.get("config")
                if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
                    layer = f"layer {cfg['name']!r} ({node['class_name']})"
                yield (layer or f"object {node['class_name']!r}"), node
            items = [v for k, v in node.items() if k != "compile_config"]
            stack.extend((value, layer) for value in reversed(items))
        elif isinstance(node, list):
            stack.extend((value, layer) for value in reversed(node))


def _object_problem(obj: dict[str, Any]) -> str | None:
    cls = obj.get("class_name")
    module = obj.get("module")
    registered = obj.get("registered_name")
    if not isinstance(cls, str):
        return f"class_name is not a string ({cls!r})"
    if cls in REFUSED_CLASSES:
        return REFUSED_CLASSES[cls]
    if _is_dlcli_layer(cls, module, registered):
        return None
    if isinstance(registered, str) and ">" in registered:
        return f"custom object {registered!r} (registered outside Keras)"
    if cls in _DATA_MARKERS and module is None:
        return None
    if cls == "__typespec__":
        ok = isinstance(module, str) and module.split(".")[0] in ("keras", "tensorflow")
        return None if ok else f"type spec from module {module!r}"
    if cls == "function":
        if module == "builtins" or _is_keras_module(module):
            return None
        return f"function {obj.get('config')!r} from module {module!r} (custom code)"
    if module is None:
        return f"custom class {cls!r} (no module: defined by the user, not Keras)"
    if not _is_keras_module(module):
        return f"class {cls!r} from module {module!r} (outside keras.*)"
    if registered not in (None, cls):
        return f"class {cls!r} registered as {registered!r} (not a Keras built-in name)"
    return None


def _is_dlcli_layer(cls: str, module: Any, registered: Any) -> bool:
    """One of dlcli's own layers (``TokenAndPositionEmbedding``), from its own module: code
    that ships with dlcli, never imported by a name the file chooses."""
    from dlcli.recipe.backbones import LAYER_MODULES as backbone_layers
    from dlcli.recipe.catalog import dlcli_layer_modules

    known = {**dlcli_layer_modules(), **backbone_layers}
    return cls in known and module == known[cls] and registered == f"dlcli>{cls}"


def _is_keras_module(module: Any) -> bool:
    return isinstance(module, str) and (module == "keras" or module.startswith("keras."))


def check_config_safety(config: dict[str, Any], path: Path) -> None:
    """Raise :class:`UnsafeModelError` naming every non-built-in object in ``config``."""
    found = find_unsafe_objects(config)
    if found:
        shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
        raise UnsafeModelError(
            f"refusing to load a model that can run code: {shown}", file=path, hint=TRUST_HINT
        )
