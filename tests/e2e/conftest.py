"""End-to-end calls: the real IVR runtime and a simulated caller, through the real Asterisk.

One event loop in a background thread hosts both the IVR (`IvrRuntime`: AudioSocket server, AMI
client, Whisper, Open JTalk, the vaccine script, the store on SQLite) and the caller simulator, which
originates each call through Asterisk's `test-caller` context. Tests are synchronous and talk to
the loop with `stack.run(coro)`. Each test books on its own day, so tests never share slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.config import Settings
from ivr.events import EventBus, StepEntered, UtteranceRecognized
from ivr.runtime import IvrRuntime
from ivr.simulator.caller import CallerSimulator, CallResult, SimulatorConfig
from ivr.simulator.scenario import parse_scenario
from ivr.simulator.transcript import format_result
from ivr.speech.tts import Voice, load_synthesizer
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade
from slots.person import Person
from tests.fixtures.asterisk import OPERATOR_INTERFACE, OPERATOR_QUEUE
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import until

ROOT = Path(__file__).resolve().parents[2]
PERSON_KEY = "e2e-person-key"
TZ = "Asia/Tokyo"


@dataclass
class Stack:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    runtime: IvrRuntime
    sim: CallerSimulator
    sessionmaker: Any
    bus: EventBus
    records: Path

    def run(self, coro: Any, timeout: float = 400) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, scenario: dict, *, name: str) -> CallResult:
        since = datetime.now(UTC)
        result = self.run(self.sim.call(parse_scenario({"name": name, **scenario}), record=self.records / f"{name}.wav"))
        print(format_result(result))  # shown by pytest when the test fails
        self.print_recognized(since)
        return result

    def print_recognized(self, since: datetime) -> None:
        for event in self.bus.recent():
            if event.at >= since and isinstance(event, (UtteranceRecognized, StepEntered)):
                print(f"  ivr {event.call_id[:8]} {type(event).__name__}: {getattr(event, 'text', '')}"
                      f"{getattr(event, 'step', '')} {getattr(event, 'confidence', '')}")

    def calls(self, scenarios: list[tuple[str, dict]]) -> list[CallResult]:
        async def both() -> list[CallResult]:
            return list(await asyncio.gather(*(
                self.sim.call(parse_scenario({"name": n, **s}), record=self.records / f"{n}.wav") for n, s in scenarios)))

        since = datetime.now(UTC)
        results = self.run(both())
        for result in results:
            print(format_result(result))
        self.print_recognized(since)
        return results

    def tx(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return run_in_transaction(self.sessionmaker, fn, *args, **kw)

    def today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def slots(self, day: date, times: tuple[str, ...], *, every: int = 30, capacity: int = 1) -> list:
        spec = BatchSpec(service="vaccine", site="市民会館", date_from=day, date_to=day, times=times,
                         every_minutes=every, capacity=capacity, timezone=TZ)
        self.tx(store.release_batch, spec, actor="e2e", now=datetime.now(UTC))
        start = datetime.combine(day, datetime.min.time(), self.settings.tz).astimezone(UTC)
        return self.tx(store.list_slots, "vaccine", start, start + timedelta(days=1), now=datetime.now(UTC))

    def person(self, ticket: str, birthdate: date) -> Person:
        return Person.from_ticket(PERSON_KEY.encode(), ticket, birthdate)

    def day_view(self, day: date) -> list:
        start = datetime.combine(day, datetime.min.time(), self.settings.tz).astimezone(UTC)
        return self.tx(store.list_slots, "vaccine", start, start + timedelta(days=1), now=datetime.now(UTC))

    def events(self, call_id_prefix: str = "") -> list:
        return self.bus.recent()


def speakable_day(today: date, at_least: int) -> date:
    """The first day from `today + at_least` whose date reads regularly (11th-31st, not 14th, 20th,
    24th): ついたち, はつか and the like are the readings a small recognizer gets wrong."""
    day = today + timedelta(days=at_least)
    while day.day < 11 or day.day in (14, 20, 24):
        day += timedelta(days=1)
    return day


def spoken_date(day: date) -> str:
    return f"{day.month}月{day.day}日"


def keyed_date(day: date) -> str:
    return f"{day.month:02d}{day.day:02d}#"


@contextlib.contextmanager
def running_stack(asterisk: Any, base: Path, *, call_timeout: float = 150, **overrides: Any) -> Iterator[Stack]:
    """The IVR runtime (with `overrides` of the e2e settings) and a caller simulator on `asterisk`."""
    url = f"sqlite:///{base / 'madoguchi.db'}"
    upgrade(url)
    settings = Settings(
        db=url, audiosocket=f"127.0.0.1:{free_port()}", ami=f"{asterisk.ami_host}:{asterisk.ami_port}",
        ami_user=asterisk.ami_user, ami_secret=asterisk.ami_secret, person_key=PERSON_KEY, timezone=TZ,
        models_dir=ROOT / "asr_models", prompt_cache_dir=base / "prompts",
        dialog_script=ROOT / "dialogs" / "scripts" / "vaccine.yaml", asr_backend="whisper", **overrides,
    )
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="e2e-loop", daemon=True)
    thread.start()
    bus = EventBus()

    async def start() -> tuple[IvrRuntime, CallerSimulator, Any]:
        bus.bind(asyncio.get_running_loop())
        runtime = IvrRuntime(settings, sessionmaker=sessionmaker, bus=bus)
        await runtime.start()
        ami = asterisk.client()
        await ami.start()
        assert await ami.wait_connected(timeout=15), "simulator AMI login"
        await asterisk.point_audiosocket(ami, "127.0.0.1", runtime.server.port)

        def voice(v):  # the caller: Open JTalk with another speed and pitch than the IVR's voice
            return load_synthesizer(settings, voice=Voice(speed=v.speed, half_tone=v.half_tone, volume_dbfs=v.level_dbfs))

        sim = CallerSimulator(ami, voice, recognizer=runtime.recognizer, config=SimulatorConfig(call_timeout=call_timeout))
        await sim.start()
        return runtime, sim, ami

    runtime, sim, ami = asyncio.run_coroutine_threadsafe(start(), loop).result(300)
    stack = Stack(settings, loop, runtime, sim, sessionmaker, bus, base / "calls")
    try:
        yield stack
    finally:
        async def stop() -> None:
            await sim.close()
            await ami.close()
            await runtime.stop(grace=5)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        engine.dispose()


@pytest.fixture(scope="session")
def stack(asterisk, tmp_path_factory) -> Iterator[Stack]:
    with running_stack(asterisk, tmp_path_factory.mktemp("e2e")) as built:
        yield built


def operators_logged_in(ami: Any) -> int:
    """Members of queue `operators` that an AMI client's queue view counts as logged in."""
    state = ami.queues.snapshot().get(OPERATOR_QUEUE)
    return state.logged_in if state is not None else 0


@pytest.fixture
def operator(stack, asterisk) -> Iterator[str]:
    """An operator logged in to queue `operators` for one test, logged out after.

    The stand-in phone of madoguchi-test.conf (`Local/operator@test-operator/n`: it rings 10 s, then
    answers). The IVR hands a caller over only when its own queue view (the runtime's AMI client,
    kept current by QueueMemberAdded/Removed/Status events) counts somebody logged in, so the
    fixture waits for that view, and checks that Asterisk's own QueueSummary agrees.
    """
    ivr_ami, ami = stack.runtime.ami, stack.sim.ami
    assert operators_logged_in(ivr_ami) == 0, "an operator is still logged in from an earlier test"

    async def login() -> None:
        await asterisk.add_operator(ami)
        await until(lambda: operators_logged_in(ivr_ami) == 1, "the IVR's queue view never counted the operator")
        summary = await ami.action_list("QueueSummary", Queue=OPERATOR_QUEUE)
        assert int(summary[0].get("LoggedIn") or 0) == 1, summary

    async def logout() -> None:
        await asterisk.remove_operator(ami)
        await until(lambda: operators_logged_in(ivr_ami) == 0, "the IVR's queue view still counts the operator")

    stack.run(login(), timeout=30)
    try:
        yield OPERATOR_INTERFACE
    finally:
        stack.run(logout(), timeout=30)


@pytest.fixture
def ticket() -> str:
    """A fresh 10-digit ticket number per test. No zeros and no digit twice in a row: Whisper base
    drops or doubles repeated digits said one by one (tests/speech/test_spoken_numbers.py), and
    these tests are about the call, not the recognizer (a caller it fails is led to the keypad)."""
    digits: list[str] = []
    for b in uuid.uuid4().bytes:
        digit = str(1 + b % 9)
        if not digits or digit != digits[-1]:
            digits.append(digit)
    return "".join(digits[:10]).ljust(10, "1" if digits[-1] != "1" else "2")
