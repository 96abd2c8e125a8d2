"""The ``images`` kind: class-folder trees of image files (``<root>/<class>/*.png``).

Training reads them through :func:`dlcli.data.images.load_image_folders`; predict,
evaluate, the export parity check and ``inspect --activations`` decode files with
:mod:`dlcli.data.decode`, the same decoder, so a model sees the pixels it was trained on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from dlcli.data.kinds.base import (
    DataKind,
    LabelledData,
    LabelledFiles,
    Preprocessing,
    SampleInputs,
    Shape,
    class_index,
)
from dlcli.errors import DataError, ModelLoadError, UsageError
from dlcli.recipe.spec import (
    CHANNELS_BY_COLOR_MODE,
    COLOR_MODE_BY_CHANNELS,
    DataSection,
    Int,
)

if TYPE_CHECKING:
    import numpy as np

    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile

NAME = "images"
ColorMode = Literal["grayscale", "rgb", "rgba"]


class ImageData(DataSection):
    """``data:`` for image folders."""

    kind: Literal["images"] = NAME
    image_size: tuple[Int, Int] | None = None
    color_mode: ColorMode = "rgb"


class ImagePreprocessing(Preprocessing):
    """How files are decoded for the model: resized to ``image_size`` (H, W), converted to
    ``color_mode``, pixels 0..255 as float32. ``image_size`` is None only for a bare model
    whose input does not fix it (``--labels`` must then give it)."""

    kind: Literal["images"] = NAME
    image_size: tuple[int, int] | None = None
    color_mode: ColorMode = "rgb"
    channels: int | None = Field(default=None, ge=1)
    interpolation: str = "bilinear"

    def size(self, source: Path | None) -> tuple[int, int]:
        if self.image_size is None:
            raise ModelLoadError(
                "cannot tell the image size this model expects",
                file=source,
                expected="labels.json with image_size, or a model input shape like (H, W, C)",
                received=None,
                hint='pass --labels FILE with a JSON object such as {"class_names": [...], '
                '"image_size": [H, W]}',
            )
        return self.image_size


class ImageKind(DataKind):
    name = NAME
    section = ImageData
    preprocessing = ImagePreprocessing
    inputs = "image files (.png .jpg .jpeg .bmp .gif .webp), folders or globs"
    input_noun = "image files"
    input_unit = "img"
    item_noun = "image"
    item_unit = "img"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, ImageData)
        size = "x".join(map(str, section.image_size)) if section.image_size else "size from files"
        return f"images ({size}, {section.color_mode})"

    def input_shape(self, section: DataSection) -> Shape | None:
        assert isinstance(section, ImageData)
        if section.image_size is None:
            return None
        height, width = (int(v) for v in section.image_size)
        return (height, width, CHANNELS_BY_COLOR_MODE[section.color_mode])

    def recipe_preprocessing(self, section: DataSection) -> Preprocessing:
        assert isinstance(section, ImageData)
        return ImagePreprocessing(image_size=section.image_size, color_mode=section.color_mode)

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        from dlcli.data.images import load_image_folders

        return load_image_folders(section, seed=seed, strict=strict)

    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        if len(shape) != 3 or shape[2] not in COLOR_MODE_BY_CHANNELS:
            return None
        h, w, c = shape
        return {
            "image_size": [int(h), int(w)] if h and w else None,
            "color_mode": COLOR_MODE_BY_CHANNELS[int(c)],  # type: ignore[arg-type]
            "channels": int(c),  # type: ignore[arg-type]
            "interpolation": "bilinear",
        }

    def read_preprocessing(self, fields: dict[str, Any], source: Path) -> Preprocessing:
        _check_fields(fields, source)
        return super().read_preprocessing(fields, source)

    def check_model(self, prep: Preprocessing, shape: Shape, source: Path) -> None:
        assert isinstance(prep, ImagePreprocessing)
        if len(shape) != 3:
            return
        size, mode = prep.image_size, prep.color_mode
        if size is not None and all(shape[:2]) and tuple(int(v) for v in shape[:2]) != size:
            raise ModelLoadError(
                f"image_size {list(size)} does not fit the model, which takes "
                f"{shape[0]}x{shape[1]} images",
                file=source,
                expected=f"image_size: [{shape[0]}, {shape[1]}]",
            )
        channels = CHANNELS_BY_COLOR_MODE[mode]
        if shape[2] and channels != int(shape[2]):
            raise ModelLoadError(
                f"color_mode {mode!r} gives {channels} channel(s); the model takes {shape[2]}",
                file=source,
                expected=f"color_mode: {COLOR_MODE_BY_CHANNELS.get(int(shape[2]), '?')}",
            )

    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        from dlcli.data.listing import find_images

        return find_images(sources, recursive=recursive)

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        from dlcli.data.decode import iter_decoded_batches

        assert isinstance(prep, ImagePreprocessing)
        size = prep.size(source)
        return iter_decoded_batches(
            paths, size, prep.color_mode, batch_size=batch_size, workers=workers
        )

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        from dlcli.data.images import list_class_folder
        from dlcli.data.listing import find_images

        if path.is_file() and path.suffix.lower() == ".csv":
            raise UsageError(
                "--data is a CSV file but this model takes images",
                file=path,
                expected="a folder of class sub-folders for an image model",
            )
        if not path.exists():
            raise DataError("--data not found", file=path, expected="a folder of class folders")
        if not path.is_dir():
            raise UsageError(
                "--data must be a folder of class sub-folders for an image model",
                file=path,
                received=path.name,
            )
        classes, _ = list_class_folder(path, "evaluation")
        index = class_index(class_names, classes, path)
        paths: list[str] = []
        label_of: dict[str, int] = {}
        skipped: list[SkippedFile] = []
        for cls in classes:
            found, bad = find_images([path / cls], recursive=True)
            skipped.extend(bad)
            for p in found:
                paths.append(p)
                label_of[p] = index[cls]
        return LabelledFiles(str(path), paths, label_of, skipped)

    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        from dlcli.data.kinds.image_samples import image_samples

        assert isinstance(prep, ImagePreprocessing)
        if prep.image_size is None:
            raise UsageError(
                "cannot tell the image size this model expects, so no sample can be decoded",
                file=source,
                hint='pass --labels FILE with a JSON object such as {"class_names": [...], '
                '"image_size": [H, W]}',
            )
        return image_samples(prep.image_size, prep.color_mode, sample, run_data, limit, source)

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        return {
            "shape": shape,
            "dtype": "float32",
            "layout": "NHWC",
            "value_range": [0, 255],
            "note": "feed raw pixel values (0..255, decoded and resized as image_size, "
            "color_mode and interpolation say), as in training; any scaling is inside "
            "the model (model_preprocessing)",
        }

    def activation_input(self, prep: Preprocessing | None, shape: Shape, path: Path) -> np.ndarray:
        """Decode like training did: the run's image size and colour mode, else the model's."""
        from dlcli.data.decode import SkippedFile, decode_image, peek_size

        if len(shape) != 3:
            raise UsageError(
                "--activations needs an image model",
                expected="an input of shape (height, width, channels)",
                received=str(shape),
            )
        size = prep.image_size if isinstance(prep, ImagePreprocessing) else None
        if size is None and shape[0] and shape[1]:
            size = (int(shape[0]), int(shape[1]))
        if size is None:
            size = peek_size(str(path))
            if size is None:
                raise DataError("cannot read the image", file=path)
        mode = prep.color_mode if isinstance(prep, ImagePreprocessing) else None
        mode = mode or COLOR_MODE_BY_CHANNELS.get(int(shape[2] or 3), "rgb")
        image = decode_image(path, (int(size[0]), int(size[1])), mode)
        if isinstance(image, SkippedFile):
            raise DataError(f"cannot use the image: {image.reason}", file=path)
        return image


def _check_fields(fields: dict[str, Any], source: Path) -> None:
    """labels.json/--labels image settings, checked with messages that name the key."""
    size, mode = fields.get("image_size"), fields.get("color_mode")
    if size is not None and not (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise ModelLoadError(
            "bad image_size",
            file=source,
            expected="[height, width], positive integers",
            received=size,
        )
    if mode is not None and mode not in CHANNELS_BY_COLOR_MODE:
        raise ModelLoadError(
            "bad color_mode", file=source, expected="grayscale, rgb or rgba", received=mode
        )
    if mode is None and fields.get("channels") in COLOR_MODE_BY_CHANNELS:
        fields["color_mode"] = COLOR_MODE_BY_CHANNELS[fields["channels"]]
    from dlcli.data.decode import INTERPOLATIONS

    interpolation = fields.get("interpolation")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ModelLoadError(
            "unknown interpolation: images would not be resized as in training",
            file=source,
            field="interpolation",
            expected=" or ".join(INTERPOLATIONS),
            received=interpolation,
        )
