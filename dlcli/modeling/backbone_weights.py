"""Pretrained weights for ``Backbone`` layers: Keras' ImageNet cache, or a local weights file.

``imagenet``: the file name, URL and hash are the ones the application itself passes to
``keras.utils.get_file`` (recorded by building it once with that function replaced, so they
can never differ from what Keras would fetch). A file already in the cache
(``$KERAS_HOME/models`` or ``~/.keras/models``) is used through ``get_file`` as Keras does
(hash checked); a missing one is downloaded by Keras; when that fails (offline), the error
names the file, its URL and the folder to put it in.

A local ``.weights.h5`` (Keras 3) or ``.h5`` (Keras' own ImageNet files, by layer order)
file is read weights-only: no configuration in it is looked at. Its layout is compared with
the application first, so a file for another model is refused naming the first layer that
does not fit, before any weight is assigned.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlcli.errors import ModelBuildError
from dlcli.modeling.backbones import Backbone, make_application
from dlcli.recipe.backbones import ENTRY, input_problem
from dlcli.recipe.spec import LayerSpec


@dataclass(frozen=True)
class KerasDownload:
    """What an application passes to ``get_file`` for its weights."""

    fname: str
    origin: str
    cache_subdir: str
    cache_dir: str | None
    file_hash: str | None

    @property
    def folder(self) -> Path:
        """Where ``get_file`` keeps the file (its own rule, including the /tmp fallback)."""
        from keras.src.backend import config

        base = os.path.expanduser(self.cache_dir or config.keras_home())
        if not os.access(base, os.W_OK):
            base = os.path.join(
                "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras"
            )
        return Path(base) / self.cache_subdir

    @property
    def path(self) -> Path:
        return self.folder / self.fname


class _Recorded(Exception):
    def __init__(self, download: KerasDownload) -> None:
        super().__init__(download.fname)
        self.download = download


def imagenet_download(layer: Backbone, shape: tuple[int | None, ...]) -> KerasDownload:
    """The weights file Keras would fetch for this backbone (nothing is downloaded)."""
    from keras.src.utils import file_utils

    from dlcli.modeling.builder import _weights_deferred

    real = file_utils.get_file

    def record(fname: str | None = None, origin: str | None = None, **kwargs: Any) -> str:
        raise _Recorded(
            KerasDownload(
                fname=str(fname or os.path.basename(str(origin))),
                origin=str(origin),
                cache_subdir=str(kwargs.get("cache_subdir", "datasets")),
                cache_dir=kwargs.get("cache_dir"),
                file_hash=kwargs.get("file_hash"),
            )
        )

    file_utils.get_file = record
    try:
        # A dry run: its warnings (e.g. MobileNet's "224 weights for another size") are
        # about a model that is never used.
        with _weights_deferred(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_application(layer.info, shape, layer.pooling, layer.options, weights="imagenet")
    except _Recorded as found:
        return found.download
    finally:
        file_utils.get_file = real
    raise RuntimeError(f"{layer.info.name} asked Keras for no weights file")  # pragma: no cover


def fetch_imagenet(download: KerasDownload, spec: LayerSpec, position: int) -> Path:
    """The cached file (Keras checks its hash), downloading it with Keras if needed."""
    from keras.src.utils import file_utils

    try:
        got = file_utils.get_file(
            fname=download.fname,
            origin=download.origin,
            cache_subdir=download.cache_subdir,
            cache_dir=download.cache_dir,
            file_hash=download.file_hash,
        )
    except Exception as exc:
        reason = " ".join(str(exc).split())[:200]
        raise _error(
            f"imagenet weights file {download.fname} is not in the Keras cache and could not be "
            f"downloaded ({reason})",
            spec,
            position,
            hint=f"download {download.origin} and save it as {download.path} "
            "(or set KERAS_HOME to a folder whose models/ holds it), or use weights: null",
        ) from exc
    return Path(got)


def _error(
    message: str, spec: LayerSpec, position: int, *, hint: str | None = None
) -> ModelBuildError:
    where = spec.where
    return ModelBuildError(
        f"layer {position} '{spec.name}' ({spec.type}): {message}",
        file=where.file,
        line=where.line,
        column=where.column,
        field=where.field,
        hint=hint,
    )


def load_pretrained(model: Any, layers: list[LayerSpec]) -> None:
    """Load every Backbone entry's ``weights`` (imagenet or a file) into the built model."""
    for position, spec in enumerate(layers, start=1):
        weights = spec.args.get("weights") if spec.type == ENTRY else None
        if weights is None:
            continue
        layer = model.get_layer(spec.name)
        shape = tuple(layer.application.input_shape[1:])
        problem = input_problem(layer.info, shape, weights)  # e.g. NASNet's fixed size
        if problem:
            raise _error(problem, spec, position, hint="set data.image_size (or model.input)")
        if weights == "imagenet":
            path = fetch_imagenet(imagenet_download(layer, shape), spec, position)
        else:
            path = Path(weights)
            if not path.is_file():
                raise _error(f"weights file not found: {path}", spec, position)
            misfit = first_misfit(layer.application, path)
            if misfit:
                raise _error(
                    f"weights file {path} does not fit {layer.info.name}: {misfit}",
                    spec,
                    position,
                    hint="the file must hold the weights of the same application and options "
                    "(e.g. saved with save_weights of a Backbone built the same way)",
                )
        try:
            layer.application.load_weights(str(path))
        except Exception as exc:
            text = " ".join(str(exc).split())[:300]
            raise _error(f"cannot load weights from {path}: {text}", spec, position) from exc


def first_misfit(application: Any, path: Path) -> str | None:
    """The first layer whose weights in ``path`` do not match ``application``, or None."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            if "layer_names" in fh.attrs:
                return _legacy_misfit(application, fh)
            if path.name.endswith(".weights.h5") and "layers" in fh:
                return _keras3_misfit(application, fh["layers"])
            return "not a Keras weights file (no layers in it)"
    except OSError as exc:
        return f"not an HDF5 file ({exc})"


def _shapes(variables: list[Any]) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in v.shape) for v in variables]


def _keras3_misfit(application: Any, group: Any) -> str | None:
    """``save_weights`` layout: ``layers/<snake class name, numbered>/vars/<i>``, in order."""
    from keras.src.saving.saving_lib import _get_unique_name
    from keras.src.utils import naming

    used: dict[str, int] = {}
    for layer in application.layers:
        key = _get_unique_name(naming.to_snake_case(layer.__class__.__name__), used)
        want = _shapes(layer._trainable_variables + layer._non_trainable_variables)
        stored = group.get(f"{key}/vars")
        have = [tuple(stored[str(i)].shape) for i in range(len(stored))] if stored else []
        if want != have:
            return _describe(layer.name, want, have)
    return None


def _legacy_misfit(application: Any, fh: Any) -> str | None:
    """Keras 2 / ImageNet ``.h5`` layout: layers with weights, matched in order."""
    names = [n.decode() if isinstance(n, bytes) else n for n in fh.attrs["layer_names"]]
    stored = []
    for name in names:
        weight_names = fh[name].attrs.get("weight_names", [])
        if len(weight_names):
            stored.append([tuple(fh[name][w].shape) for w in weight_names])
    wanted = [layer for layer in application.layers if layer.weights]
    for i, layer in enumerate(wanted):
        want = _shapes(layer.trainable_weights + layer.non_trainable_weights)
        have = stored[i] if i < len(stored) else []
        if want != have:
            return _describe(layer.name, want, have)
    if len(stored) > len(wanted):
        return f"the file holds {len(stored)} layers with weights, the model {len(wanted)}"
    return None


def _describe(name: str, want: list[tuple[int, ...]], have: list[tuple[int, ...]]) -> str:
    if not have:
        return f"layer {name!r} has no weights in the file (expected shapes {want})"
    return f"layer {name!r} expects weight shapes {want}, the file has {have}"
