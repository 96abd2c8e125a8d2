"""The ``audio`` kind: class folders of sound files (``<root>/<class>/*.wav``), classified
from raw waveforms.

Every file is read by :mod:`dlcli.data.audio_read` (soundfile; soxr resampling to
``sample_rate``; downmixed to mono or kept; padded/cropped to ``duration`` seconds), in
training, predict, evaluate, the export parity check and ``inspect --activations`` alike.
The model takes the waveform, ``(samples,)`` for mono or ``(samples, channels)``:
spectrograms are the recipe's first layers, so exports read sound as it is.
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
    recorded_data,
    shape_fits,
)
from dlcli.errors import DataError, ModelLoadError, UsageError
from dlcli.recipe.spec import DataSection, Float, Int

if TYPE_CHECKING:
    import numpy as np

    from dlcli.data.audio_read import AudioFormat
    from dlcli.data.bundle import DataBundle
    from dlcli.data.decode import DecodedBatch
    from dlcli.data.listing import SkippedFile

NAME = "audio"
EXTENSIONS = ".wav .flac .ogg"
Crop = Literal["center", "start", "random"]
Channels = Literal["mono", "keep"]
SPECTROGRAM_LAYERS = frozenset({"MelSpectrogram", "STFTSpectrogram"})  # Keras' own


class AudioData(DataSection):
    """``data:`` for sound: class folders of ``.wav``/``.flac``/``.ogg`` files."""

    kind: Literal["audio"] = NAME
    sample_rate: Int = Field(default=16_000, ge=1000, le=384_000)
    duration: Float = Field(default=1.0, gt=0.0, le=600.0)  # seconds per clip
    crop: Crop = "center"  # training crop of longer clips (validation/predict: center)
    channels: Channels = "mono"
    channel_count: Int = Field(default=1, ge=1, le=64)  # with channels: keep


class AudioPreprocessing(Preprocessing):
    """How files become the model's input (labels.json): rate, clip length in samples,
    channels. Predict and evaluate crop longer clips at the center."""

    kind: Literal["audio"] = NAME
    sample_rate: int = Field(ge=1000)
    samples: int = Field(ge=1)
    channels: Channels = "mono"
    channel_count: int = Field(default=1, ge=1)

    def format(self) -> AudioFormat:
        from dlcli.data.audio_read import AudioFormat

        return AudioFormat(self.sample_rate, self.samples, self.channels, self.channel_count)


def _section_prep(section: AudioData) -> AudioPreprocessing:
    return AudioPreprocessing(
        sample_rate=section.sample_rate,
        samples=max(1, round(section.duration * section.sample_rate)),
        channels=section.channels,
        channel_count=1 if section.channels == "mono" else section.channel_count,
    )


class AudioKind(DataKind):
    name = NAME
    section = AudioData
    preprocessing = AudioPreprocessing
    inputs = f"sound files ({EXTENSIONS}), folders or globs"
    input_noun = "sound files"
    item_noun = "clip"
    item_unit = "clips"

    def describe(self, section: DataSection) -> str:
        assert isinstance(section, AudioData)
        return f"audio ({section.sample_rate:,} Hz, {section.duration:g} s, {section.channels})"

    def input_shape(self, section: DataSection) -> Shape | None:
        assert isinstance(section, AudioData)
        return _section_prep(section).format().shape

    def recipe_preprocessing(self, section: DataSection) -> Preprocessing | None:
        assert isinstance(section, AudioData)
        return _section_prep(section)

    def load_datasets(self, section: DataSection, *, seed: int, strict: bool) -> DataBundle:
        from dlcli.data.audio_dataset import load_audio_bundle

        assert isinstance(section, AudioData)
        prep = _section_prep(section)
        return load_audio_bundle(section, prep, prep.format(), seed=seed)

    def from_input_shape(self, shape: Shape) -> dict[str, Any] | None:
        return None  # (samples,) is also a CSV model's shape: claimed by its layers instead

    def from_model_layers(self, model: Any) -> dict[str, Any] | None:
        """A model with a spectrogram layer reads waveforms: samples and channels from its
        input, the rate from a ``MelSpectrogram``'s ``sampling_rate``."""
        spectrograms = [
            layer for layer in model.layers if type(layer).__name__ in SPECTROGRAM_LAYERS
        ]
        shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else ()
        if not spectrograms or len(shape) not in (1, 2):
            return None
        fields: dict[str, Any] = {"samples": shape[0]}
        if len(shape) == 2:
            fields.update(channels="keep", channel_count=shape[1])
        rate = getattr(spectrograms[0], "sampling_rate", None)
        if rate is not None:
            fields["sample_rate"] = int(rate)
        return fields

    def check_model(self, prep: Preprocessing, shape: Shape, source: Path) -> None:
        assert isinstance(prep, AudioPreprocessing)
        expected = prep.format().shape
        if not shape_fits(shape, expected):
            raise ModelLoadError(
                f"the model takes inputs of shape {tuple(shape)}, but labels.json describes "
                f"clips of shape {expected}",
                file=source,
                expected="samples = sample_rate x duration (and channels) as the model takes",
            )

    # --- predict and evaluate ---------------------------------------------------------

    def find_inputs(
        self, sources: Sequence[str], recursive: bool
    ) -> tuple[list[str], list[SkippedFile]]:
        from dlcli.data.audio_read import find_audio

        return find_audio(sources, recursive=recursive)

    def iter_inputs(
        self,
        prep: Preprocessing,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int,
        workers: int | None,
        source: Path | None,
    ) -> Iterator[DecodedBatch]:
        from dlcli.data.audio_dataset import audio_batches

        assert isinstance(prep, AudioPreprocessing)
        return audio_batches(paths, prep.format(), batch_size)

    def labelled_data(
        self, path: Path, prep: Preprocessing, class_names: list[str]
    ) -> LabelledData:
        from dlcli.data.audio_read import class_folders

        if not path.is_dir():
            raise DataError(
                "--data must be a folder of class sub-folders for an audio model"
                if path.exists()
                else "--data not found",
                file=path,
                expected="<folder>/<class name>/<sound files>",
            )
        folders = class_folders(path)
        index = class_index(class_names, list(folders), path)
        paths: list[str] = []
        label_of: dict[str, int] = {}
        for cls, found in folders.items():
            for p in found:
                paths.append(p)
                label_of[p] = index[cls]
        return LabelledFiles(str(path), paths, label_of, [])

    # --- export and inspect -------------------------------------------------------------

    def parity_inputs(
        self,
        prep: Preprocessing,
        sample: Path | None,
        run_data: dict[str, Any] | None,
        limit: int,
        source: Path,
    ) -> SampleInputs:
        import numpy as np

        from dlcli.data.audio_read import decode_audio, find_audio
        from dlcli.data.kinds.image_samples import spread
        from dlcli.data.listing import SkippedFile as Skipped

        assert isinstance(prep, AudioPreprocessing)
        path = sample or next(iter(recorded_data(run_data)), None)
        if path is None or not path.exists():
            raise UsageError(
                "no sample sound files for the parity check",
                file=source,
                hint="pass --sample with a folder of sound files like the ones the model hears",
            )
        paths, _ = find_audio([path], recursive=True)
        clips = []
        for p in spread(paths, limit * 2):
            clip = decode_audio(p, prep.format(), "center")
            if not isinstance(clip, Skipped):
                clips.append(clip.audio)
            if len(clips) == limit:
                break
        if not clips:
            raise DataError("no usable sound files for the parity check", file=path)
        return SampleInputs(np.stack(clips), f"{len(clips)} clip(s) from {path}")

    def serving_input(self, prep: Preprocessing, shape: list[int | None]) -> dict[str, Any]:
        assert isinstance(prep, AudioPreprocessing)
        return {
            "shape": shape,
            "dtype": "float32",
            "layout": "NT" if prep.channels == "mono" else "NTC",
            "value_range": [-1, 1],
            "note": f"feed raw waveforms at {prep.sample_rate} Hz, {prep.samples} samples "
            "(pad with zeros or crop), samples in -1..1; the spectrogram is inside the model",
        }

    def activation_input(self, prep: Preprocessing | None, shape: Shape, path: Path) -> np.ndarray:
        from dlcli.data.audio_read import decode_audio
        from dlcli.data.listing import SkippedFile as Skipped

        if not isinstance(prep, AudioPreprocessing):
            raise UsageError(
                "--activations on an audio model needs its run directory (labels.json says "
                "the sample rate and clip length)",
                field="--activations",
            )
        clip = decode_audio(path, prep.format(), "center")
        if isinstance(clip, Skipped):
            raise DataError(f"cannot use the sound file: {clip.reason}", file=path)
        return clip.audio
