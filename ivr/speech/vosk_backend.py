"""Vosk (Kaldi) recognition: one shared Model, one streaming recognizer per call and turn.

A turn's grammar (`Hints.grammar`) restricts the result to those phrases; words the model does
not know are dropped from the grammar with a warning, and "[unk]" stands for anything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import vosk

from ivr.speech.asr import NO_HINTS, AsrResult, Hints
from ivr.speech.audio import ASR_RATE, PHONE_RATE, resample

logger = logging.getLogger(__name__)
UNKNOWN = "[unk]"


@dataclass(frozen=True)
class Partial:
    text: str


@dataclass(frozen=True)
class Final:
    text: str
    nbest: tuple[str, ...]
    confidence: float


def _parse_final(raw: str) -> Final:
    data = json.loads(raw)
    alternatives = data.get("alternatives")
    if alternatives:
        texts = tuple(_clean(a.get("text", "")) for a in alternatives)
        if not texts[0]:
            return Final("", (), 0.0)
        top = alternatives[0].get("confidence", 0.0)
        total = sum(max(a.get("confidence", 0.0), 0.0) for a in alternatives) or 1.0
        nbest = tuple(dict.fromkeys(t for t in texts if t))
        return Final(texts[0], nbest, max(0.0, min(1.0, top / total)) if top > 0 else 0.0)
    text = _clean(data.get("text", ""))
    words = data.get("result") or []
    confidence = sum(w.get("conf", 0.0) for w in words) / len(words) if words else 0.0
    return Final(text, (text,) if text else (), confidence)


def _clean(text: str) -> str:
    return " ".join(w for w in text.split() if w != UNKNOWN)


def grammar_for(model: vosk.Model, phrases: tuple[str, ...]) -> list[str]:
    """The phrases whose words the model knows, plus "[unk]" when the model has it."""
    known = [p for p in phrases if all(model.vosk_model_find_word(w) >= 0 for w in p.split())]
    if dropped := len(phrases) - len(known):
        logger.warning("grammar: %d of %d phrases use words the Vosk model does not know", dropped, len(phrases))
    return [*known, UNKNOWN] if model.vosk_model_find_word(UNKNOWN) >= 0 else known


class VoskStream:
    """Synchronous streaming recognizer: `accept(pcm8k) -> Partial | Final | None`, `finish() -> Final`."""

    def __init__(self, model: vosk.Model, hints: Hints = NO_HINTS, *, rate: int = PHONE_RATE, alternatives: int = 3) -> None:
        phrases = grammar_for(model, hints.grammar) if hints.grammar else []
        if any(p != UNKNOWN for p in phrases):
            self._rec = vosk.KaldiRecognizer(model, ASR_RATE, json.dumps(phrases, ensure_ascii=False))
        else:  # no grammar, or none of its words known to the model: free dictation, never "[unk]" only
            self._rec = vosk.KaldiRecognizer(model, ASR_RATE)
        self._rec.SetMaxAlternatives(alternatives)
        self._rate = rate

    def accept(self, pcm: bytes) -> Partial | Final | None:
        if self._rec.AcceptWaveform(resample(pcm, self._rate, ASR_RATE)):
            return _parse_final(self._rec.Result())
        partial = json.loads(self._rec.PartialResult()).get("partial", "")
        return Partial(_clean(partial)) if partial else None

    def finish(self) -> Final:
        return _parse_final(self._rec.FinalResult())


class VoskRecognizer:
    """The shared async recognizer for the Vosk path."""

    backend = "vosk"

    def __init__(self, model_dir: Path, *, log_level: int = -1) -> None:
        vosk.SetLogLevel(log_level)
        self.model = vosk.Model(str(model_dir))

    def stream(self, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> VoskStream:
        return VoskStream(self.model, hints, rate=rate)

    def recognize_sync(self, pcm: bytes, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> AsrResult:
        started = time.monotonic()
        stream = self.stream(hints, rate)
        finals = [r for r in (stream.accept(pcm),) if isinstance(r, Final)]
        finals.append(stream.finish())
        text = " ".join(f.text for f in finals if f.text)
        last = finals[-1] if finals[-1].text else next((f for f in finals if f.text), finals[-1])
        nbest = (text,) if len(finals) > 1 and finals[0].text else last.nbest
        return AsrResult(
            text=text,
            nbest=nbest or ((text,) if text else ()),
            confidence=last.confidence,
            decode_seconds=time.monotonic() - started,
            backend=self.backend,
            audio_seconds=len(pcm) / 2 / rate,
        )

    async def recognize(self, pcm8k: bytes, hints: Hints = NO_HINTS) -> AsrResult:
        return await asyncio.to_thread(self.recognize_sync, pcm8k, hints)

    def close(self) -> None:
        """Nothing to release: the Model is freed with the object."""
