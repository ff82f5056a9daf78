"""Whisper batching (issue 17): utterances are batched only when CTranslate2 can decode them together.

CTranslate2 4.8.5 decodes a batch only when `<|startoftranscript|>` is at the same position in every
prompt, i.e. when the prompts have the same token count (different words of equal length are fine).
The unit tests drive `WhisperRecognizer` with a fake decoder that enforces exactly that rule; the
model tests submit utterances of several dialog steps at once to the real Whisper base.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future, wait

import numpy as np
import pytest

from dialogs.messages import Listen
from ivr.listen_hints import hints_for
from ivr.speech.asr import AsrError, AsrResult, Hints, Priority
from ivr.speech.evaluation import synthesize_phone
from ivr.speech.tts import Voice
from ivr.speech.audio import ASR_RATE, PHONE_RATE, resample, to_float
from ivr.speech.whisper_backend import WhisperDecoder, WhisperRecognizer, _Job, take_batch

PCM = np.zeros(1600, np.int16).tobytes()  # 0.2 s at 8 kHz; the fake decoder never looks at it


def job_hints(name: str, length: int) -> Hints:
    """A job named `name` whose prompt has `length` "tokens" (the fake decoder's batch key)."""
    return Hints(words=(name, *("x" * (length - 1))))


class FakeDecoder:
    """Records every batch it is given; raises like CTranslate2 when prompt lengths differ.

    A job named in `broken` fails in any batch (alone too); `gate` holds the first decode until the
    test has queued everything, so that what waits is known.
    """

    def __init__(self, broken: frozenset[str] = frozenset()) -> None:
        self.broken = broken
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.lock = threading.Lock()

    def batch_key(self, hints: Hints) -> int:
        return len(hints.words)

    def decode_batch(self, samples, hints):
        names = [h.words[0] for h in hints]
        with self.lock:
            self.batches.append(names)
        self.gate.wait(10)
        if len({self.batch_key(h) for h in hints}) > 1:
            raise ValueError("<|startoftranscript|> token to be at the same position in all batches")
        if self.broken & set(names):
            raise RuntimeError(f"cannot decode {sorted(self.broken & set(names))}")
        return [(name, (name,), 0.9) for name in names]


def wait_until_decoding(fake: FakeDecoder) -> None:
    deadline = time.monotonic() + 5
    while not fake.batches and time.monotonic() < deadline:
        time.sleep(0.005)


def queue_behind_a_busy_worker(recognizer: WhisperRecognizer, fake: FakeDecoder, jobs) -> list[Future]:
    """Submit "first" (taken at once, held at the gate), then `jobs` while the one worker is busy."""
    first = recognizer.submit(PCM, job_hints("first", 1))
    wait_until_decoding(fake)
    futures = [recognizer.submit(PCM, job_hints(name, length)) for name, length in jobs]
    fake.gate.set()
    return [first, *futures]


def test_jobs_of_different_prompt_lengths_are_never_decoded_together_and_keep_their_order():
    fake = FakeDecoder()
    recognizer = WhisperRecognizer(parallel=1, max_batch=3, decoder=fake)
    try:
        jobs = [("a1", 2), ("b1", 3), ("a2", 2), ("a3", 2), ("b2", 3), ("c1", 5), ("a4", 2), ("b3", 3)]
        futures = queue_behind_a_busy_worker(recognizer, fake, jobs)
        results = [f.result(timeout=10) for f in futures]
    finally:
        recognizer.close()
    assert [r.text for r in results] == ["first", *(name for name, _ in jobs)]
    assert all(isinstance(r, AsrResult) and r.backend == "whisper" for r in results)
    # the oldest waiting job leads each batch; same-length jobs join it in order, up to max_batch 3
    assert fake.batches == [["first"], ["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1"], ["a4"]]


def test_a_busy_recognizer_decodes_yes_no_answers_first_and_early_decodings_last():
    fake = FakeDecoder()
    recognizer = WhisperRecognizer(parallel=1, max_batch=8, express=False, decoder=fake)
    try:
        first = recognizer.submit(PCM, job_hints("first", 1))
        wait_until_decoding(fake)
        jobs = [("early", Priority.SPECULATIVE), ("ticket", Priority.NORMAL), ("yes", Priority.URGENT),
                ("date", Priority.NORMAL), ("early2", Priority.SPECULATIVE), ("no", Priority.URGENT)]
        futures = [recognizer.submit(PCM, Hints(words=(name,), priority=priority)) for name, priority in jobs]
        fake.gate.set()
        wait([first, *futures], timeout=10)
    finally:
        recognizer.close()
    assert fake.batches == [["first"], ["yes", "no"], ["ticket", "date"], ["early", "early2"]]


class HeldDecoder(FakeDecoder):
    """Holds only the utterances named in `held` at the gate; the others decode at once."""

    def __init__(self, held: frozenset[str]) -> None:
        super().__init__()
        self.held = held

    def decode_batch(self, samples, hints):
        names = [h.words[0] for h in hints]
        with self.lock:
            self.batches.append(names)
        if self.held & set(names):
            self.gate.wait(10)
        return [(name, (name,), 0.9) for name in names]


def test_a_yes_no_answer_is_decoded_while_every_other_worker_is_busy():
    fake = HeldDecoder(held=frozenset({"ticket", "date"}))
    recognizer = WhisperRecognizer(parallel=1, max_batch=8, decoder=fake)
    try:
        ticket = recognizer.submit(PCM, Hints(words=("ticket",)))
        wait_until_decoding(fake)
        date_ = recognizer.submit(PCM, Hints(words=("date",)))
        early = recognizer.submit(PCM, Hints(words=("early",), priority=Priority.SPECULATIVE))
        yes = recognizer.submit(PCM, Hints(words=("yes",), priority=Priority.URGENT))
        assert yes.result(timeout=5).text == "yes"  # the one ordinary worker is still held on the ticket
        assert not ticket.done() and not date_.done() and not early.done()
        fake.gate.set()
        assert [f.result(timeout=5).text for f in (ticket, date_, early)] == ["ticket", "date", "early"]
    finally:
        fake.gate.set()
        recognizer.close()
    assert fake.batches == [["ticket"], ["yes"], ["date"], ["early"]]  # the express worker took no other job


def test_without_the_express_worker_a_yes_no_answer_waits_for_the_busy_one():
    fake = HeldDecoder(held=frozenset({"ticket"}))
    recognizer = WhisperRecognizer(parallel=1, max_batch=8, express=False, decoder=fake)
    try:
        ticket = recognizer.submit(PCM, Hints(words=("ticket",)))
        wait_until_decoding(fake)
        yes = recognizer.submit(PCM, Hints(words=("yes",), priority=Priority.URGENT))
        assert wait([yes], timeout=0.3).not_done
        fake.gate.set()
        assert yes.result(timeout=5).text == "yes" and ticket.result(timeout=5).text == "ticket"
    finally:
        fake.gate.set()
        recognizer.close()


def test_yes_no_turns_are_urgent():
    yesno = hints_for(Listen("yesno", hints=("はい", "いいえ")))
    ticket = hints_for(Listen("digits", hints=("接種券番号",)))
    assert (yesno.priority, yesno.short) == (Priority.URGENT, True)
    assert (ticket.priority, ticket.short) == (Priority.NORMAL, False)


def test_a_failed_batch_is_retried_one_by_one_and_only_the_bad_utterance_fails():
    fake = FakeDecoder(broken=frozenset({"bad"}))
    recognizer = WhisperRecognizer(parallel=1, max_batch=8, decoder=fake)
    try:
        futures = queue_behind_a_busy_worker(recognizer, fake, [("g1", 2), ("bad", 2), ("g2", 2), ("other", 4)])
        wait(futures, timeout=10)
    finally:
        recognizer.close()
    first, g1, bad, g2, other = futures
    assert [f.result().text for f in (first, g1, g2, other)] == ["first", "g1", "g2", "other"]
    with pytest.raises(AsrError, match="bad"):
        bad.result()
    assert fake.batches == [["first"], ["g1", "bad", "g2"], ["g1"], ["bad"], ["g2"], ["other"]]


def test_many_workers_and_callers_never_mix_prompt_lengths():
    fake = FakeDecoder()
    fake.gate.set()
    recognizer = WhisperRecognizer(parallel=3, max_batch=4, decoder=fake)
    lengths = [1, 2, 3, 2, 4, 1, 1, 3]
    try:
        futures: list[Future] = []

        def caller(k: int) -> None:
            for i in range(25):
                futures.append(recognizer.submit(PCM, job_hints(f"{k}-{i}", lengths[(k + i) % len(lengths)])))

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        texts = sorted(f.result(timeout=20).text for f in futures)
    finally:
        recognizer.close()
    assert texts == sorted(f"{k}-{i}" for k in range(6) for i in range(25))
    assert sum(len(b) for b in fake.batches) == 150 and max(len(b) for b in fake.batches) <= 4
    for batch in fake.batches:  # every batch holds one prompt length (the fake raised otherwise)
        assert len({lengths[(int(k) + int(i)) % len(lengths)] for k, i in (n.split("-") for n in batch)}) == 1


def test_take_batch_skips_cancelled_callers_and_leaves_the_rest_in_order():
    def job(name: str, key: int) -> _Job:
        return _Job(np.zeros(1, np.float32), Hints(words=(name,)), Future(), 0.0, key)

    pending = deque([job("a", 1), job("b", 2), job("gone", 1), job("c", 1), job("d", 2)])
    pending[2].future.cancel()  # its caller hung up while it waited
    batch = take_batch(pending, max_batch=8)
    assert [j.hints.words[0] for j in batch] == ["a", "c"]
    assert all(j.future.running() for j in batch)  # no longer cancellable under the worker
    assert [j.hints.words[0] for j in pending] == ["b", "d"]
    assert [j.hints.words[0] for j in take_batch(pending, max_batch=1)] == ["b"]
    assert [j.hints.words[0] for j in pending] == ["d"]


def test_a_cancelled_caller_does_not_stop_the_worker_and_close_drains_the_queue():
    fake = FakeDecoder()
    recognizer = WhisperRecognizer(parallel=1, max_batch=8, decoder=fake)
    first = recognizer.submit(PCM, job_hints("first", 1))
    wait_until_decoding(fake)
    gone = recognizer.submit(PCM, job_hints("gone", 2))
    kept = recognizer.submit(PCM, job_hints("kept", 2))
    assert gone.cancel()
    fake.gate.set()
    recognizer.close()  # waits for what was queued
    assert first.result(timeout=0).text == "first" and kept.result(timeout=0).text == "kept"
    assert fake.batches == [["first"], ["kept"]]
    with pytest.raises(AsrError, match="closed"):
        recognizer.submit(PCM, job_hints("late", 1)).result(timeout=1)


# --- the real model -------------------------------------------------------------------------------

STEPS: tuple[tuple[str, Hints], ...] = (
    ("はい、お願いします", Hints(words=("はい", "いいえ"))),
    ("十二月三日でお願いします", Hints(words=("日にち",))),
    ("午前十時半でお願いします", Hints(words=("時間",))),
    ("接種券番号は1234567890です", Hints(words=("接種券番号",))),
)
VOICES = (
    Voice(speed=1.0, volume_dbfs=-6.0, half_tone=-2.0),
    Voice(speed=1.1, volume_dbfs=-9.0, half_tone=-3.0),
    Voice(speed=0.9, volume_dbfs=-4.5),
)


@pytest.fixture(scope="module")
def batching_whisper(whisper_dir):
    recognizer = WhisperRecognizer(whisper_dir, parallel=2, max_batch=8)
    yield recognizer
    recognizer.close()


@pytest.mark.models
def test_whisper_decodes_utterances_of_different_steps_submitted_at_once(batching_whisper):
    utterances = [
        (text, hints, synthesize_phone(text, voice, seed=i))
        for i, (voice, (text, hints)) in enumerate((v, s) for v in VOICES for s in STEPS)
    ]
    keys = {batching_whisper.decoder.batch_key(hints) for _, hints, _ in utterances}
    assert len(keys) >= 3  # the prompts really differ in length: one batch of all of them would fail
    started = time.monotonic()
    futures = [batching_whisper.submit(pcm, hints) for _, hints, pcm in utterances]
    results = [f.result(timeout=120) for f in futures]  # raises if any utterance got an AsrError
    elapsed = time.monotonic() - started
    assert len(results) == 12
    for (text, _, _), result in zip(utterances, results, strict=True):
        assert result.text, f"nothing recognized for {text}"
    # batching is invisible: each utterance alone gives the same n-best (all are under 9 s, so the
    # batch's window is each one's own 10 s window)
    alone = [batching_whisper.recognize_sync(pcm, hints) for _, hints, pcm in utterances]
    assert [r.nbest for r in alone] == [r.nbest for r in results]
    print(f"12 utterances of 4 steps at once: {elapsed:.2f} s; " + " | ".join(r.text for r in results))


class CountingModel:
    """The real CTranslate2 model, with its encoder and decoder passes counted."""

    def __init__(self, model) -> None:
        self.model, self.encodes, self.generates = model, 0, 0

    def encode(self, *args, **kwargs):
        self.encodes += 1
        return self.model.encode(*args, **kwargs)

    def generate(self, *args, **kwargs):
        self.generates += 1
        return self.model.generate(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.mark.models
def test_an_echo_of_the_prompt_is_decoded_again_from_the_same_encoder_output(whisper_dir):
    decoder = WhisperDecoder(whisper_dir)
    counting = decoder.model = CountingModel(decoder.model)
    hints = Hints(words=("時間", "午前十時", "午後一時", "午後五時半"))
    samples = synthesize_phone("えーと", Voice(speed=1.0), seed=3)
    [(text, _, _)] = decoder.decode_batch([to_float(resample(samples, PHONE_RATE, ASR_RATE))], [hints])
    assert counting.encodes == 1  # once, whether or not the prompt came back
    assert counting.generates in (1, 2)
    assert text not in ("午前十時", "午後一時", "午後五時半")  # an offered time read back is decoded again


def test_an_utterance_alone_is_decoded_on_every_core_and_the_others_on_one_core_each():
    shared, solo = FakeDecoder(), HeldDecoder(held=frozenset({"ticket"}))
    shared.gate.set()
    recognizer = WhisperRecognizer(parallel=2, max_batch=8, express=False, decoder=shared, solo=solo)
    try:
        assert recognizer.recognize_sync(PCM, Hints(words=("menu",))).text == "menu"  # nothing else: solo
        ticket = recognizer.submit(PCM, Hints(words=("ticket",)))  # solo, held there
        wait_until_decoding(solo)
        deadline = time.monotonic() + 5
        while solo.batches[-1] != ["ticket"] and time.monotonic() < deadline:
            time.sleep(0.005)
        date = recognizer.recognize_sync(PCM, Hints(words=("date",)))  # the ticket is decoding: one core
        solo.gate.set()
        assert ticket.result(timeout=10).text == "ticket" and date.text == "date"
        assert recognizer.recognize_sync(PCM, Hints(words=("time",))).text == "time"  # alone again
    finally:
        recognizer.close()
    assert solo.batches == [["menu"], ["ticket"], ["time"]]
    assert shared.batches == [["date"]]
