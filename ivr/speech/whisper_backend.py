"""Whisper base through CTranslate2, on a short window instead of the 30 s one.

`transcribe()` pads every utterance to 30 s of features; computing log-mel features for the
utterance plus 1 s (at least 10 s, below which Whisper starts repeating itself) and calling
`Whisper.generate` directly is about 4x faster. Beam search (no sampling, no temperature
fallback) makes results deterministic. Utterances waiting at the same time are decoded in one
batch; `parallel` model replicas (one thread each) run on separate cores.

Waiting utterances are served by priority (`Hints.priority`: yes/no answers first, early
speculative decodings last), oldest first within one. An express worker beside the `parallel` ones
decodes urgent utterances only: a yes/no answer never waits for a ticket number's decoding to
finish (the caller is waiting for 「予約しました」), at the price of three threads sharing two cores
for the fraction of a second it takes.

An utterance that finds nothing else decoding or waiting goes to a solo replica that uses every
core (`solo`): one caller on a quiet line gets a reply sooner than one core could give it, and
under load, when there is always other work, the one-thread replicas keep the cores apart. The solo
replica is kept only where it is measured faster at start-up (`solo_time_ratio`): on a 2-vCPU machine of
2026-12 two threads decoded a short answer slower than one (0.37 s against 0.26 s).

CTranslate2 decodes a batch only when `<|startoftranscript|>` sits at the same position in every
prompt, i.e. when the prompts (the step's key words, tokenized) have the same length: prompts of
equal length but different words decode together and give the same text as alone. So a batch is the
oldest waiting utterance plus the following ones whose prompt has its length; the others stay
queued in order and the oldest of them leads the next batch. A batch that fails anyway is decoded
again one utterance at a time, so that only an utterance that fails alone gets the AsrError.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from ivr.speech.asr import NO_HINTS, AsrError, AsrResult, Hints, Priority
from ivr.speech.audio import ASR_RATE, PHONE_RATE, resample, to_float

logger = logging.getLogger(__name__)

MIN_WINDOW_S = 10
# A yes/no answer on a 4 s window: 71 of 80 understood, none wrong, against 69 and none on 10 s
# (10 yes/no phrases x 4 voices x 2 noise levels), in about 0.7x the time.
SHORT_ANSWER_MIN_WINDOW_S = 4
MAX_WINDOW_S = 30
NO_SPEECH_THRESHOLD = 0.6
_REPEAT = re.compile(r"(.{2,}?)\1{2,}")
_PUNCTUATION = re.compile(r"[\s、。,.!?！？]+")
_NUMBER_PIECE = re.compile(r"[\d０-９\s、。,.\-ー]+")


def collapse_repeats(text: str) -> str:
    """Whisper's failure mode on short windows: the same phrase three or more times in a row.

    Digits are left alone: 「7、7、7、5…」 is a ticket number read aloud, not a loop (a runaway
    output is cut by `max_tokens` instead).
    """
    return _REPEAT.sub(lambda m: m.group(0) if _NUMBER_PIECE.fullmatch(m.group(1)) else m.group(1), text)


def _echoes(text: str, prompt: str) -> bool:
    """The text is the prompt, part of it, or a list of its words (「午後一時、午後一時」 for an
    answer Whisper did not make out: the offered times it was told to expect, read back)."""
    core = re.sub(_PUNCTUATION, "", text)
    if core and core in re.sub(_PUNCTUATION, "", prompt):
        return True
    words = set(re.split(_PUNCTUATION, prompt)) - {""}
    pieces = [piece for piece in re.split(_PUNCTUATION, text) if piece]
    return len(pieces) >= 2 and all(piece in words for piece in pieces)


def window_seconds(audio_seconds: float, *, short_answers: bool = False) -> int:
    floor = SHORT_ANSWER_MIN_WINDOW_S if short_answers else MIN_WINDOW_S
    return int(min(MAX_WINDOW_S, max(floor, math.ceil(audio_seconds + 1.0))))


def max_tokens(audio_seconds: float) -> int:
    return int(12 + 12 * audio_seconds)


@dataclass
class _Job:
    samples: np.ndarray
    hints: Hints
    future: Future
    queued_at: float
    key: Hashable = None  # jobs decode together only when their keys are equal (the prompt length)


def take_batch(pending: deque[_Job], max_batch: int) -> list[_Job]:
    """Take the next batch from `pending` (oldest first), in place.

    The oldest job leads; after it come, in order, the waiting jobs whose key equals its key, up to
    `max_batch`. Jobs with another key stay in `pending` in their order, so the oldest of them
    leads the next batch. A job whose future was cancelled (its caller is gone) is dropped; every
    job taken is marked running, so it can no longer be cancelled under the worker.
    """
    batch: list[_Job] = []
    kept: list[_Job] = []
    while pending and len(batch) < max_batch:
        job = pending.popleft()
        if batch and job.key != batch[0].key:
            kept.append(job)
        elif job.future.set_running_or_notify_cancel():
            batch.append(job)
    pending.extendleft(reversed(kept))
    return batch


class WhisperDecoder:
    """Synchronous, thread-safe: `decode_batch([float32 16 kHz arrays], [Hints])`.

    Every utterance of one `decode_batch` call must have the same `batch_key` (CTranslate2 raises
    otherwise); `WhisperRecognizer` groups them so.
    """

    backend = "whisper"

    def __init__(self, model_dir: Path, *, parallel: int = 1, threads: int = 1, beam_size: int = 5,
                 language: str = "ja") -> None:
        self.model = ctranslate2.models.Whisper(
            str(model_dir), device="cpu", compute_type="int8", intra_threads=threads, inter_threads=parallel
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

    def batch_key(self, hints: Hints) -> int:
        """Utterances decode in one batch only when their keys are equal: the prompt's token count."""
        return len(self._prompt(hints))

    def _prompt(self, hints: Hints) -> list[int]:
        prompt: list[int] = []
        if text := hints.prompt():
            prompt = [self.tokenizer.sot_prev, *self.tokenizer.encode(" " + text)[:100]]
        return [*prompt, *self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    def decode_batch(self, batch: Sequence[np.ndarray], hints: Sequence[Hints]) -> list[tuple[str, tuple[str, ...], float]]:
        seconds = max(s.size / ASR_RATE for s in batch)
        window = window_seconds(seconds, short_answers=all(h.short for h in hints))
        mel = np.stack([self._mel(s, window) for s in batch])
        encoded = np.array(self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel)), to_cpu=True))
        longest = max_tokens(seconds)
        if all(h.max_tokens for h in hints):
            longest = min(longest, max(h.max_tokens for h in hints))
        outputs = self._generate(encoded, [self._prompt(h) for h in hints], longest)
        echoed = [i for i, (text, _, _) in enumerate(outputs) if hints[i].prompt() and _echoes(text, hints[i].prompt())]
        if echoed:  # Whisper sometimes just repeats its prompt: decode those again without it
            # from the same encoder output: the encoder is most of the cost of a short answer
            retry = self._generate(encoded[echoed], [self._prompt(NO_HINTS)] * len(echoed), longest)
            for i, output in zip(echoed, retry, strict=True):
                outputs[i] = output
        return outputs

    def _generate(self, encoded: np.ndarray, prompts: list[list[int]], longest: int) -> list[tuple[str, tuple[str, ...], float]]:
        results = self.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded)),
            prompts,
            beam_size=self.beam_size,
            num_hypotheses=min(3, self.beam_size),
            max_length=max(len(p) for p in prompts) + longest,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
        )
        return [self._result(r) for r in results]

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


SOLO_GAIN = 0.8  # the solo replica is kept when a decode takes at most this share of one thread's time
_CALIBRATION_TOKENS = 16  # a short answer's length


def solo_time_ratio(solo: WhisperDecoder, single: WhisperDecoder, *, runs: int = 3) -> float:
    """How long `solo` (every core) takes to decode against `single` (one thread): the encoder on a
    short answer's window, then a beam search of a short answer's length (end of text suppressed).

    On some machines more threads are slower (2 vCPUs sharing one physical core: beam search took
    0.23 s on two threads against 0.09 s on one); there an utterance alone is served by one thread.
    """
    mel = np.zeros((1, single.model.n_mels, MIN_WINDOW_S * ASR_RATE // single.features.hop_length), np.float32)
    prompt = single._prompt(NO_HINTS)

    def decode_seconds(decoder: WhisperDecoder) -> float:
        timings = []
        for _ in range(runs + 1):  # the first run warms the replica up
            started = time.perf_counter()
            encoded = decoder.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True)
            decoder.model.generate(encoded, [prompt], beam_size=decoder.beam_size,
                                   max_length=len(prompt) + _CALIBRATION_TOKENS,
                                   suppress_tokens=[-1, decoder.tokenizer.eot], suppress_blank=False)
            timings.append(time.perf_counter() - started)
        return sorted(timings[1:])[runs // 2]

    return decode_seconds(solo) / decode_seconds(single)


class WhisperRecognizer:
    """The shared async recognizer: a queue served by `parallel` worker threads that batch.

    `decoder` replaces the Whisper model (tests): anything with `decode_batch(samples, hints)` and
    `batch_key(hints)`. `express` adds the worker that serves `Priority.URGENT` alone. `solo`: the
    replica on every core for an utterance decoded alone (loaded from `model_dir` when True and the
    machine has several cores; None or False: none).
    """

    backend = "whisper"

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        parallel: int = 2,
        max_batch: int = 8,
        beam_size: int = 5,
        express: bool = True,
        decoder: WhisperDecoder | None = None,
        solo: WhisperDecoder | bool | None = True,
    ) -> None:
        if parallel < 1 or max_batch < 1:
            raise ValueError("parallel and max_batch must be at least 1")
        if decoder is None:
            if model_dir is None:
                raise ValueError("WhisperRecognizer needs a model_dir or a decoder")
            decoder = WhisperDecoder(model_dir, parallel=parallel + express, beam_size=beam_size)
        if solo is True:
            cores = os.cpu_count() or 1
            solo = WhisperDecoder(model_dir, threads=cores, beam_size=beam_size) if model_dir and cores > 1 else None
            if solo is not None and (ratio := solo_time_ratio(solo, decoder)) > SOLO_GAIN:
                logger.info("whisper: a decode on %d threads takes %.2fx one thread's time here: one thread serves an"
                            " utterance alone", cores, ratio)
                solo = None
        self.decoder = decoder
        self.solo: WhisperDecoder | None = solo or None
        self._decoding = 0  # batches being decoded now
        self.max_batch = max_batch
        self._pending: dict[Priority, deque[_Job]] = {priority: deque() for priority in Priority}
        self._ready = threading.Condition()
        self._closed = False
        lanes: list[Priority | None] = [None] * parallel + ([Priority.URGENT] if express else [])
        self._workers = [
            threading.Thread(target=self._serve, args=(lane,), name=f"whisper-{lane.name.lower() if lane else i}", daemon=True)
            for i, lane in enumerate(lanes)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, pcm8k: bytes, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> Future:
        """Thread-safe; the future resolves to an AsrResult (or fails with AsrError)."""
        future: Future = Future()
        try:
            samples = to_float(resample(pcm8k, rate, ASR_RATE))
            key = self.decoder.batch_key(hints)
        except Exception as exc:  # noqa: BLE001 - the caller gets the error as a value
            future.set_exception(AsrError(f"whisper cannot take this utterance: {exc}"))
            return future
        with self._ready:
            if self._closed:
                future.set_exception(AsrError("whisper recognizer is closed"))
                return future
            self._pending[hints.priority].append(_Job(samples, hints, future, time.monotonic(), key))
            self._ready.notify_all()  # the express worker waits on the same condition for urgent jobs only
        return future

    async def recognize(self, pcm8k: bytes, hints: Hints = NO_HINTS) -> AsrResult:
        return await asyncio.wrap_future(self.submit(pcm8k, hints))

    def recognize_sync(self, pcm: bytes, hints: Hints = NO_HINTS, rate: int = PHONE_RATE) -> AsrResult:
        return self.submit(pcm, hints, rate).result()

    def _take_batch(self, lane: Priority | None) -> tuple[list[_Job], bool] | None:
        """The next batch of `lane`'s priority (any, most urgent first, for None), possibly empty when
        every job taken was cancelled, and whether it is the only work (nothing else decoding or
        waiting); None once closed and drained."""
        with self._ready:
            while not self._queues(lane) and not self._closed:
                self._ready.wait()
            if not (queues := self._queues(lane)):
                return None
            batch = take_batch(queues[0], self.max_batch)
            alone = self._decoding == 0 and not self._queues(None)
            if batch:
                self._decoding += 1
            if self._queues(None):  # jobs of another prompt length: another idle worker may take them now
                self._ready.notify_all()
            return batch, alone

    def _queues(self, lane: Priority | None) -> list[deque[_Job]]:
        """The non-empty queues a worker of `lane` serves, the most urgent first."""
        return [queue for priority, queue in self._pending.items() if queue and lane in (None, priority)]

    def _serve(self, lane: Priority | None) -> None:
        while (taken := self._take_batch(lane)) is not None:
            batch, alone = taken
            if not batch:
                continue
            try:
                outcomes = self._decode(batch, self.solo if alone and self.solo is not None else self.decoder)
            finally:
                with self._ready:  # counted out before the callers hear back, who may submit again at once
                    self._decoding -= 1
            for job, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, AsrError):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _decode(self, batch: list[_Job], decoder: WhisperDecoder) -> list[AsrResult | AsrError]:
        started = time.monotonic()
        try:
            outputs = decoder.decode_batch([j.samples for j in batch], [j.hints for j in batch])
            if len(outputs) != len(batch):
                raise AsrError(f"{len(outputs)} results for {len(batch)} utterances")
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error as a value
            if len(batch) > 1:
                logger.warning("whisper decode failed for a batch of %d (%s); decoding each alone", len(batch), exc)
                return [outcome for job in batch for outcome in self._decode([job], decoder)]
            logger.exception("whisper decode failed for an utterance of %.1f s", batch[0].samples.size / ASR_RATE)
            return [AsrError(f"whisper decode failed: {exc}")]
        elapsed = time.monotonic() - started
        return [
            AsrResult(
                text=text,
                nbest=nbest,
                confidence=confidence,
                decode_seconds=elapsed,
                backend=self.backend,
                audio_seconds=job.samples.size / ASR_RATE,
                wait_seconds=started - job.queued_at,
            )
            for job, (text, nbest, confidence) in zip(batch, outputs, strict=True)
        ]

    def close(self) -> None:
        """Stop taking utterances; the workers finish the ones already queued, then exit."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join(timeout=30)


__all__ = ["WhisperDecoder", "WhisperRecognizer", "collapse_repeats", "take_batch"]
