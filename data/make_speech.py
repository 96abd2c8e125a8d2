"""Build ``data/speech/{train,test}/<word>/*.wav``: spoken command words from espeak-ng.

A small keyword-spotting corpus (like Speech Commands, but made here, offline): ten words
spoken by Debian's ``espeak-ng`` speech synthesizer with many voices (accents and
variants), speaking rates and pitches; each clip placed at a random offset
in one second of noise (white, pink or brown, at 5..25 dB SNR) with a random gain, so a
trivial model does not get every clip right. espeak-ng writes 22,050 Hz; clips are
resampled to 16 kHz with soxr (anti-aliased) and saved as 16-bit mono PCM WAV.
Split: the voices are divided, so the test clips are spoken by voices the training set
never heard (80/20). A fixed seed makes the files reproducible given the same espeak-ng.

Usage::

    apt-get install espeak-ng
    python data/make_speech.py [--out data/speech] [--clips 50]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LANGUAGES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "croak",
    "klatt", "klatt2", "klatt3", "whisper", "Andy", "Annie", "Alicia", "david", "edward",
    "grandma", "grandpa", "linda", "max", "Mike", "paul", "quincy", "steph", "travis", "zac",
)  # fmt: skip
RATE = 16_000
SECONDS = 1.0
TEST_FRACTION = 0.2
SEED = 15


def synthesize(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``word`` spoken by espeak-ng, as float32 samples at 16 kHz, silence trimmed."""
    args = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "word.wav"
        subprocess.run([*args, "-w", str(path), word], check=True, capture_output=True)
        audio, rate = sf.read(path, dtype="float32")
    audio = soxr.resample(audio, rate, RATE, quality="HQ")
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise with unit RMS."""
    white = rng.standard_normal(n)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.arange(spectrum.size), 1)
        spectrum /= f ** (0.5 if kind == "pink" else 1.0)
        white = np.fft.irfft(spectrum, n)
    return white / np.sqrt(np.mean(white**2))


def clip(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One second: the word at a random offset in noise at a random SNR and gain."""
    n = int(RATE * SECONDS)
    speech = speech[:n]
    out = np.zeros(n)
    start = int(rng.integers(0, n - speech.size + 1))
    out[start : start + speech.size] = speech
    power = np.mean(speech**2)
    snr_db = rng.uniform(5.0, 25.0)
    kind = str(rng.choice(["white", "pink", "brown"]))
    out += noise(kind, n, rng) * np.sqrt(power / 10 ** (snr_db / 10))
    out *= rng.uniform(0.2, 0.9) / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


def voices(rng: random.Random) -> list[str]:
    every = [f"{lang}+{variant}" for lang in LANGUAGES for variant in VARIANTS]
    rng.shuffle(every)
    return every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "speech")
    parser.add_argument("--clips", type=int, default=50, help="clips per word")
    opts = parser.parse_args()
    pick = random.Random(SEED)
    rng = np.random.default_rng(SEED)
    pool = voices(pick)
    n_test = round(len(pool) * TEST_FRACTION)
    split = {"test": pool[:n_test], "train": pool[n_test:]}
    if opts.out.exists():
        shutil.rmtree(opts.out)
    for part, names in split.items():
        count = opts.clips - round(opts.clips * (1 - TEST_FRACTION)) if part == "test" else None
        count = count if count is not None else round(opts.clips * (1 - TEST_FRACTION))
        for word in WORDS:
            folder = opts.out / part / word
            folder.mkdir(parents=True)
            for i in range(count):
                voice = pick.choice(names)
                speed, pitch = pick.randint(110, 240), pick.randint(10, 90)
                audio = clip(synthesize(word, voice, speed, pitch), rng)
                sf.write(folder / f"{word}_{i:03d}.wav", audio, RATE, subtype="PCM_16")
    print(f"wrote {opts.out}: {len(WORDS)} words x {opts.clips} clips")


if __name__ == "__main__":
    main()
