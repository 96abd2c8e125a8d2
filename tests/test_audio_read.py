"""Reading sound files (issue 15): formats, resampling against a known tone, padding and
cropping, and every bad-file case skipped with its reason. Oracles: NumPy FFTs and the
samples written, never the decoder under test."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dlcli.data.audio_read import (
    AudioFormat,
    Clip,
    decode_audio,
    find_audio,
    fit_length,
    resample,
)
from dlcli.data.listing import SkippedFile


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, rate: int) -> tuple[float, float]:
    """The strongest frequency of ``x`` and the FFT bin width."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size), rate / x.size


def test_a_1khz_sine_at_44100_resampled_to_16k_keeps_its_peak_within_one_bin() -> None:
    out = resample(tone(1000.0, 44_100)[:, None], 44_100, 16_000)[:, 0]
    assert abs(out.size - 16_000) <= 1
    peak, bin_width = peak_hz(out, 16_000)
    assert abs(peak - 1000.0) <= bin_width
    assert 0.45 < np.sqrt(2 * np.mean(out[200:-200] ** 2)) < 0.55  # amplitude kept


def test_a_tone_above_the_new_nyquist_is_filtered_out_not_aliased() -> None:
    # 12 kHz at 44.1 kHz would alias to 4 kHz at 16 kHz without an anti-aliasing filter.
    out = resample(tone(12_000.0, 44_100)[:, None], 44_100, 16_000)[:, 0]
    rms_db = 10 * np.log10(np.mean(out[200:-200] ** 2) / np.mean(tone(12_000, 44_100) ** 2))
    assert rms_db < -50


@pytest.mark.parametrize(
    "subtype,suffix,tolerance",
    [
        ("PCM_U8", ".wav", 1 / 64),
        ("PCM_16", ".wav", 1e-4),
        ("PCM_24", ".wav", 1e-6),
        ("PCM_32", ".wav", 1e-6),
        ("FLOAT", ".wav", 0.0),
        ("PCM_16", ".flac", 1e-4),
        ("VORBIS", ".ogg", 0.05),
    ],
)
def test_formats_decode_to_the_samples_written(
    tmp_path: Path, subtype: str, suffix: str, tolerance: float
) -> None:
    x = tone(440.0, 16_000, 0.5)
    path = tmp_path / f"clip{suffix}"
    sf.write(path, x, 16_000, subtype=subtype)
    clip = decode_audio(path, AudioFormat(16_000, 8000))
    assert isinstance(clip, Clip) and not clip.resampled
    assert clip.audio.shape == (8000,) and clip.audio.dtype == np.float32
    err = np.abs(clip.audio - x)
    assert (err.max() if subtype != "VORBIS" else np.sqrt(np.mean(err**2))) <= tolerance + 1e-7


def test_stereo_is_downmixed_to_the_mean_or_kept(tmp_path: Path) -> None:
    left, right = tone(300.0, 8000, 0.25), tone(700.0, 8000, 0.25, amp=0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono = decode_audio(path, AudioFormat(8000, 2000))
    assert isinstance(mono, Clip)
    np.testing.assert_allclose(mono.audio, (left + right) / 2, atol=1e-6)
    kept = decode_audio(path, AudioFormat(8000, 2000, "keep", 2))
    assert isinstance(kept, Clip) and kept.audio.shape == (2000, 2)
    np.testing.assert_allclose(kept.audio[:, 1], right, atol=1e-6)
    wrong = decode_audio(path, AudioFormat(8000, 2000, "keep", 1))
    assert isinstance(wrong, SkippedFile) and "2 channel(s)" in wrong.reason


def test_short_clips_are_padded_with_silence_and_long_ones_cropped() -> None:
    x = np.arange(10, dtype=np.float32)[:, None] + 1
    padded = fit_length(x, 16, "center")
    assert padded.shape == (16, 1)
    assert padded[:10, 0].tolist() == list(range(1, 11)) and not padded[10:].any()
    assert fit_length(x, 4, "start")[:, 0].tolist() == [1, 2, 3, 4]
    assert fit_length(x, 4, "center")[:, 0].tolist() == [4, 5, 6, 7]  # (10 - 4) // 2 = 3
    first = fit_length(x, 4, "random", np.random.default_rng(5))
    again = fit_length(x, 4, "random", np.random.default_rng(5))
    assert first.tolist() == again.tolist()
    starts = {int(fit_length(x, 4, "random", np.random.default_rng(s))[0, 0]) for s in range(40)}
    assert starts == set(range(1, 8))  # every start 0..6 is possible, none beyond


def test_duration_and_rate_together(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    sf.write(path, tone(500.0, 22_050, 2.0), 22_050, subtype="PCM_16")
    clip = decode_audio(path, AudioFormat(16_000, 12_000))  # 0.75 s at 16 kHz
    assert isinstance(clip, Clip) and clip.resampled and clip.audio.shape == (12_000,)
    peak, bin_width = peak_hz(clip.audio, 16_000)
    assert abs(peak - 500.0) <= bin_width


def _wav_bytes(tmp_path: Path) -> bytes:
    sf.write(tmp_path / "good.wav", tone(440.0, 8000, 0.1), 8000, subtype="PCM_16")
    return (tmp_path / "good.wav").read_bytes()


def test_each_bad_file_is_skipped_with_its_reason(tmp_path: Path) -> None:
    good = _wav_bytes(tmp_path)
    data_at = good.index(b"data")
    cases = {
        "truncated.wav": good[:30],
        "text.wav": b"this is a text file, not audio\n",
        "empty.wav": b"",
        "huge.wav": good[: data_at + 4] + struct.pack("<I", 2 * 10**9) + good[data_at + 8 :],
        "no_frames.wav": good[:data_at] + b"data" + struct.pack("<I", 0),
    }
    reasons = {}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        result = decode_audio(tmp_path / name, AudioFormat(8000, 800))
        assert isinstance(result, SkippedFile), name
        assert result.path == str(tmp_path / name) and not result.ignored
        reasons[name] = result.reason
    assert "data" in reasons["truncated.wav"].lower()  # libsndfile: no 'data' chunk
    assert "cannot decode sound" in reasons["text.wav"]
    assert reasons["empty.wav"] == "empty file (0 bytes)"
    assert "1,000,000,000 frames" in reasons["huge.wav"]
    assert "no audio frames" in reasons["no_frames.wav"]
    assert isinstance(decode_audio(tmp_path / "good.wav", AudioFormat(8000, 800)), Clip)


def test_find_audio_lists_sound_files_and_ignores_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/x.wav", "a/y.FLAC", "a/z.ogg", "a/notes.txt", "a/.hidden.wav"):
        (tmp_path / name).write_bytes(b"")
    found, skipped = find_audio([tmp_path / "a", tmp_path / "missing.wav", tmp_path / "*.mp9"])
    assert [Path(p).name for p in found] == ["x.wav", "y.FLAC", "z.ogg"]
    by_name = {Path(s.path).name: s for s in skipped}
    assert by_name["notes.txt"].ignored
    assert not by_name["missing.wav"].ignored and not by_name["*.mp9"].ignored
