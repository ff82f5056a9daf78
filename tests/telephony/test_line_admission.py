"""Admission in front of the IVR, through a real Asterisk with one seat (capacity 1).

The IVR side is a test AudioSocket server that holds each call until the test lets it go, so which
call is where never depends on timing. The second caller waits in queue madoguchi-line, hears the
Japanese position and wait announcement (the rendered files found sample-exact in what it heard),
and reaches the server only when the first call ends; with the waiting limit reached, a third caller
hears the busy message and leaves a call-back request by key (its caller ID, or a number typed in),
which the IVR's `LineEvents` stores.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dialogs.script import load_script
from ivr.composition import line_events
from ivr.config import Settings
from ivr.events import CallbackRequested, EventBus, LineAdmission
from ivr.line import line_prompts
from ivr.metrics import Metrics
from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade
from telephony.audiosocket.server import AudioSocketServer, CallConnection
from tests.fixtures.asterisk import AsteriskInstance, rendered_line_sounds, running_asterisk
from tests.fixtures.waiting import until
from tests.telephony.audio import frames_found, read_wav, samples
from tests.telephony.test_asterisk_calls import EventLog, serving, user_event, wait_file_stable

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[2]
LINE = {"line_seats": 1, "line_max_waiting": 1, "line_max_wait_minutes": 5, "line_call_seconds": 90}
SETTINGS = Settings(line_max_waiting=1, line_max_wait_minutes=5, line_call_seconds=90)
# one seat, one call ahead of the first waiting caller: about 90 s, announced as 2 minutes
ANNOUNCED = ("line-crowded", "position-1", "wait-2", "line-hold-on")


@pytest.fixture(scope="module")
def line() -> Iterator[AsteriskInstance]:
    with running_asterisk(f"pytest-line-{os.getpid()}", **LINE) as instance:
        yield instance


class HeldCalls:
    """The IVR stand-in: every AudioSocket call is held (its audio read) until `release(uuid)`."""

    def __init__(self) -> None:
        self.calls: dict[str, CallConnection] = {}
        self._release: dict[str, asyncio.Event] = {}

    async def handler(self, conn: CallConnection) -> None:
        key = str(conn.uuid)
        self._release[key] = asyncio.Event()
        self.calls[key] = conn
        reading = asyncio.create_task(self._drain(conn))
        try:
            await asyncio.wait([reading, asyncio.create_task(self._release[key].wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            await conn.hangup()
        finally:
            reading.cancel()

    @staticmethod
    async def _drain(conn: CallConnection) -> None:
        async for _ in conn.inbound():
            pass

    def release(self, key: str) -> None:
        self._release[key].set()


def line_event(events: EventLog, result: str) -> list:
    return [m for m in events.events if m.event == "UserEvent" and m.get("UserEvent") == "MadoguchiLine"
            and m.get("Result") == result]


def dump(events: EventLog) -> str:
    return "\n".join(" ".join(str(m.get(k)) for k in ("Event", "Channel", "UserEvent", "Next", "Queue"))
                     for m in events.events if m.event in ("UserEvent", "QueueCallerJoin", "QueueCallerLeave", "Hangup"))


def voiced(pcm: np.ndarray) -> np.ndarray:
    """The 20 ms frames of a sound that carry speech (not its leading/trailing silence)."""
    frames = [pcm[i:i + 160] for i in range(0, len(pcm) - 159, 160)]
    return np.concatenate([f for f in frames if np.abs(f).mean() > 300])


def test_with_capacity_one_a_second_caller_waits_hears_its_place_and_is_admitted_after(line):
    sounds = rendered_line_sounds(1, 5)
    record, heard_path = line.recording_path("line-second")
    held = HeldCalls()

    async def scenario() -> tuple[str, str]:
        async with serving(held.handler) as server, line.ami() as ami:
            events = EventLog(ami)
            await line.point_audiosocket(ami, "127.0.0.1", server.port)
            await line.call(ami, "play", caller_id="0311111111", CALLER_HOLD="120")
            first = await until(lambda: next(iter(held.calls), None), "the first caller reached the IVR", timeout=20)

            await line.call(ami, "play", caller_id="0322222222", CALLER_RECORD=record, CALLER_HOLD="120")
            await events.wait(lambda m: bool(line_event(events, "waiting")), timeout=20)
            waiting = line_event(events, "waiting")[0]
            second = waiting.get("UUID") or ""
            assert waiting.get("Position") == "1"
            call = await events.wait(user_event("MadoguchiCall", second), timeout=60)  # after the announcement
            await events.wait(lambda m: m.event == "QueueCallerJoin" and m.get("Queue") == "madoguchi-line"
                              and m.get("Channel") == call.get("Channel"))
            # the announcement is played before the caller queues; the seat is still taken
            assert list(held.calls) == [first], "a caller got past a full line"

            held.release(first)
            await until(lambda: second in held.calls, "the waiting caller was admitted", timeout=30)
            await events.wait(user_event("MadoguchiNext", first))
            # the IVR addresses the caller's own channel: its Setvar is what the caller's dialplan reads
            await ami.action("Setvar", Channel=call.get("Channel"), Variable="IVR_NEXT", Value="hangup")
            held.release(second)
            after = await events.wait(user_event("MadoguchiNext", second))
            assert after.get("Next") == "hangup" and after.get("Channel") == call.get("Channel")
            await events.wait(lambda m: m.event == "Hangup" and m.get("Channel") == call.get("Channel"))
            return first, second

    first, second = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert first != second
    asyncio.run(wait_file_stable(heard_path))
    heard = read_wav(heard_path)
    for name in ANNOUNCED:  # each rendered file, sample-exact in what the waiting caller heard
        assert frames_found(heard, voiced(samples(sounds[name]))) > 0.9, name
    # and nothing but them: every voiced frame the caller heard belongs to the announcement
    announced = sum(len(voiced(samples(sounds[name]))) for name in ANNOUNCED)
    assert len(voiced(heard)) <= announced + 8000, "the caller heard more than the Japanese announcement"


def test_a_caller_still_hearing_the_announcement_holds_the_last_waiting_place(line):
    """Two callers seconds apart when the seat is taken and one waiting place is left: the first takes
    it (and hears the announcement, not yet in the queue); the second is turned away, not queued."""
    held = HeldCalls()

    async def scenario() -> None:
        async with serving(held.handler) as server, line.ami() as ami:
            events = EventLog(ami)
            await line.point_audiosocket(ami, "127.0.0.1", server.port)
            await line.call(ami, "play", caller_id="0377777777", CALLER_HOLD="60")
            first = await until(lambda: next(iter(held.calls), None), "the first caller reached the IVR", timeout=20)
            await line.call(ami, "play", caller_id="0388888888", CALLER_HOLD="60")
            await events.wait(lambda m: bool(line_event(events, "waiting")), timeout=20)
            await line.call(ami, "play", caller_id="0399999999", CALLER_HOLD="60")
            await events.wait(lambda m: bool(line_event(events, "busy")), timeout=20)
            waiting = line_event(events, "waiting")
            # turned away while the waiting caller had not yet joined the queue
            assert len(waiting) == 1 and not any(m.event == "QueueCallerJoin" and m.get("Channel") == waiting[0].get("Channel")
                                                 for m in events.events), dump(events)
            call = await events.wait(user_event("MadoguchiCall", waiting[0].get("UUID") or ""), timeout=60)
            await ami.action("Hangup", Channel=call.get("Channel"))
            held.release(first)

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_past_the_waiting_limit_callers_hear_busy_and_leave_a_callback_by_key(line, tmp_path):
    url = f"sqlite:///{tmp_path / 'line.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    script = load_script(ROOT / "dialogs" / "scripts" / "vaccine.yaml")
    phone = "03" + "".join(str(b % 10) for b in uuid.uuid4().bytes[:8])
    typed = "06" + "".join(str(b % 10) for b in uuid.uuid4().bytes[:8])
    sounds = rendered_line_sounds(1, 5)
    offer_ends = (len(sounds["busy"]) + len(sounds["callback-offer-own"])) / 16000  # seconds
    unknown_offer_ends = (len(sounds["busy"]) + len(sounds["callback-offer"])) / 16000
    record, heard_path = line.recording_path("line-busy")
    held = HeldCalls()
    bus = EventBus()
    metrics = Metrics()

    async def scenario() -> tuple[str, str]:
        bus.bind(asyncio.get_running_loop())
        ivr = line_events(SETTINGS, sessionmaker, bus, script)
        async with serving(held.handler) as server, line.ami() as ami, \
                line.ami(user=line.ami_user) as ivr_ami:
            ivr.follow(ivr_ami)
            events = EventLog(ami)
            await line.point_audiosocket(ami, "127.0.0.1", server.port)
            await line.call(ami, "play", caller_id="0333333333", CALLER_HOLD="120")
            first = await until(lambda: next(iter(held.calls), None), "the first caller reached the IVR", timeout=20)
            await line.call(ami, "play", caller_id="0344444444", CALLER_HOLD="120")
            await events.wait(lambda m: bool(line_event(events, "waiting")), timeout=20)
            waiting = line_event(events, "waiting")[0].get("UUID") or ""
            waiting_call = await events.wait(user_event("MadoguchiCall", waiting), timeout=60)
            await events.wait(lambda m: m.event == "QueueCallerJoin" and m.get("Channel") == waiting_call.get("Channel"))

            # the line is full (one in the seat, one waiting): the third caller is turned away. It
            # presses 1 (call me back on this number) 2 s into the 8 s the offer waits for a key.
            await line.call(ami, "play", caller_id=phone, CALLER_RECORD=record, CALLER_WAIT=f"{offer_ends + 2:.1f}",
                            CALLER_DTMF="1", CALLER_HOLD="120")
            busy = await events.wait(lambda m: len(line_event(events, "busy")) == 1 and line_event(events, "busy")[0] is m,
                                     timeout=20)
            busy_uuid = busy.get("UUID") or ""
            request = await events.wait(user_event("MadoguchiCallback", busy_uuid), timeout=30)
            assert request.get("Reason") == "busy"
            await events.wait(lambda m: m.event == "Hangup" and m.get("Channel") == busy.get("Channel"), timeout=30)

            # a caller without a caller ID: 1 for a call-back, then the number typed and #
            await line.call(ami, "play", caller_id="", CALLER_WAIT=f"{unknown_offer_ends + 2:.1f}",
                            CALLER_DTMF=f"1{typed}#", CALLER_HOLD="120")
            anonymous = await events.wait(lambda m: len(line_event(events, "busy")) == 2
                                          and line_event(events, "busy")[1] is m, timeout=20)
            anonymous_uuid = anonymous.get("UUID") or ""
            await events.wait(user_event("MadoguchiCallback", anonymous_uuid), timeout=40)
            await events.wait(lambda m: m.event == "Hangup" and m.get("Channel") == anonymous.get("Channel"), timeout=30)
            await until(lambda: sum(isinstance(e, CallbackRequested) for e in bus.recent()) == 2,
                        "the IVR stored the call-back requests", timeout=15)
            assert list(held.calls) == [first], "the turned-away caller reached the IVR"
            for key in list(held.calls):
                held.release(key)
            await until(lambda: waiting in held.calls, "the waiting caller was admitted", timeout=30)
            await ami.action("Setvar", Channel=waiting_call.get("Channel"), Variable="IVR_NEXT", Value="hangup")
            held.release(waiting)
            await ivr.close()
            return busy_uuid, anonymous_uuid

    try:
        busy_uuid, anonymous_uuid = asyncio.run(asyncio.wait_for(scenario(), 200))
        now = datetime.now(UTC)
        stored = run_in_transaction(sessionmaker, store.list_callbacks, status="open",
                                    day_start=now - timedelta(hours=1), day_end=now + timedelta(hours=1))
    finally:
        engine.dispose()
    mine = [c for c in stored if c.call_id == busy_uuid]
    assert len(mine) == 1, stored
    assert mine[0].phone == phone and mine[0].service == script.service and mine[0].reason == "busy"
    assert [c.phone for c in stored if c.call_id == anonymous_uuid] == [typed]

    for event in bus.recent():
        metrics.observe(event)
    text = metrics.render().decode()
    assert 'madoguchi_line_calls_total{result="turned_away"} 2.0' in text
    assert 'madoguchi_line_calls_total{result="waiting"} 1.0' in text
    assert 'madoguchi_callback_requests_total{reason="busy",stored="yes"} 2.0' in text
    assert [e.result for e in bus.recent() if isinstance(e, LineAdmission) and e.call_id == busy_uuid] == ["busy"]

    asyncio.run(wait_file_stable(heard_path))
    heard = read_wav(heard_path)
    for name in ("busy", "callback-offer-own"):
        assert frames_found(heard, voiced(samples(sounds[name]))) > 0.9, name
    assert frames_found(heard, voiced(samples(sounds["callback-done"]))[:8000]) > 0.9
    assert set(line_prompts(SETTINGS)) >= {"busy", "callback-offer-own", "callback-done"}


def test_a_seat_refused_by_a_full_ivr_process_sends_its_caller_back_to_the_head_of_the_line():
    """With --workers the kernel spreads calls unevenly: a process at its max_calls refuses a call that
    a seat sent it. The caller goes back to the head of the line and is served when a call ends."""
    held = HeldCalls()

    async def scenario(line: AsteriskInstance) -> None:
        server = AudioSocketServer(held.handler, "127.0.0.1", 0, max_calls=1)  # one process, full after one call
        await server.start()
        try:
            async with line.ami() as ami:
                events = EventLog(ami)
                await line.point_audiosocket(ami, "127.0.0.1", server.port)
                await line.call(ami, "play", caller_id="0355555555", CALLER_HOLD="120")
                first = await until(lambda: next(iter(held.calls), None), "the first caller reached the IVR", timeout=20)
                await line.call(ami, "play", caller_id="0366666666", CALLER_HOLD="120")
                await until(lambda: server.calls_refused >= 1, "the full process refused the second call", timeout=20)
                # the first call ends as the IVR ends one (IVR_NEXT set on its channel, then the session)
                first_call = await events.wait(user_event("MadoguchiCall", first))
                await ami.action("Setvar", Channel=first_call.get("Channel"), Variable="IVR_NEXT", Value="hangup")
                held.release(first)  # the refused caller, back at the head of the line, gets the freed seat
                await until(lambda: len(held.calls) == 2, lambda: "the refused caller was not served: " + dump(events),
                            timeout=30)
                second = next(key for key in held.calls if key != first)
                call = await events.wait(user_event("MadoguchiCall", second))
                await ami.action("Setvar", Channel=call.get("Channel"), Variable="IVR_NEXT", Value="hangup")
                held.release(second)
                after = await events.wait(user_event("MadoguchiNext", second), timeout=30)
                assert after.get("Channel") == call.get("Channel") and after.get("Next") == "hangup"
        finally:
            await server.close()

    with running_asterisk(f"pytest-line2-{os.getpid()}", line_seats=2) as line:
        asyncio.run(asyncio.wait_for(scenario(line), 120))
