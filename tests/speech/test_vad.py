"""VAD on synthesized phone audio: endpointing within 100 ms, barge-in on speech but not on our echo."""

import numpy as np
import pytest

from ivr.speech import audio
from ivr.speech.vad import BargeInDetector, Endpointer, SpeechEnd, SpeechStart, VadError

pytestmark = pytest.mark.models

PROMPT = "ご希望の日にちと時間をお話しください。"
ANSWER = "十二月三日の午後二時半でお願いします。"


def speech_bounds(pcm: bytes, threshold_dbfs: float = -40.0) -> tuple[float, float]:
    """Ground truth from the clean signal: first and last 10 ms above the threshold."""
    x = audio.to_float(pcm)
    rms = np.array([np.sqrt(np.mean(x[i : i + 80] ** 2)) + 1e-12 for i in range(0, x.size, 80)])
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_dbfs)
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


def noise(seconds: float, dbfs: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return audio.to_bytes(rng.normal(0.0, 10 ** (dbfs / 20), int(seconds * 8000)))


def events(detector, inbound: bytes, played: bytes | None = None):
    out = []
    outbound = list(audio.frames(played)) if played else []
    for i, frame in enumerate(audio.frames(inbound)):
        ref = outbound[i] if i < len(outbound) else None
        if event := detector.feed(frame, ref):
            out.append(event)
    return out


@pytest.fixture(scope="module")
def prompt(prompt_voice) -> bytes:
    return prompt_voice.synthesize(PROMPT)


@pytest.fixture(scope="module")
def answer(caller_voice) -> bytes:
    return caller_voice.synthesize(ANSWER)


def test_endpointer_finds_answer_after_prompt_within_100ms(prompt, answer):
    lead, gap = 0.5, 0.8
    echo = audio.gain(prompt, -20.0)  # our prompt coming back at a normal echo return loss
    clean = audio.silence(lead) + echo + audio.silence(gap) + answer + audio.silence(1.5)
    inbound = audio.ulaw_roundtrip(audio.mix(clean, noise(audio.duration(clean), -55, seed=1)))
    played = audio.silence(lead) + prompt
    found = events(Endpointer(), inbound, played)
    assert [type(e) for e in found] == [SpeechStart, SpeechEnd]
    offset = lead + audio.duration(echo) + gap
    start, end = speech_bounds(answer)
    assert found[0].at == pytest.approx(offset + start, abs=0.1)
    assert found[1].start == found[0].at
    assert found[1].end == pytest.approx(offset + end, abs=0.1)
    assert audio.duration(found[1].pcm) == pytest.approx(end - start + 0.4, abs=0.15)  # pre-roll + tail


def test_a_pause_shorter_than_the_hangover_does_not_split_the_utterance(answer):
    start, end = speech_bounds(answer)
    core = answer[int(start * 8000) * 2 : int(end * 8000) * 2]  # without the synthesizer's own silences
    inbound = audio.silence(0.3) + core + audio.silence(0.4) + core + audio.silence(1.0)
    found = events(Endpointer(), inbound)
    assert [type(e) for e in found] == [SpeechStart, SpeechEnd]
    assert found[1].end == pytest.approx(0.3 + 2 * audio.duration(core) + 0.4, abs=0.1)
    split = events(Endpointer(), audio.silence(0.3) + core + audio.silence(1.2) + core + audio.silence(1.0))
    assert [type(e) for e in split] == [SpeechStart, SpeechEnd, SpeechStart, SpeechEnd]


def test_the_pause_inside_an_utterance_is_measured_and_the_utterance_so_far_given(answer):
    start, end = speech_bounds(answer)
    core = answer[int(start * 8000) * 2 : int(end * 8000) * 2]
    endpointer = Endpointer()
    assert endpointer.trailing_silence_ms == 0 and endpointer.utterance_so_far() == b""
    for frame in audio.frames(audio.silence(0.3) + core):
        endpointer.feed(frame)
    assert endpointer.in_speech and endpointer.trailing_silence_ms <= 100
    quiet = list(audio.frames(audio.silence(0.5)))
    for frame in quiet[:15]:
        assert endpointer.feed(frame) is None
    assert endpointer.trailing_silence_ms >= 250  # webrtcvad may hold on to a frame or two of speech
    so_far = endpointer.utterance_so_far()
    assert audio.duration(so_far) == pytest.approx(audio.duration(core) + 0.2 + 0.3, abs=0.1)  # pre-roll + pause
    ended = [event for frame in quiet[15:] + list(audio.frames(audio.silence(0.5))) if (event := endpointer.feed(frame))]
    assert [type(e) for e in ended] == [SpeechEnd] and ended[0].pcm.startswith(so_far[: len(so_far) // 2])
    assert endpointer.trailing_silence_ms == 0


def test_line_noise_and_hum_are_not_speech():
    hum = audio.to_bytes(0.01 * np.sin(2 * np.pi * 50 * np.arange(8000 * 3) / 8000))
    line = audio.ulaw_roundtrip(audio.mix(noise(3.0, -45, seed=2), hum))
    assert events(Endpointer(), line) == []
    assert events(BargeInDetector(), line) == []


def test_barge_in_ignores_our_own_prompt_echo(prompt):
    for return_loss_db in (15.0, 20.0, 30.0):
        inbound = audio.ulaw_roundtrip(audio.mix(audio.gain(prompt, -return_loss_db), noise(audio.duration(prompt), -55, 3)))
        assert events(BargeInDetector(), inbound) == [], return_loss_db
        assert events(BargeInDetector(), inbound, played=prompt) == [], return_loss_db


def test_barge_in_fires_on_caller_speech_over_the_prompt(prompt, answer):
    start_at = 1.0
    inbound = audio.ulaw_roundtrip(audio.mix(audio.gain(prompt, -15.0), audio.silence(start_at) + answer))
    for played in (None, prompt):
        found = events(BargeInDetector(), inbound, played)
        assert len(found) == 1  # fires once
        truth = start_at + speech_bounds(answer)[0]
        assert truth - 0.15 <= found[0].at <= truth + 0.3


def test_wrong_frame_size_is_a_typed_error():
    with pytest.raises(VadError):
        Endpointer().feed(bytes(100))
