"""Pure functions on 16-bit signed little-endian mono PCM ("slin") byte strings.

Phone audio is 8 kHz slin in 20 ms frames of 320 bytes; the recognizers want 16 kHz.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import soxr

PHONE_RATE = 8000
ASR_RATE = 16000
FRAME_MS = 20
SAMPLE_BYTES = 2


class AudioError(ValueError):
    """PCM data that is not whole 16-bit samples, or an unsupported rate."""


def frame_bytes(rate: int = PHONE_RATE, ms: int = FRAME_MS) -> int:
    return rate * ms // 1000 * SAMPLE_BYTES


def to_array(pcm: bytes) -> np.ndarray:
    if len(pcm) % SAMPLE_BYTES:
        raise AudioError(f"PCM length {len(pcm)} is not a whole number of 16-bit samples")
    return np.frombuffer(pcm, dtype="<i2")


def to_bytes(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] or int16 samples -> slin bytes (clipped)."""
    if samples.dtype.kind == "f":
        samples = np.clip(np.round(samples * 32767.0), -32768, 32767)
    return samples.astype("<i2").tobytes()


def to_float(pcm: bytes) -> np.ndarray:
    return to_array(pcm).astype(np.float32) / 32768.0


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Band-limited resampling with soxr (high quality), e.g. 8000 -> 16000 and back."""
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioError(f"bad sample rates {src_rate} -> {dst_rate}")
    samples = to_array(pcm)
    if src_rate == dst_rate or samples.size == 0:
        return pcm
    return soxr.resample(samples, src_rate, dst_rate, quality="HQ").astype("<i2").tobytes()


def frames(pcm: bytes, rate: int = PHONE_RATE, ms: int = FRAME_MS, *, pad: bool = True) -> Iterator[bytes]:
    """Split PCM into frames (320 bytes at 8 kHz / 20 ms); the last one is zero-padded or dropped."""
    size = frame_bytes(rate, ms)
    to_array(pcm)
    for start in range(0, len(pcm), size):
        chunk = pcm[start : start + size]
        if len(chunk) < size:
            if not pad:
                return
            chunk += bytes(size - len(chunk))
        yield chunk


def silence(seconds: float, rate: int = PHONE_RATE) -> bytes:
    if seconds < 0:
        raise AudioError(f"negative duration {seconds}")
    return bytes(int(round(seconds * rate)) * SAMPLE_BYTES)


def duration(pcm: bytes, rate: int = PHONE_RATE) -> float:
    return len(pcm) / SAMPLE_BYTES / rate


def level_dbfs(pcm: bytes) -> float:
    """RMS level in dB relative to full scale (a full-scale square wave is 0 dBFS); silence is -inf."""
    samples = to_float(pcm)
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def peak_dbfs(pcm: bytes) -> float:
    samples = to_float(pcm)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def gain(pcm: bytes, db: float) -> bytes:
    return to_bytes(to_float(pcm) * (10.0 ** (db / 20.0)))


def normalize_peak(pcm: bytes, target_dbfs: float) -> bytes:
    """Scale so that the highest peak sits at `target_dbfs` (silence stays silence)."""
    current = peak_dbfs(pcm)
    return pcm if current == float("-inf") else gain(pcm, target_dbfs - current)


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two slin signals (the shorter one zero-padded), clipped."""
    x, y = to_array(a).astype(np.int32), to_array(b).astype(np.int32)
    n = max(x.size, y.size)
    total = np.zeros(n, np.int32)
    total[: x.size] += x
    total[: y.size] += y
    return np.clip(total, -32768, 32767).astype("<i2").tobytes()


# G.711 mu-law (the phone network's 8-bit companding), vectorised.
_BIAS = 0x84
_CLIP = 32635


def ulaw_encode(pcm: bytes) -> bytes:
    samples = to_array(pcm).astype(np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    codes = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype("<i2").tobytes()


def ulaw_roundtrip(pcm: bytes) -> bytes:
    """What survives a G.711 mu-law phone channel."""
    return ulaw_decode(ulaw_encode(pcm))


def phone_channel(pcm16k: bytes, *, noise_dbfs: float = -50.0, seed: int = 0, rate: int = ASR_RATE) -> bytes:
    """Simulate a phone line: down to 8 kHz, 300-3400 Hz band, a little noise, mu-law. Returns 8 kHz."""
    narrow = to_float(resample(pcm16k, rate, PHONE_RATE)) if rate != PHONE_RATE else to_float(pcm16k)
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(narrow.size, 1.0 / PHONE_RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] *= 0.1
    band = np.fft.irfft(spectrum, narrow.size)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 10.0 ** (noise_dbfs / 20.0), band.size)
    return ulaw_roundtrip(to_bytes(band + noise))
