"""The call session against an in-memory connection, with the real dialog engine, the vaccine
script and the real store on SQLite. Audio, speech recognition and synthesis are stand-ins; the
end-to-end tests (tests/e2e) run the real ones through Asterisk.

The fake caller answers each time the session starts listening (it builds an endpointer then).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialogs.engine import Engine
from dialogs.script import load_script
from ivr import events
from ivr.config import Settings
from ivr.store_calls import DialogStore
from ivr.events import EventBus
from ivr.live import LiveCalls
from ivr.call.listener import _EarlyDecoding, speculative
from ivr.listen_hints import hints_for
from ivr.session import CallSession, SessionDeps, Timing
from ivr.speech.asr import AsrError, Hints, Priority
from ivr.speech.vad import SpeechEnd, SpeechStart
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade
from slots.outcomes import CallOutcome
from telephony.audiosocket.protocol import Audio, Dtmf

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = load_script(ROOT / "dialogs" / "scripts" / "vaccine.yaml")
TODAY = date(2026, 11, 24)
DAY = TODAY + timedelta(days=3)
TICKET, BIRTH = "1234567890", "19650506"
SPEECH, QUIET = b"\x10\x10" * 160, bytes(320)


class FakePlayback:
    def __init__(self, sender: FakeSender) -> None:
        self._done = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.02, self._finish, True)

    def _finish(self, played: bool) -> None:
        if not self._done.done():
            self._done.set_result(played)

    async def done(self) -> bool:
        return await self._done


class FakeSender:
    def __init__(self) -> None:
        self.playing: list[FakePlayback] = []
        self.flushes = 0

    def play(self, pcm: bytes) -> FakePlayback:
        playback = FakePlayback(self)
        self.playing.append(playback)
        return playback

    def flush(self) -> int:
        self.flushes += 1
        for playback in self.playing:
            playback._finish(False)
        return len(self.playing)


class FakeConn:
    def __init__(self) -> None:
        self.uuid = uuid.uuid4()
        self.sender = FakeSender()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.hung_up = False

    async def inbound(self):
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def hangup(self) -> None:
        self.hung_up = True


class FakeEndpointer:
    """Speech = non-zero frames; the utterance ends at the first quiet frame after speech."""

    hangover_ms = 20
    trailing_silence_ms = 0  # never in a pause long enough to decode early

    def __init__(self) -> None:
        self.heard: list[bytes] = []

    def utterance_so_far(self) -> bytes:
        return b"".join(self.heard)

    def feed(self, frame: bytes):
        if any(frame):
            self.heard.append(frame)
            return SpeechStart(0.0) if len(self.heard) == 1 else None
        if self.heard:
            return SpeechEnd(b"".join(self.heard), 0.0, 0.1)
        return None


class FakeBargeIn:
    def feed(self, frame: bytes):
        return SpeechStart(0.0) if any(frame) else None


@dataclass
class Result:
    text: str
    nbest: tuple[str, ...]
    confidence: float = 0.9


class FakeRecognizer:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def recognize(self, pcm: bytes, hints: Any) -> Result:
        text = self.texts.pop(0)
        return Result(text, (text,))


class FakeSynth:
    def __init__(self) -> None:
        self.said: list[str] = []
        self.private: list[str] = []

    async def render(self, text: str, *, private: bool = False) -> bytes:
        self.said.append(text)
        if private:
            self.private.append(text)
        return SPEECH


class FakeAmi:
    def __init__(self) -> None:
        self.vars: list[tuple[str, str, str]] = []

    async def wait_call(self, call_uuid, timeout=2.0):
        return type("Info", (), {"caller": "09012345678", "channel": "PJSIP/trunk-0001"})()

    async def set_var(self, channel: str, name: str, value: str) -> None:
        self.vars.append((channel, name, value))


class Caller:
    """Answers from a list each time the session listens: ("keys", "12#"), ("say", text), ("silence",),
    ("hangup",)."""

    def __init__(self, conn: FakeConn, recognizer: FakeRecognizer, answers: list[tuple]) -> None:
        self.conn, self.recognizer, self.answers = conn, recognizer, list(answers)

    def listening(self) -> FakeEndpointer:
        if self.answers:
            answer = self.answers.pop(0)
            if answer[0] == "keys":
                for key in answer[1]:
                    self.conn.queue.put_nowait(Dtmf(key))
            elif answer[0] == "say":
                self.recognizer.texts.append(answer[1])
                for frame in [SPEECH] * 5 + [QUIET]:
                    self.conn.queue.put_nowait(Audio(frame))
            elif answer[0] == "hangup":
                self.conn.queue.put_nowait(None)
        return FakeEndpointer()


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'session.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = Settings(db=url, person_key="session-test-key")
    spec = BatchSpec(service="vaccine", site="市民会館", date_from=DAY, date_to=DAY, times=("10:00-11:00",),
                     every_minutes=30, capacity=1)
    run_in_transaction(factory, store.release_batch, spec, actor="test", now=datetime(2026, 11, 20, tzinfo=UTC))
    yield settings, factory
    engine.dispose()


def _run(env, answers: list[tuple], *, store_fails: bool = False, ami: FakeAmi | None = None,
         drain_after_hold: bool = False, operators=None):
    settings, factory = env
    bus, conn, recognizer, synth = EventBus(), FakeConn(), FakeRecognizer(), FakeSynth()
    caller = Caller(conn, recognizer, answers)
    dialog_store = DialogStore(factory, settings, clock=lambda: datetime(2026, 11, 24, 1, tzinfo=UTC))
    records: list = []

    def execute(call, *, call_id, channel):
        if store_fails and call.op == "hold":
            raise RuntimeError("database exploded")
        return dialog_store.execute(call, call_id=call_id, channel=channel)

    deps = SessionDeps(
        recognizer=recognizer, synthesizer=synth, engine_factory=lambda today: Engine(SCRIPT, today=today),
        store=execute, bus=bus, endpointer_factory=caller.listening, barge_in_factory=FakeBargeIn,
        hints_factory=hints_for, today=lambda: TODAY, ami=ami if ami is not None else FakeAmi(),
        operators=operators, record_call=records.append,
        timing=Timing(reprompt_silence=30 if drain_after_hold else 0.3, digit_timeout=0.3, max_call=30),
    )

    async def main():
        bus.bind(asyncio.get_running_loop())
        task = asyncio.create_task(CallSession(conn, deps).run())
        if not drain_after_hold:
            return await task
        while not any(isinstance(e, events.HoldPlaced) for e in bus.recent()):
            await asyncio.sleep(0.01)
        task.cancel()  # what IvrRuntime.stop does to a call still running after the grace period
        with pytest.raises(asyncio.CancelledError):
            await task
        return "cancelled-by-drain"

    outcome = asyncio.run(main())
    return outcome, bus.recent(), conn, synth, records, factory


def _day(factory):
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) - timedelta(hours=9)
    return run_in_transaction(factory, store.list_slots, "vaccine", start, start + timedelta(days=1),
                              now=datetime(2026, 11, 24, tzinfo=UTC))


KEYS_TO_HOLD = [("keys", "1"), ("keys", TICKET + "#"), ("keys", BIRTH), ("keys", f"{DAY:%m%d}#"), ("keys", "1030")]


def test_a_booking_by_keys_ends_booked_with_events_and_a_call_record(env):
    outcome, published, conn, synth, records, factory = _run(env, [*KEYS_TO_HOLD, ("keys", "1")])
    assert outcome is CallOutcome.BOOKED
    assert [e.outcome for e in published if isinstance(e, events.CallEnded)] == [CallOutcome.BOOKED]
    assert [s.booked for s in _day(factory)] == [0, 1] and all(s.held == 0 for s in _day(factory))
    kinds = [type(e) for e in published]
    for kind in (events.CallStarted, events.StepEntered, events.HoldPlaced, events.BookingMade, events.CallEnded):
        assert kind in kinds
    assert published[0].caller == "*******5678"  # as the queue shows it (ivr.privacy.mask_phone)
    assert any("予約番号" in text for text in synth.said)
    assert conn.hung_up
    assert records[0].outcome == "booked" and "confirm" in records[0].steps
    assert records[0].caller_masked == "*******5678"


def test_read_backs_are_rendered_in_pieces_and_kept_out_of_the_prompt_cache(env):
    outcome, _, _, synth, *_ = _run(env, [*KEYS_TO_HOLD, ("keys", "1")])
    assert outcome == "booked"
    assert "予約しました。" in synth.said  # the fixed head plays while the code renders
    code_pieces = [t for t in synth.said if "予約番号は" in t]
    assert code_pieces and set(code_pieces) <= set(synth.private)
    assert any("で、予約してよろしいですか" in t for t in synth.private)  # the read-back of the chosen slot
    assert not any("接種券番号をどうぞ" in t for t in synth.private)  # plain prompts may be cached


def test_caller_hanging_up_after_the_hold_releases_it(env):
    outcome, published, _, _, records, factory = _run(env, [*KEYS_TO_HOLD, ("hangup",)])
    assert outcome == "abandoned"
    assert all(s.held == 0 and s.booked == 0 for s in _day(factory))
    placed = [e for e in published if isinstance(e, events.HoldPlaced)]
    released = [e for e in published if isinstance(e, events.HoldReleased)]
    assert placed and released and released[-1].hold_id == placed[-1].hold_id
    assert records[0].outcome is CallOutcome.ABANDONED


def test_a_call_cut_by_shutdown_releases_its_hold(env):
    outcome, published, conn, _, records, factory = _run(env, KEYS_TO_HOLD, drain_after_hold=True)
    assert outcome == "cancelled-by-drain"
    assert all(s.held == 0 and s.booked == 0 for s in _day(factory))
    assert any(isinstance(e, events.HoldReleased) for e in published)
    assert records and records[0].outcome == "failed"
    assert conn.hung_up


def test_a_hash_pressed_after_a_complete_number_is_not_an_answer(env):
    # ticket (10 digits) then '#' arrives with the next prompt: it must not count as a silent answer
    outcome, published, *_ = _run(env, [("keys", "1"), ("keys", TICKET + "#"), ("keys", BIRTH + "#"),
                                        ("keys", f"{DAY:%m%d}#"), ("keys", "1030"), ("keys", "1")])
    assert outcome == "booked"
    assert not any(isinstance(e, events.TurnFailed) for e in published)


def test_operator_key_hands_the_call_over_with_a_summary(env):
    ami = FakeAmi()
    outcome, published, conn, synth, *_ = _run(env, [("keys", "1"), ("keys", TICKET + "#"), ("keys", "0")], ami=ami)
    assert outcome == "transferred"
    assert ami.vars == [("PJSIP/trunk-0001", "IVR_NEXT", "operator")] * 2  # at the start, at the hand-over
    transfer = next(e for e in published if isinstance(e, events.Transferred))
    assert "ワクチン" in transfer.summary and TICKET not in transfer.summary
    assert conn.hung_up  # ending the AudioSocket lets the dialplan go on to Queue(operators)


def test_speech_is_recognized_and_masked_in_events(env):
    answers = [("say", "予約したいです"), ("say", "1234567890です"), ("keys", BIRTH),
               ("say", f"{DAY.month}月{DAY.day}日"), ("say", "午前10時半"), ("say", "はい")]
    outcome, published, *_ = _run(env, answers)
    assert outcome == "booked"
    texts = [e.text for e in published if isinstance(e, events.UtteranceRecognized)]
    assert texts and all(TICKET not in t for t in texts)


def test_a_failing_store_is_apologised_for_and_handed_over(env):
    ami = FakeAmi()
    outcome, published, conn, synth, *_ = _run(env, KEYS_TO_HOLD, store_fails=True, ami=ami)
    assert outcome == "transferred"
    assert any("申し訳ございません" in text for text in synth.said)
    assert ami.vars == [("PJSIP/trunk-0001", "IVR_NEXT", "operator")] * 2  # at the start, at the hand-over
    assert conn.hung_up


def test_a_silent_caller_is_reprompted_then_transferred(env):
    ami = FakeAmi()
    outcome, published, _, synth, *_ = _run(env, [("silence",), ("silence",), ("silence",)], ami=ami)
    assert outcome == "transferred"
    said = "".join(synth.said)
    assert "ご用件をお話しください。恐れ入ります。予約は1" in said  # the menu's keys after the first silence
    assert "お声が聞き取れませんでした。ボタンでお選びください。" in said  # the keypad before a person

    assert ami.vars and ami.vars[0][1:] == ("IVR_NEXT", "operator")


def test_failed_turns_are_published_and_flag_the_call_for_help(env):
    outcome, published, *_ = _run(env, [("say", "ぜんぜん関係ない話"), ("silence",), ("say", "えっと")])
    assert outcome == "transferred"
    failed = [e for e in published if isinstance(e, events.TurnFailed)]
    assert [(e.step, e.failures) for e in failed] == [("menu", 1), ("menu", 2), ("menu", 3)]
    live = LiveCalls()
    for event in published[:-1]:  # up to the hand-over, before CallEnded removes the call
        live.apply(event)
    assert live.get(failed[0].call_id).needs_help


def test_nobody_to_answer_the_caller_leaves_a_call_back_request_instead_of_a_ringing_queue(env):
    ami = FakeAmi()
    nobody = lambda: (False, "平日の午前八時半から午後五時十五分まで")  # noqa: E731
    outcome, published, conn, synth, _, factory = _run(env, [("keys", "0"), ("say", "はい")], ami=ami,
                                                       operators=nobody)
    assert outcome == "completed" and [value for *_, value in ami.vars] == ["operator", "hangup"]  # not to the queue
    assert not any(isinstance(e, events.Transferred) for e in published)
    assert any("受付時間は、平日の午前八時半から午後五時十五分までです" in text for text in synth.said)
    assert any("承りました" in text for text in synth.said)
    requests = run_in_transaction(factory, store.list_callbacks)
    assert [(r.phone, r.service, r.reason) for r in requests] == [("09012345678", "vaccine", "asked")]
    # counted on /metrics with the line's busy-message requests (the number never on the bus)
    assert [(e.service, e.reason, e.ok) for e in published if isinstance(e, events.CallbackRequested)] == [
        ("vaccine", "asked", True)]
    assert conn.hung_up


def test_without_a_channel_to_hand_over_the_caller_is_offered_a_call_back(env):
    class NoChannelAmi(FakeAmi):
        async def wait_call(self, call_uuid, timeout=2.0):
            return None

    ami = NoChannelAmi()
    outcome, _, _, synth, _, factory = _run(env, [("keys", "0"), ("keys", "2")], ami=ami)
    assert outcome == "completed" and not ami.vars
    assert any("おつなぎできません" in text for text in synth.said)
    assert not run_in_transaction(factory, store.list_callbacks)


def test_masking():
    from ivr.api import schemas
    from ivr.privacy import mask_phone, mask_text

    assert schemas.mask_phone is mask_phone  # one masking for /calls, the live page and the queue
    assert mask_phone("090-1234-5678") == "*******5678" and mask_phone("123") == "123" and mask_phone("非通知") == ""
    assert mask_text("番号は1234567890です、10時") == "番号は****です、10時"


@pytest.mark.parametrize("said", ["7、7、7、5、8、3、4、3、8、6です", "一二三四五六七八", "1,234,567,890", "昭和25年3月4日"])
def test_what_a_caller_says_reaches_events_masked_by_meaning(env, said):
    """Ticket numbers said digit by digit or in kanji, and birth dates, never reach the live view."""
    settings, factory = env
    _, published, *_ = _run(env, [("say", "予約したいです"), ("say", said), ("hangup",)])
    texts = [e.text for e in published if isinstance(e, events.UtteranceRecognized)]
    assert len(texts) >= 2 and said not in texts and "****" in texts[1]
    live, seen = LiveCalls(), []
    live.on_change(lambda call, event: seen.append(repr(call)))
    live.apply_all(published)
    assert seen and all(said not in shown for shown in seen)


def test_a_hostile_caller_id_is_sanitized_before_it_is_kept_or_logged(env, caplog):
    class HostileAmi(FakeAmi):
        async def wait_call(self, call_uuid, timeout=2.0):
            return type("Info", (), {"caller": "0312345678\r\nAction: Originate", "channel": "PJSIP/trunk-0001"})()

    _, published, *_ = _run(env, [("keys", "0"), ("hangup",)], ami=HostileAmi())
    started = next(e for e in published if isinstance(e, events.CallStarted))
    assert started.caller == "******5678"
    assert "Originate" not in caplog.text and "0312345678" not in caplog.text


class PausingEndpointer:
    """As the real endpointer: speech = non-zero frames; an utterance ends after `hangover_ms` quiet."""

    hangover_ms = 800

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.quiet = 0

    @property
    def trailing_silence_ms(self) -> int:
        return self.quiet * 20 if self.frames else 0

    def utterance_so_far(self) -> bytes:
        return b"".join(self.frames)

    def feed(self, frame: bytes):
        if not self.frames:
            if any(frame):
                self.frames = [frame]
                return SpeechStart(0.0)
            return None
        self.frames.append(frame)
        self.quiet = 0 if any(frame) else self.quiet + 1
        if self.quiet * 20 < self.hangover_ms:
            return None
        pcm, self.frames, self.quiet = b"".join(self.frames), [], 0
        return SpeechEnd(pcm, 0.0, 0.1)


class TimedRecognizer:
    """Answers `text` after `seconds`, and notes what it was given and whether it was cancelled."""

    def __init__(self, text: str, seconds: float) -> None:
        self.text, self.seconds = text, seconds
        self.given: list[int] = []  # speech frames in each utterance decoded
        self.cancelled = 0

    async def recognize(self, pcm: bytes, hints: Any) -> Result:
        self.given.append(sum(1 for i in range(0, len(pcm), 320) if any(pcm[i:i + 320])))
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return Result(self.text, (self.text,))


def _say_yes_in_real_time(env, frames: list[bytes], recognizer: TimedRecognizer, records: list | None = None):
    """Keys up to the read-back of the held slot, then はい as 20 ms frames in real time; returns
    the seconds from the last speech frame to the reply 予約しました, and the recognizer."""
    settings, factory = env
    bus, conn, synth = EventBus(), FakeConn(), FakeSynth()
    answers = list(KEYS_TO_HOLD)
    marks: dict[str, float] = {}

    async def speak() -> None:
        for frame in frames:
            conn.queue.put_nowait(Audio(frame))
            if any(frame):
                marks["spoke"] = time.monotonic()
            await asyncio.sleep(0.02)

    def listening():
        if answers:
            for key in answers.pop(0)[1]:
                conn.queue.put_nowait(Dtmf(key))
        else:
            asyncio.ensure_future(speak())
        return PausingEndpointer()

    async def render(text: str, *, private: bool = False) -> bytes:
        if text.startswith("予約しました"):
            marks.setdefault("replied", time.monotonic())
        return SPEECH

    synth.render = render
    dialog_store = DialogStore(factory, settings, clock=lambda: datetime(2026, 11, 24, 1, tzinfo=UTC))
    deps = SessionDeps(
        recognizer=recognizer, synthesizer=synth, engine_factory=lambda today: Engine(SCRIPT, today=today),
        store=dialog_store.execute, bus=bus, endpointer_factory=listening, barge_in_factory=FakeBargeIn,
        hints_factory=hints_for, today=lambda: TODAY, ami=FakeAmi(),
        timing=Timing(reprompt_silence=3, digit_timeout=0.3, max_call=30),
        record_call=records.append if records is not None else None,
    )

    async def main():
        bus.bind(asyncio.get_running_loop())
        return await CallSession(conn, deps).run()

    assert asyncio.run(main()) is CallOutcome.BOOKED
    return marks["replied"] - marks["spoke"]


def test_an_answer_the_engine_understands_ends_the_pause_before_the_hang_over(env):
    recognizer = TimedRecognizer("はい", 0.05)
    waited = _say_yes_in_real_time(env, [SPEECH] * 10 + [QUIET] * 60, recognizer)
    assert recognizer.given == [10]  # decoded once, early in the pause, and that decoding was the answer
    assert waited < 0.7  # the end-of-utterance hang-over alone is 0.8 s


def test_a_caller_who_goes_on_after_a_short_pause_is_decoded_whole(env):
    recognizer = TimedRecognizer("はい", 0.2)
    frames = [SPEECH] * 5 + [QUIET] * 15 + [SPEECH] * 5 + [QUIET] * 60
    _say_yes_in_real_time(env, frames, recognizer)
    assert recognizer.cancelled == 1  # the decoding begun in the 0.3 s pause was dropped
    assert recognizer.given[-1] == 10


def test_a_caller_pausing_after_every_digit_is_not_decoded_at_every_pause(env):
    recognizer = TimedRecognizer("はい", 0.2)
    frames = ([SPEECH] * 5 + [QUIET] * 22) * 6 + [SPEECH] * 5 + [QUIET] * 60  # 0.44 s pauses
    _say_yes_in_real_time(env, frames, recognizer)
    assert len(recognizer.given) == 2  # one early decoding dropped, then only the whole answer
    assert recognizer.given[-1] == 35


def _early_decodings_of(frames: list[bytes], *, digits: int) -> list[int]:
    """Speech frames in each utterance an early decoding started on, frame by frame as the listener
    follows the caller (no decoding finishes: the caller is still being waited out)."""
    started: list[int] = []

    class Recognizer:
        async def recognize(self, pcm: bytes, hints: Any) -> Result:
            started.append(sum(1 for i in range(0, len(pcm), 320) if any(pcm[i:i + 320])))
            await asyncio.sleep(3600)

    async def follow() -> None:
        endpointer = PausingEndpointer()
        early = _EarlyDecoding(Recognizer(), Hints(words=("接種券番号",), max_tokens=32), lambda _: True,
                               digits=digits)
        for frame in frames:
            endpointer.feed(frame)
            early.follow(endpointer)
            await asyncio.sleep(0)
        early.drop()

    asyncio.run(follow())
    return started


def test_a_caller_reading_a_number_digit_by_digit_is_decoded_early_after_the_last_digit():
    frames = ([SPEECH] * 5 + [QUIET] * 25) * 9 + [SPEECH] * 5 + [QUIET] * 39  # ten digits, 0.5 s pauses
    after_each_digit = _early_decodings_of(frames, digits=10)
    assert after_each_digit[-1] == 50  # the whole number, 0.24 s into the pause after the tenth digit
    assert len(after_each_digit) <= 3  # not one decoding per digit
    assert 50 not in _early_decodings_of(frames, digits=0)  # not asked for digits: left to the hang-over


def test_early_decodings_wait_behind_other_answers_but_a_yes_stays_urgent():
    assert speculative(Hints(words=("接種券番号",))).priority is Priority.SPECULATIVE
    assert speculative(Hints(words=("はい",), priority=Priority.URGENT)).priority is Priority.URGENT


def test_a_slow_decoding_overlaps_the_hang_over(env):
    recognizer = TimedRecognizer("はい", 0.5)
    waited = _say_yes_in_real_time(env, [SPEECH] * 10 + [QUIET] * 60, recognizer)
    assert recognizer.given == [10]
    assert waited < 1.0  # 0.24 s into the pause + 0.5 s of decoding, not 0.8 s + 0.5 s


def test_the_reply_latency_counts_from_the_end_of_speech_when_the_decoding_outlasts_the_hang_over(env):
    records: list = []
    waited = _say_yes_in_real_time(env, [SPEECH] * 10 + [QUIET] * 100, TimedRecognizer("はい", 1.2), records)
    measured = records[0].turn_latencies[-1]  # the はい turn, as the call record has it
    assert waited > 1.3  # 0.24 s into the pause + 1.2 s of decoding
    assert abs(measured - waited) < 0.15


class FailingRecognizer:
    async def recognize(self, pcm: bytes, hints: Any) -> Result:
        raise AsrError("whisper decode failed: a batch the decoder could not take")


def test_a_recognizer_error_asks_again_instead_of_ending_the_call(env):
    settings, factory = env
    bus, conn, synth = EventBus(), FakeConn(), FakeSynth()
    recognizer = FakeRecognizer()
    caller = Caller(conn, recognizer, [("say", "予約"), *KEYS_TO_HOLD, ("keys", "1")])
    failing = FailingRecognizer()
    calls = {"n": 0}

    async def recognize(pcm: bytes, hints: Any) -> Result:
        calls["n"] += 1
        if calls["n"] == 1:
            recognizer.texts.pop(0)
            return await failing.recognize(pcm, hints)
        return await FakeRecognizer.recognize(recognizer, pcm, hints)

    recognizer.recognize = recognize
    deps = SessionDeps(
        recognizer=recognizer, synthesizer=synth, engine_factory=lambda today: Engine(SCRIPT, today=today),
        store=DialogStore(factory, settings, clock=lambda: datetime(2026, 11, 24, 1, tzinfo=UTC)).execute, bus=bus,
        endpointer_factory=caller.listening, barge_in_factory=FakeBargeIn, hints_factory=hints_for,
        today=lambda: TODAY, ami=FakeAmi(), timing=Timing(reprompt_silence=0.3, digit_timeout=0.3, max_call=30),
    )

    async def main():
        bus.bind(asyncio.get_running_loop())
        return await CallSession(conn, deps).run()

    assert asyncio.run(main()) is CallOutcome.BOOKED
    assert not any("不具合" in text for text in synth.said)
    assert any(isinstance(e, events.TurnFailed) for e in bus.recent())


def test_the_dialplan_sends_the_caller_to_a_person_unless_the_dialog_itself_said_goodbye(env):
    """IVR_NEXT=operator as soon as the channel is known (a worker killed mid-call leaves it so:
    tests/telephony/test_worker_killed.py), IVR_NEXT=hangup once the dialog has said goodbye."""
    ami = FakeAmi()
    outcome, _, conn, *_ = _run(env, [*KEYS_TO_HOLD, ("keys", "1")], ami=ami)
    assert outcome == "booked" and [value for *_, value in ami.vars] == ["operator", "hangup"] and conn.hung_up
