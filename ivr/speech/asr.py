"""Speech recognition: one small async interface over two synchronous backends.

`load_recognizer(settings)` builds the one recognizer a process shares between all its calls.
`await recognizer.recognize(pcm8k, hints)` never blocks the event loop: Whisper decodes in its own
worker threads (batching utterances from different calls into one encoder pass), Vosk in
`asyncio.to_thread`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from ivr.config import Settings
from ivr.speech.models import ModelError, installed_vosk_japanese, model_path

logger = logging.getLogger(__name__)


class AsrError(RuntimeError):
    """Recognition failed (bad audio, a backend error); the session apologises and re-asks."""


class Priority(IntEnum):
    """Which waiting utterance a busy recognizer decodes first (lower first, then oldest first).

    URGENT:      an answer that completes or confirms something (yes/no): the caller is waiting
                 for 「予約しました」, and finishing calls in progress is what a full line must do first.
    SPECULATIVE: a decoding started early in the caller's pause, which may still be dropped: it
                 runs when nothing else waits, so that under load it costs nothing.
    """

    URGENT = 0
    NORMAL = 1
    SPECULATIVE = 2


@dataclass(frozen=True)
class Hints:
    """What the current turn expects.

    words:    key words for Whisper's initial prompt (e.g. 接種券番号、生年月日).
    grammar:  the only phrases Vosk may return this turn (empty: free dictation).
    priority: how soon a busy recognizer decodes it (Whisper's queue; Vosk decodes at once).
    short:    a short answer is expected (yes/no): Whisper may decode it on a shorter window.
    max_tokens: the longest answer that makes sense, in Whisper tokens (a number of known length):
              a decoding caught in a repetition loop stops there instead of at the audio's length.
    """

    words: tuple[str, ...] = ()
    grammar: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    short: bool = False
    max_tokens: int | None = None

    def prompt(self) -> str:
        return "、".join(w.strip() for w in self.words if w.strip())


NO_HINTS = Hints()


@dataclass(frozen=True)
class AsrResult:
    text: str
    nbest: tuple[str, ...]
    confidence: float
    decode_seconds: float
    backend: str
    audio_seconds: float = 0.0
    wait_seconds: float = 0.0


class Recognizer(Protocol):
    backend: str

    async def recognize(self, pcm8k: bytes, hints: Hints = NO_HINTS) -> AsrResult: ...

    def recognize_sync(self, pcm: bytes, hints: Hints = NO_HINTS, rate: int = 8000) -> AsrResult: ...

    def close(self) -> None: ...


def choose_backend(settings: Settings) -> str:
    if settings.asr_backend != "auto":
        return settings.asr_backend
    if settings.vosk_model is not None or installed_vosk_japanese(settings.models_dir) is not None:
        return "vosk"
    return "whisper"


def vosk_model_dir(settings: Settings) -> Path:
    path = settings.vosk_model or installed_vosk_japanese(settings.models_dir)
    if path is None:
        raise ModelError(
            "no Japanese Vosk model: set MADOGUCHI_VOSK_MODEL to a local copy of vosk-model-small-ja-0.22 "
            "or run `ivr models install --backend vosk` where alphacephei.com is reachable"
        )
    if not Path(path).is_dir():
        raise ModelError(f"MADOGUCHI_VOSK_MODEL={path} is not a directory")
    return Path(path)


def load_recognizer(settings: Settings, *, parallel: int = 2, max_batch: int = 4) -> Recognizer:
    """The process-wide recognizer chosen by `settings.asr_backend` (auto: Vosk if a Japanese model is installed)."""
    backend = choose_backend(settings)
    if backend == "vosk":
        from ivr.speech.vosk_backend import VoskRecognizer

        return VoskRecognizer(vosk_model_dir(settings))
    from ivr.speech.whisper_backend import WhisperRecognizer

    return WhisperRecognizer(model_path(settings.models_dir, "whisper-base"), parallel=parallel, max_batch=max_batch)

