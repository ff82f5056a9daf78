"""Real models on real synthesized speech: Whisper base (Japanese) and the Vosk path (Korean model)."""

import asyncio
import json
import subprocess
import wave

import pytest

from ivr.config import Settings
from ivr.speech import audio
from ivr.speech.asr import AsrResult, Hints, choose_backend, load_recognizer
from ivr.speech.evaluation import cer, synthesize_phone
from ivr.speech.models import ModelError
from ivr.speech.tts import Voice
from ivr.speech.vosk_backend import Final, Partial

from .conftest import MODELS_DIR

pytestmark = pytest.mark.models

SENTENCE = "一月十五日の午前十時がいいです。"
CALLER = Voice(speed=1.0, volume_dbfs=-6.0, half_tone=-2.0)


@pytest.fixture(scope="module")
def phone_sentence() -> bytes:
    return synthesize_phone(SENTENCE, CALLER, seed=7)


def test_whisper_reads_a_japanese_sentence_through_the_phone_channel(whisper, phone_sentence):
    result = asyncio.run(whisper.recognize(phone_sentence, Hints(words=("日にち", "時間"))))
    assert isinstance(result, AsrResult) and result.backend == "whisper"
    assert cer(SENTENCE, result.text) <= 0.15, result.text
    assert result.nbest[0] == result.text and 0.0 < result.confidence <= 1.0
    assert result.audio_seconds == pytest.approx(audio.duration(phone_sentence), abs=0.01)
    # deterministic (beam search, temperature 0): the same audio gives the same answer
    assert whisper.recognize_sync(phone_sentence, Hints(words=("日にち", "時間"))).text == result.text


def test_whisper_serves_concurrent_calls_without_blocking_the_loop(whisper, phone_sentence):
    other = synthesize_phone("予約を取り消したいです。", CALLER, seed=8)

    async def scenario():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        results = await asyncio.gather(*(whisper.recognize(pcm) for pcm in [phone_sentence, other] * 3))
        task.cancel()
        return results, ticks

    results, ticks = asyncio.run(scenario())
    assert ticks > 5  # the loop kept running while six utterances were decoded
    assert all(cer(SENTENCE, r.text) <= 0.15 for r in results[0::2])
    assert all(cer("予約を取り消したいです。", r.text) <= 0.25 for r in results[1::2])


def test_whisper_returns_nothing_for_line_noise(whisper):
    result = whisper.recognize_sync(audio.phone_channel(audio.silence(2.0, 16000), noise_dbfs=-60))
    assert len(result.text) <= 3


def korean(word: str, tmp_path) -> bytes:
    path = tmp_path / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), word], check=True)
    with wave.open(str(path)) as handle:
        pcm, rate = handle.readframes(handle.getnframes()), handle.getframerate()
    return audio.silence(0.3) + audio.phone_channel(audio.resample(pcm, rate, 16000)) + audio.silence(0.5)


GRAMMAR = ("네", "아니요", "예약", "취소", "확인")


@pytest.mark.parametrize("word", ["네", "아니요", "예약"])
def test_vosk_grammar_turn_returns_only_grammar_phrases(vosk_ko, word, tmp_path):
    pcm = korean(word, tmp_path)
    result = asyncio.run(vosk_ko.recognize(pcm, Hints(grammar=GRAMMAR)))
    assert result.backend == "vosk"
    assert result.text == word
    assert set(result.nbest) <= set(GRAMMAR)
    free = vosk_ko.recognize_sync(pcm)  # without the grammar the same audio is free dictation
    assert free.backend == "vosk"


def test_vosk_grammar_turn_never_leaves_the_grammar_on_other_speech(vosk_ko, phone_sentence):
    result = vosk_ko.recognize_sync(phone_sentence, Hints(grammar=GRAMMAR))
    assert all(word in GRAMMAR for word in result.text.split())
    assert all(set(alt.split()) <= set(GRAMMAR) for alt in result.nbest)


def test_vosk_streams_partials_and_a_final(vosk_ko, tmp_path):
    pcm = korean("예약 확인", tmp_path) + audio.silence(1.0)
    stream = vosk_ko.stream(Hints(grammar=GRAMMAR))
    outputs = [stream.accept(frame) for frame in audio.frames(pcm)]
    outputs.append(stream.finish())
    finals = [o for o in outputs if isinstance(o, Final) and o.text]
    assert any(isinstance(o, Partial) for o in outputs)
    assert " ".join(f.text for f in finals) == "예약 확인"


def test_backend_choice_and_clear_errors(tmp_path, vosk_ko_dir):
    models_dir = MODELS_DIR
    assert choose_backend(Settings(models_dir=models_dir)) == "whisper"  # no Japanese Vosk model here
    assert choose_backend(Settings(models_dir=models_dir, vosk_model=vosk_ko_dir)) == "vosk"
    with pytest.raises(ModelError, match="MADOGUCHI_VOSK_MODEL"):
        load_recognizer(Settings(models_dir=models_dir, asr_backend="vosk"))
    with pytest.raises(ModelError, match="ivr models install"):
        load_recognizer(Settings(models_dir=tmp_path, asr_backend="whisper"))
    recognizer = load_recognizer(Settings(models_dir=models_dir, vosk_model=vosk_ko_dir))
    assert recognizer.backend == "vosk"


def test_transcribe_command_prints_json_per_file(tmp_path, phone_sentence):
    from click.testing import CliRunner

    from ivr.cli import cli

    wav8, wav16, bad = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    for path, rate, pcm in ((wav8, 8000, phone_sentence), (wav16, 16000, audio.resample(phone_sentence, 8000, 16000))):
        with wave.open(str(path), "wb") as handle:
            handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(rate)
            handle.writeframes(pcm)
    bad.write_bytes(b"not a wav")
    env = {"MADOGUCHI_MODELS_DIR": str(MODELS_DIR), "MADOGUCHI_ASR_BACKEND": "whisper"}
    result = CliRunner().invoke(cli, ["asr", "transcribe", str(wav8), str(wav16), str(bad)], env=env)
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert result.exit_code == 1  # the bad file
    assert [line["file"] for line in lines] == [str(wav8), str(wav16), str(bad)]
    assert all(cer(SENTENCE, line["text"]) <= 0.15 for line in lines[:2])
    assert lines[0]["decode_seconds"] > 0 and lines[0]["backend"] == "whisper"
    assert "not a readable WAV" in lines[2]["error"]


def test_vosk_grammar_drops_words_the_model_does_not_know(vosk_ko):
    from ivr.speech.vosk_backend import grammar_for

    assert grammar_for(vosk_ko.model, ("네", "예약 확인", "zzqx")) == ["네", "예약 확인"]


def test_vosk_grammar_of_unknown_words_only_falls_back_to_dictation(vosk_ko, tmp_path):
    """A Japanese step grammar on a model that knows none of its words must not reduce the turn to "[unk]"."""
    pcm = korean("예약", tmp_path)
    unknown_only = vosk_ko.recognize_sync(pcm, Hints(grammar=("十時", "午前十時")))
    assert unknown_only.text  # a grammar of "[unk]" alone would hear nothing at all


def test_the_solo_replica_is_measured_against_one_thread(whisper_dir):
    from ivr.speech.whisper_backend import WhisperDecoder, solo_time_ratio

    single = WhisperDecoder(whisper_dir, threads=1)
    assert 0.5 < solo_time_ratio(single, single, runs=1) < 2.0  # the same replica against itself


@pytest.mark.parametrize(("ratio", "kept"), [(0.5, True), (1.3, False)])
def test_the_solo_replica_is_kept_only_where_it_is_faster(whisper_dir, monkeypatch, ratio, kept):
    from ivr.speech import whisper_backend

    monkeypatch.setattr(whisper_backend, "solo_time_ratio", lambda solo, single: ratio)
    monkeypatch.setattr(whisper_backend.os, "cpu_count", lambda: 2)
    recognizer = whisper_backend.WhisperRecognizer(whisper_dir, parallel=1)
    try:
        assert (recognizer.solo is not None) is kept
    finally:
        recognizer.close()
