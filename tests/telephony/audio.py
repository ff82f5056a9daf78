"""Test audio: deterministic synthetic PCM and ways to find it again in what came back."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 8000
FRAME_SAMPLES = 160


def noise(frames: int, seed: int, level: int = 8000) -> bytes:
    """`frames` whole 20 ms frames of reproducible noise (every sample distinct enough to align)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-level, level, frames * FRAME_SAMPLES).astype("<i2").tobytes()


def tone(freq: float, seconds: float, level: float = 0.3) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as src:
        assert src.getframerate() == RATE and src.getsampwidth() == 2 and src.getnchannels() == 1
        return samples(src.readframes(src.getnframes()))


def best_offset(haystack: np.ndarray, needle: np.ndarray) -> int:
    """Offset of `needle` in `haystack` by cross-correlation (FFT)."""
    size = len(haystack) + len(needle)
    spectrum = np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size))
    corr = np.fft.irfft(spectrum, size)[: len(haystack) - len(needle) + 1]
    return int(np.argmax(corr))


def match_ratio(haystack: np.ndarray, needle: np.ndarray) -> float:
    """Fraction of needle samples found exactly at the best alignment in haystack."""
    if len(haystack) < len(needle):
        return 0.0
    offset = best_offset(haystack, needle)
    return float(np.mean(haystack[offset: offset + len(needle)] == needle))


def frames_found(haystack: np.ndarray, needle: np.ndarray) -> float:
    """Fraction of the needle's 20 ms frames found sample-exact somewhere in haystack.

    Robust to a recorder that shifts or pads between frames (a MixMonitor under load), unlike a
    single alignment.
    """
    hay = haystack.astype("<i2").tobytes()
    frames = [needle[i:i + FRAME_SAMPLES] for i in range(0, len(needle) - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    return sum(hay.find(frame.astype("<i2").tobytes()) % 2 == 0 for frame in frames) / len(frames)
