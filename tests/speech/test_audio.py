import numpy as np
import pytest

from ivr.speech import audio


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return audio.to_bytes(amplitude * np.sin(2 * np.pi * freq * t))


def dominant_frequency(pcm: bytes, rate: int) -> float:
    x = audio.to_float(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (48000, 8000)])
def test_resample_keeps_duration_and_pitch(src, dst):
    pcm = sine(1000, 1.0, src)
    out = audio.resample(pcm, src, dst)
    assert abs(len(out) // 2 - dst) <= 2
    assert dominant_frequency(out, dst) == pytest.approx(1000, abs=5)


def test_downsampling_removes_what_8k_cannot_carry():
    out = audio.resample(sine(6000, 1.0, 16000), 16000, 8000)
    assert audio.level_dbfs(out) < -50


def test_frames_are_320_bytes_and_padded():
    pcm = bytes(320 * 3 + 100)
    chunks = list(audio.frames(pcm))
    assert [len(c) for c in chunks] == [320] * 4
    assert chunks[-1] == bytes(320)
    assert len(list(audio.frames(pcm, pad=False))) == 3
    assert audio.frame_bytes() == 320


def test_odd_length_is_a_typed_error():
    with pytest.raises(audio.AudioError):
        audio.level_dbfs(b"\x00\x01\x02")
    with pytest.raises(audio.AudioError):
        audio.resample(b"\x00", 8000, 16000)


def test_levels():
    assert audio.level_dbfs(audio.silence(0.1)) == float("-inf")
    assert audio.level_dbfs(sine(440, 0.5, 8000, amplitude=1.0)) == pytest.approx(-3.01, abs=0.05)
    assert audio.peak_dbfs(audio.normalize_peak(sine(440, 0.5, 8000, 0.1), -6.0)) == pytest.approx(-6.0, abs=0.01)
    assert audio.duration(audio.silence(1.5)) == 1.5


def test_ulaw_golden_values_and_roundtrip():
    # G.711: 0 -> 0xFF, full positive -> 0x80, full negative -> 0x00
    encoded = audio.ulaw_encode(np.array([0, 32767, -32768], dtype="<i2").tobytes())
    assert encoded == bytes([0xFF, 0x80, 0x00])
    pcm = sine(700, 0.5, 8000, 0.3)
    back = audio.to_float(audio.ulaw_roundtrip(pcm))
    error = back - audio.to_float(pcm)
    snr = 10 * np.log10(np.mean(audio.to_float(pcm) ** 2) / np.mean(error**2))
    assert snr > 30
    assert audio.ulaw_decode(audio.ulaw_encode(pcm)) == audio.ulaw_roundtrip(pcm)


def test_phone_channel_band_limits_and_returns_8k():
    wide = audio.mix(sine(150, 1.0, 16000, 0.3), sine(1000, 1.0, 16000, 0.3))
    narrow = audio.phone_channel(wide, noise_dbfs=-90)
    assert len(narrow) // 2 == pytest.approx(8000, abs=2)
    assert dominant_frequency(narrow, 8000) == pytest.approx(1000, abs=5)
