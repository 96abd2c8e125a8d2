"""Starter recipes for sound class folders (``<root>/<class>/*.wav``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from dlcli.data.kinds.audio_kind import NAME
from dlcli.errors import DataError
from dlcli.starter.base import Claim, Draft, Entry, Finding, Source, Starter, data_name
from dlcli.starter.image_starter import folder_claim, folder_mismatch
from dlcli.starter.labels import count_findings
from dlcli.starter.training import classification_train, imbalance_advice

HEADER_SAMPLE = 2000  # sound-file headers read for the rate and the clip lengths
COVERED = 95.0  # percent of clips the duration covers without cropping
MELS = 40


def _spread(items: Sequence[str], limit: int) -> list[str]:
    from dlcli.data.images import _spread as spread

    return spread(list(items), limit)


def sound_settings(paths: Sequence[str]) -> tuple[int, float, list[Finding]]:
    """The most common sample rate and a duration (0.1 s steps) covering 95% of the clips,
    from the headers of up to HEADER_SAMPLE files; with findings."""
    import numpy as np
    import soundfile

    rates: Counter[int] = Counter()
    seconds: list[float] = []
    channels: Counter[int] = Counter()
    for path in _spread(paths, HEADER_SAMPLE):
        try:
            info = soundfile.info(path)
        except Exception:  # unreadable: training reports it with its reason
            continue
        if info.samplerate <= 0 or info.frames <= 0:
            continue
        rates[info.samplerate] += 1
        channels[info.channels] += 1
        seconds.append(info.frames / info.samplerate)
    if not seconds:
        raise DataError("no readable sound file to take the sample rate from", file=Path(paths[0]))
    rate, _ = rates.most_common(1)[0]
    covered = float(np.percentile(seconds, COVERED))
    duration = max(0.1, math.ceil(covered * 10 - 1e-9) / 10)
    rate_why = (
        f"every sampled file ({len(seconds):,})"
        if len(rates) == 1
        else "the most common of "
        + ", ".join(f"{r} Hz x{n:,}" for r, n in rates.most_common())
        + " (others are resampled)"
    )
    findings = [
        Finding("sample_rate", f"{rate} Hz", rate_why),
        Finding(
            "duration",
            f"{duration:g} s",
            f"covers {COVERED:g}% of {len(seconds):,} clips ({min(seconds):.2f}-"
            f"{max(seconds):.2f} s; the {COVERED:g}th percentile is {covered:.2f} s); longer "
            "clips are cropped, shorter ones padded with silence",
        ),
    ]
    if set(channels) != {1}:
        listed = ", ".join(f"{c} channel(s) x{n:,}" for c, n in sorted(channels.items()))
        findings.append(Finding("channels", "mono", f"{listed}: averaged to one channel"))
    return rate, duration, findings


def sound_model(rate: int, duration: float, classes: int) -> list[Entry]:
    """recipes/speech_cnn.yaml at this rate and length: log-mel spectrogram (25 ms windows
    every 10 ms) inside the model, three conv stages, a softmax head."""
    window, stride = round(0.025 * rate), round(0.010 * rate)
    fft = 2 ** math.ceil(math.log2(window))
    frames = 1 + round(duration * rate) // stride
    conv = {"kernel_size": 3, "padding": "same", "activation": "relu"}
    return [
        Entry(
            "MelSpectrogram",
            {
                "sampling_rate": rate,
                "fft_length": fft,
                "sequence_length": window,
                "sequence_stride": stride,
                "num_mel_bins": MELS,
                "power_to_db": False,
            },
            "(samples,) -> (mels, frames)",
        ),
        Entry("LogScaling", None, "log power"),
        Entry("PerExampleNormalization", None, "loudness does not matter"),
        Entry("Reshape", {"target_shape": [MELS, frames, 1]}, "a one-channel picture"),
        Entry("Conv2D", {"filters": 32, **conv}),
        Entry("BatchNormalization", {"momentum": 0.9}),
        Entry("MaxPooling2D"),
        Entry("Conv2D", {"filters": 64, **conv}),
        Entry("BatchNormalization", {"momentum": 0.9}),
        Entry("MaxPooling2D"),
        Entry("Conv2D", {"filters": 128, **conv}),
        Entry("BatchNormalization", {"momentum": 0.9}),
        Entry("GlobalAveragePooling2D"),
        Entry("Dropout", 0.3),
        Entry("Dense", {"units": classes, "activation": "softmax", "name": "probs"}, "classes"),
    ]


class AudioStarter(Starter):
    kind = NAME

    def claim(self, source: Source) -> Claim | None:
        from dlcli.data.audio_read import AUDIO_EXTENSIONS

        return folder_claim(source.train, AUDIO_EXTENSIONS, "sound")

    def draft(self, source: Source) -> Draft:
        from dlcli.data.audio_read import class_folders

        files = {c: f for c, f in class_folders(source.train).items() if f}
        counts = {c: len(f) for c, f in files.items()}
        paths = [p for f in files.values() for p in f]
        if not paths:
            raise DataError("no sound files in the class folders", file=source.train)
        rate, duration, findings = sound_settings(paths)
        data = [
            Entry("kind", NAME, f"{len(paths):,} sound files in {len(files)} class folders"),
            Entry("train", source.recipe_path(source.train)),
        ]
        if source.validation is not None:
            val = {c: f for c, f in class_folders(source.validation).items() if f}
            total = sum(len(f) for f in val.values())
            data.append(
                Entry("validation", source.recipe_path(source.validation), f"{total:,} sound files")
            )
            findings += folder_mismatch(sorted(files), sorted(val))
        else:
            data.append(Entry("validation_split", 0.2, "20% of each class held out"))
        data += [
            Entry("sample_rate", rate, findings[0].why),
            Entry("duration", duration, f"seconds: covers {COVERED:g}% of the clips"),
            Entry("batch_size", 32),
            Entry(
                "augment",
                [{"RandomTimeShift": {"max_shift": 0.1}}, {"RandomGain": {"gain_db": [-6, 6]}}],
                "waveforms, training only",
            ),
        ]
        return Draft(
            kind=NAME,
            name=data_name(source.given),
            data=data,
            layers=sound_model(rate, duration, len(files)),
            train=classification_train(0.003, counts),
            findings=[*findings, *count_findings(counts), *imbalance_advice(counts)],
        )
