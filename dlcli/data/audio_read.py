"""The one sound-file decoder, shared by training, predict, evaluate, export and inspect.

:func:`decode_audio` gives a clip as the model takes it, ``(samples,)`` float32 for mono or
``(samples, channels)``, or a :class:`SkippedFile` saying why the file cannot be used; it
never raises for a bad file. Choices, stated once:

- Reading: ``soundfile`` (libsndfile, inside its wheel): WAV (8/16/24/32-bit PCM, 32/64-bit
  float, any channel count), FLAC, OGG/Vorbis, AIFF. Integer PCM comes out in -1..1.
- A file whose header claims more than :data:`MAX_SECONDS` of sound is refused before
  reading (a corrupt or hostile header), as are files with no frames.
- Channels: ``mono`` averages the channels (downmix); ``keep`` needs files with the
  model's channel count.
- Rate: a file at another rate is resampled with soxr (``HQ``: a linear-phase,
  anti-aliased polyphase filter), never dropped; the caller counts them.
- Length: ``duration`` seconds; shorter clips are padded with silence at the end, longer
  ones cropped (``start``, ``center``, or ``random`` with a generator, training only).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np

from dlcli.data.listing import AUDIO_EXTENSIONS as AUDIO_EXTENSIONS
from dlcli.data.listing import SkippedFile, find_files, is_hidden, walk

if TYPE_CHECKING:
    from soundfile import SoundFile

NOT_AUDIO = "not a sound file (ignored)"
MAX_SECONDS = 3600.0  # a header claiming more than an hour is refused as corrupt
Crop = Literal["start", "center", "random"]
Channels = Literal["mono", "keep"]


@dataclass(frozen=True)
class AudioFormat:
    """What every clip is turned into: rate (Hz), length (samples), channel handling."""

    sample_rate: int
    samples: int
    channels: Channels = "mono"
    channel_count: int = 1  # for ``keep``: the channels the model takes

    @property
    def shape(self) -> tuple[int, ...]:
        if self.channels == "mono":
            return (self.samples,)
        return (self.samples, self.channel_count)


@dataclass
class Clip:
    """A decoded clip and whether it had to be resampled."""

    audio: np.ndarray
    resampled: bool


def _open_checked(path: str) -> tuple[SoundFile, int, int] | SkippedFile:
    """An open ``soundfile.SoundFile`` with its rate and frame count, or why not."""
    import soundfile as sf

    try:
        if os.path.getsize(path) == 0:
            return SkippedFile(path, "empty file (0 bytes)")
        f = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        return SkippedFile(path, f"cannot decode sound: {_reason(exc)}")
    except OSError as exc:
        return SkippedFile(path, f"cannot read: {exc.strerror or exc}")
    rate, frames = int(f.samplerate), int(f.frames)
    # libsndfile trusts the bytes present, not a WAV header's claim: check the claim too.
    frames = max(frames, _wav_claimed_frames(path) or 0)
    problem = None
    if rate <= 0:
        problem = f"bad sample rate in the header ({rate} Hz)"
    elif frames <= 0:
        problem = "no audio frames (zero-length sound)"
    elif frames > MAX_SECONDS * rate:
        problem = (
            f"header claims {frames:,} frames ({frames / rate / 3600:.1f} h), more than "
            f"{MAX_SECONDS / 3600:g} h: corrupt, or not a clip"
        )
    if problem is not None:
        f.close()
        return SkippedFile(path, problem)
    return f, rate, frames


def _wav_claimed_frames(path: str) -> int | None:
    """The frame count a RIFF/WAVE header's ``data`` chunk claims (None if not a WAV)."""
    try:
        with open(path, "rb") as fh:
            return _riff_data_frames(fh)
    except (OSError, struct.error):
        return None


def _riff_data_frames(fh: BinaryIO) -> int | None:
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    block_align = None
    while chunk := fh.read(8):
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if name == b"fmt ":
            body = fh.read(size + (size & 1))
            block_align = struct.unpack("<H", body[12:14])[0] if len(body) >= 14 else None
        elif name == b"data":
            return size // block_align if block_align else None
        else:
            fh.seek(size + (size & 1), os.SEEK_CUR)
    return None


def read_header(path: str, fmt: AudioFormat) -> tuple[int, int] | SkippedFile:
    """The file's sample rate and frame count if ``fmt`` can use it (a cheap check before
    training)."""
    opened = _open_checked(path)
    if isinstance(opened, SkippedFile):
        return opened
    f, rate, frames = opened
    channels = int(f.channels)
    f.close()
    if fmt.channels == "keep" and channels != fmt.channel_count:
        return SkippedFile(path, f"{channels} channel(s); the model takes {fmt.channel_count}")
    return rate, frames


def read_sound(path: str) -> tuple[np.ndarray, int] | SkippedFile:
    """All frames of ``path`` as float32 ``(frames, channels)`` and its rate, or why not."""
    import soundfile as sf

    opened = _open_checked(path)
    if isinstance(opened, SkippedFile):
        return opened
    f, rate, _ = opened
    try:
        with f:
            audio = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        return SkippedFile(path, f"cannot decode sound: {_reason(exc)}")
    if audio.shape[0] == 0:
        return SkippedFile(path, "no audio frames (truncated data)")
    if not np.isfinite(audio).all():
        return SkippedFile(path, "samples are not finite numbers (NaN or infinity)")
    return audio, rate


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "error_string", "") or exc)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``audio`` (frames, channels) from ``rate`` to ``target`` Hz, anti-aliased."""
    import soxr

    if rate == target:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio, dtype=np.float32), rate, target, "HQ")
    return np.asarray(out, dtype=np.float32).reshape(-1, audio.shape[1])


def crop_start(
    frames: int, samples: int, crop: Crop, rng: np.random.Generator | None = None
) -> int:
    """Where a clip of ``samples`` starts in ``frames`` (0 when it is not longer)."""
    if frames <= samples or crop == "start":
        return 0
    if crop == "center":
        return (frames - samples) // 2
    return int((rng or np.random.default_rng()).integers(0, frames - samples + 1))


def fit_length(
    audio: np.ndarray, samples: int, crop: Crop, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``audio`` (frames, ...) padded with silence at the end or cropped to ``samples``."""
    n = audio.shape[0]
    if n < samples:
        pad = [(0, samples - n)] + [(0, 0)] * (audio.ndim - 1)
        return np.pad(audio, pad)
    start = crop_start(n, samples, crop, rng)
    return audio[start : start + samples]


def decode_waveform(
    path: str | os.PathLike[str], fmt: AudioFormat
) -> tuple[np.ndarray, bool] | SkippedFile:
    """The whole file at ``fmt``'s rate and channels, ``(frames,)`` float32 for mono or
    ``(frames, channels)``, and whether it was resampled; or why it cannot be used."""
    path = os.fspath(path)
    read = read_sound(path)
    if isinstance(read, SkippedFile):
        return read
    audio, rate = read
    if fmt.channels == "mono":
        audio = audio.mean(axis=1, keepdims=True)
    elif audio.shape[1] != fmt.channel_count:
        return SkippedFile(
            path, f"{audio.shape[1]} channel(s); the model takes {fmt.channel_count}"
        )
    audio = resample(audio, rate, fmt.sample_rate)
    if fmt.channels == "mono":
        audio = audio[:, 0]
    return np.ascontiguousarray(audio, dtype=np.float32), rate != fmt.sample_rate


def decode_audio(
    path: str | os.PathLike[str],
    fmt: AudioFormat,
    crop: Crop = "center",
    rng: np.random.Generator | None = None,
) -> Clip | SkippedFile:
    """One file as the model takes it (see the module docstring), or why it cannot be."""
    decoded = decode_waveform(path, fmt)
    if isinstance(decoded, SkippedFile):
        return decoded
    audio, resampled = decoded
    audio = fit_length(audio, fmt.samples, crop, rng)
    return Clip(np.ascontiguousarray(audio, dtype=np.float32), resampled=resampled)


def is_audio_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in AUDIO_EXTENSIONS


def find_audio(
    sources: Iterable[str | os.PathLike[str]], recursive: bool = True
) -> tuple[list[str], list[SkippedFile]]:
    """Files, folders and globs -> sound files (by extension), with the images' listing rule
    (:func:`dlcli.data.listing.find_files`): other files are ignored (listed, not a failure);
    missing sources, empty patterns and links that cannot be followed are skipped."""
    return find_files(sources, recursive, suffixes=AUDIO_EXTENSIONS, other=NOT_AUDIO)


def class_folders(root: Path) -> dict[str, list[str]]:
    """Class name -> its sound files (recursive, sorted), for ``root/<class>/...``."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not is_hidden(e.name))
    files: dict[str, list[str]] = {}
    for cls in classes:
        files[cls] = [p for p in walk(str(root / cls), True) if is_audio_name(p)]
    return files
