"""Evaluation of recognizers on synthesized booking phrases through a phone channel.

Character error rate is computed on kana readings (Open JTalk's g2p), with Arabic digit runs read
digit by digit first, so 12月 and 十二月 or 1234 and 一二三四 count as the same.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ivr.speech.asr import NO_HINTS, Hints
from ivr.speech.audio import ASR_RATE, phone_channel, resample, silence
from dialogs.readings import kanji
from ivr.speech.tts import EspeakBackend, OpenJTalkBackend, Voice, g2p_kana

_DIGITS = "〇一二三四五六七八九"
_NOT_KANA = re.compile(r"[^\u30a0-\u30ffー]")
_DIGIT_RUN = re.compile(r"\d{3,}")
_SHORT_NUMBER = re.compile(r"\d{1,2}")

# The phrases a booking call contains: dates, times, ticket and phone numbers, yes/no, sites, requests.
PHRASES: tuple[str, ...] = (
    "はい、そうです。",
    "いいえ、違います。",
    "十二月三日の午後二時半でお願いします。",
    "一月十五日の午前十時がいいです。",
    "来週の水曜日は空いていますか。",
    "接種券番号は一二三四五六七八九〇です。",
    "生年月日は昭和二十五年四月八日です。",
    "電話番号は〇九〇、一二三四、五六七八です。",
    "予約を取り消したいです。",
    "予約の日にちを変更したいです。",
    "市民会館でお願いします。",
    "中央保健センターにします。",
    "オペレーターにつないでください。",
    "もう一度言ってください。",
    "午後三時以降でお願いします。",
    "予約番号は八七六五四三二一です。",
)

# A booking line's key words, as the dialog passes them in `Hints.words` (Whisper's initial prompt).
HINT_WORDS: tuple[str, ...] = ("予約", "接種券番号", "生年月日", "日にち", "時間", "はい", "いいえ")

VOICES: tuple[Voice, ...] = (
    Voice(speed=1.0, volume_dbfs=-6.0),
    Voice(speed=0.85, volume_dbfs=-4.0, half_tone=-3.0),
    Voice(speed=1.15, volume_dbfs=-9.0, half_tone=3.0),
)


@dataclass(frozen=True)
class Sample:
    text: str
    voice: Voice
    pcm8k: bytes


def kana_reading(text: str) -> str:
    """Katakana reading without punctuation; digit runs of 3+ are read digit by digit."""
    text = _DIGIT_RUN.sub(lambda m: "".join(_DIGITS[int(d)] for d in m.group()), text)
    text = _SHORT_NUMBER.sub(lambda m: kanji(int(m.group())), text)
    return _NOT_KANA.sub("", g2p_kana(text)) if text.strip() else ""


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = kana_reading(reference), kana_reading(hypothesis)
    return edit_distance(ref, hyp) / max(1, len(ref))


def corpus_cer(pairs: Iterable[tuple[str, str]]) -> float:
    errors = total = 0
    for reference, hypothesis in pairs:
        ref = kana_reading(reference)
        errors += edit_distance(ref, kana_reading(hypothesis))
        total += len(ref)
    return errors / max(1, total)


def synthesize_phone(text: str, voice: Voice, *, seed: int = 0, noise_dbfs: float = -60.0) -> bytes:
    """Open JTalk (or espeak-ng for a `backend="espeak"` voice), through the phone channel (band limit,
    noise, mu-law) -> 8 kHz, with 0.5 s of quiet each side as a call's utterance has (the session
    hands the recognizer its pre-roll and the end-of-speech pause along with the voice)."""
    if voice.backend == "espeak":
        pcm8k = EspeakBackend(voice).synthesize(text)
    else:
        wide = Voice(backend="openjtalk", speed=voice.speed, volume_dbfs=voice.volume_dbfs, half_tone=voice.half_tone)
        pcm8k = OpenJTalkBackend(wide).synthesize(text)
    padded = silence(0.5) + pcm8k + silence(0.5)
    return phone_channel(resample(padded, 8000, ASR_RATE), noise_dbfs=noise_dbfs, seed=seed)


def build_test_set(
    phrases: Sequence[str] = PHRASES, voices: Sequence[Voice] = VOICES, *, noise_dbfs: float = -60.0
) -> list[Sample]:
    return [
        Sample(text, voice, synthesize_phone(text, voice, seed=i, noise_dbfs=noise_dbfs))
        for i, (text, voice) in enumerate((t, v) for v in voices for t in phrases)
    ]


def voice_label(voice: Voice) -> str:
    return f"speed {voice.speed} half_tone {voice.half_tone:+g}"


def score_recognizer(recognizer, samples: Sequence[Sample], hints: Hints = NO_HINTS) -> dict:
    """Recognize the samples one at a time after a warm-up decode: CER overall and per voice,
    decode latency, and the first ten utterances heard wrong as (reference, hypothesis)."""
    recognizer.recognize_sync(samples[0].pcm8k)
    rows = [(sample, recognizer.recognize_sync(sample.pcm8k, hints)) for sample in samples]
    latencies = [result.decode_seconds for _, result in rows]
    voices = dict.fromkeys(sample.voice for sample in samples)
    return {
        "utterances": len(rows),
        "cer": corpus_cer((s.text, r.text) for s, r in rows),
        "per_voice_cer": {
            voice_label(v): corpus_cer((s.text, r.text) for s, r in rows if s.voice == v) for v in voices
        },
        "latency_median_s": statistics.median(latencies),
        "latency_p95_s": percentile(latencies, 95),
        "audio_median_s": statistics.median(r.audio_seconds for _, r in rows),
        "errors": [(s.text, r.text) for s, r in rows if s.text.rstrip("。") != r.text.rstrip("。")][:10],
    }


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
