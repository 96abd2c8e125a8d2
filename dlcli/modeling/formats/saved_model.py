"""TensorFlow SavedModel: a folder, written by Keras 3's ``model.export(format="tf_saved_model")``
and run through its ``serving_default`` signature. Its metadata is ``assets/labels.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ModelLoadError
from dlcli.modeling.formats import ExportFormat
from dlcli.modeling.runtimes import Runner, as_batch, dims, pack_outputs, packed_units, units

METADATA = Path("assets") / "labels.json"


def is_saved_model_dir(path: Path) -> bool:
    return path.is_dir() and (
        (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
    )


class SavedModelFormat(ExportFormat):
    name = "saved_model"
    title = "SavedModel"
    takes_strings = True  # TensorFlow's string ops (TextVectorization) run as they are
    several_inputs = True  # the serving signature takes each named input by its name
    suffix = ""
    aliases = ("savedmodel", "tf_saved_model")

    def write(self, model: Any, path: Path, *, quantize: str) -> None:
        model.export(str(path), format="tf_saved_model", verbose=False)

    def runner(self, path: Path) -> Runner:
        return saved_model_runner(path)

    def claims(self, path: Path) -> bool:
        return is_saved_model_dir(path)

    def metadata_path(self, path: Path) -> Path:
        return path / METADATA

    def default_name(self, stem: str, *, in_run: bool) -> str:
        return "saved_model" if in_run else f"{stem}_saved_model"


def saved_model_runner(path: Path) -> Runner:
    """The ``serving_default`` signature of a SavedModel directory."""
    from dlcli.backend import tf

    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["serving_default"]
    except KeyError:
        raise ModelLoadError("the SavedModel has no serving_default signature", file=path) from None
    except Exception as exc:
        raise ModelLoadError(f"cannot load the SavedModel ({exc})", file=path) from exc
    _, kwargs = fn.structured_input_signature
    if not kwargs:
        raise ModelLoadError("the SavedModel signature has no inputs", file=path)
    name, spec = next(iter(kwargs.items()))
    outputs = fn.structured_outputs  # several (model.outputs): by output name, packed

    def predict(x: Any) -> np.ndarray:
        batch = as_batch(x)
        if isinstance(batch, dict):  # several named inputs, fed by name
            missing = sorted(set(kwargs) - set(batch))
            if missing:
                raise ModelLoadError(
                    f"no values for the SavedModel's input(s) {missing}",
                    file=path,
                    expected=f"inputs {sorted(kwargs)}",
                )
            result = fn(**{k: tf.constant(batch[k]) for k in kwargs})
        elif len(kwargs) != 1:
            raise ModelLoadError(
                f"the SavedModel signature has {len(kwargs)} inputs",
                file=path,
                expected=f"a value for each of {sorted(kwargs)}",
            )
        else:
            result = fn(**{name: tf.constant(batch)})
        return pack_outputs({k: v.numpy() for k, v in result.items()})

    # Keep the loaded object alive as long as the signature is used.
    predict.__dict__["_saved_model"] = loaded
    shapes = [s.shape.as_list() for s in outputs.values()]
    out_units = units(shapes[0]) if len(shapes) == 1 else packed_units(shapes)
    return Runner(predict, dims(spec.shape.as_list()[1:]), out_units)
