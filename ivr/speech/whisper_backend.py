"""Whisper base through CTranslate2, on a short window instead of the 30 s one.

`transcribe()` pads every utterance to 30 s of features; computing log-mel features for the
utterance plus 1 s (at least 10 s, below which Whisper starts repeating itself) and calling
`Whisper.generate` directly is about 4x faster. Beam search (no sampling, no temperature
fallback) makes results deterministic. Utterances waiting at the same time are decoded in one
batch; `parallel` model replicas (one thread each) run on separate cores.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from ivr.speech.asr import NO_HINTS, AsrError, AsrResult, Hints
from ivr.speech.audio import ASR_RATE, PHONE_RATE, resample, to_float

logger = logging.getLogger(__name__)

MIN_WINDOW_S = 10
MAX_WINDOW_S = 30
NO_SPEECH_THRESHOLD = 0.6
_REPEAT = re.compile(r"(.{2,}?)\1{2,}")
_NUMBER_PIECE = re.compile(r"[\d０-９\s、。,.\-ー]+")


def collapse_repeats(text: str) -> str:
    """Whisper's failure mode on short windows: the same phrase three or more times in a row.

    Digits are left alone: 「7、7、7、5…」 is a ticket number read aloud, not a loop (a runaway
    output is cut by `max_tokens` instead).
    """
    return _REPEAT.sub(lambda m: m.group(0) if _NUMBER_PIECE.fullmatch(m.group(1)) else m.group(1), text)


def _echoes(text: str, prompt: str) -> bool:
    core = re.sub(r"[\s、。,.]", "", text)
    return bool(core) and core in re.sub(r"[\s、。,.]", "", prompt)


def window_seconds(audio_seconds: float) -> int:
    return int(min(MAX_WINDOW_S, max(MIN_WINDOW_S, math.ceil(audio_seconds + 1.0))))


def max_tokens(audio_seconds: float) -> int:
    return int(12 + 12 * audio_seconds)


@dataclass
class _Job:
    samples: np.ndarray
    hints: Hints
    future: Future
    queued_at: float


class WhisperDecoder:
    """Synchronous, thread-safe: `decode_batch([float32 16 kHz arrays], [Hints])`."""

    backend = "whisper"

    def __init__(self, model_dir: Path, *, parallel: int = 1, beam_size: int = 5, language: str = "ja") -> None:
        self.model = ctranslate2.models.Whisper(
            str(model_dir), device="cpu", compute_type="int8", intra_threads=1, inter_threads=parallel
        )
        hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer = Tokenizer(hf, True, task="transcribe", language=language)
        self.features = FeatureExtractor(feature_size=self.model.n_mels)
        self.beam_size = beam_size

    def _mel(self, samples: np.ndarray, window: int) -> np.ndarray:
        padded = np.zeros(window * ASR_RATE, np.float32)
        padded[: min(samples.size, padded.size)] = samples[: padded.size]
        mel = self.features(padded, padding=0)
        return mel[:, : window * ASR_RATE // self.features.hop_length]

    def _prompt(self, hints: Hints) -> list[int]:
        prompt: list[int] = []
        if text := hints.prompt():
            prompt = [self.tokenizer.sot_prev, *self.tokenizer.encode(" " + text)[:100]]
        return [*prompt, *self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    def decode_batch(self, batch: Sequence[np.ndarray], hints: Sequence[Hints]) -> list[tuple[str, tuple[str, ...], float]]:
        seconds = [s.size / ASR_RATE for s in batch]
        window = window_seconds(max(seconds))
        mel = np.stack([self._mel(s, window) for s in batch])
        prompts = [self._prompt(h) for h in hints]
        results = self.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)),
            prompts,
            beam_size=self.beam_size,
            num_hypotheses=min(3, self.beam_size),
            max_length=max(len(p) for p in prompts) + max_tokens(max(seconds)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )
        outputs = [self._result(r) for r in results]
        echoed = [i for i, (text, _, _) in enumerate(outputs) if hints[i].prompt() and _echoes(text, hints[i].prompt())]
        if echoed:  # Whisper sometimes just repeats its prompt: decode those again without it
            retry = self.decode_batch([batch[i] for i in echoed], [NO_HINTS] * len(echoed))
            for i, output in zip(echoed, retry, strict=True):
                outputs[i] = output
        return outputs

    def _result(self, result) -> tuple[str, tuple[str, ...], float]:
        texts, seen = [], set()
        for ids in result.sequences_ids:
            text = collapse_repeats(self.tokenizer.decode([t for t in ids if t < self.tokenizer.eot]).strip())
            if text not in seen:
                seen.add(text)
                texts.append(text)
        confidence = float(math.exp(result.scores[0])) if result.scores else 0.0
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and confidence < 0.5:
            return "", (), 1.0 - result.no_speech_prob
        return texts[0], tuple(texts), confidence


class WhisperRecognizer:
    """The shared async recognizer: a queue served by `parallel` worker threads that batch."""

    backend = "whisper"

    def __init__(self, model_dir: Path, *, parallel: int = 2, max_batch: int = 8, beam_size: int = 5) -> None:
        if parallel < 1 or max_batch < 1:
            raise ValueError("parallel and max_batch must be at least 1")
        self.decoder = WhisperDecoder(model_dir, parallel=parallel, beam_size=beam_size)
        self.max_batch = max_batch
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._workers = [
            threading.Thread(target=self._serve, name=f"whisper-{i}", daemon=True) for i in range(parallel)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, pcm8k: bytes, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> Future:
        """Thread-safe; the future resolves to an AsrResult."""
        samples = to_float(resample(pcm8k, rate, ASR_RATE))
        future: Future = Future()
        self._jobs.put(_Job(samples, hints, future, time.monotonic()))
        return future

    async def recognize(self, pcm8k: bytes, hints: Hints = NO_HINTS) -> AsrResult:
        return await asyncio.wrap_future(self.submit(pcm8k, hints))

    def recognize_sync(self, pcm: bytes, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> AsrResult:
        return self.submit(pcm, hints, rate).result()

    def _take_batch(self) -> list[_Job] | None:
        first = self._jobs.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._jobs.put(None)
                break
            batch.append(job)
        return batch

    def _serve(self) -> None:
        while (batch := self._take_batch()) is not None:
            started = time.monotonic()
            try:
                outputs = self.decoder.decode_batch([j.samples for j in batch], [j.hints for j in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error as a value
                logger.exception("whisper decode failed for a batch of %d", len(batch))
                for job in batch:
                    job.future.set_exception(AsrError(f"whisper decode failed: {exc}"))
                continue
            elapsed = time.monotonic() - started
            for job, (text, nbest, confidence) in zip(batch, outputs, strict=True):
                job.future.set_result(
                    AsrResult(
                        text=text,
                        nbest=nbest,
                        confidence=confidence,
                        decode_seconds=elapsed,
                        backend=self.backend,
                        audio_seconds=job.samples.size / ASR_RATE,
                        wait_seconds=started - job.queued_at,
                    )
                )

    def close(self) -> None:
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join(timeout=30)


__all__ = ["WhisperDecoder", "WhisperRecognizer", "collapse_repeats"]
