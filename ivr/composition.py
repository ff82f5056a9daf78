"""The composition root: the IVR's object graph, built in one place.

Only this module joins the lower packages (telephony, dialogs, slots, ivr.speech; an import-linter
contract keeps it so). `build_call_parts` loads the shared models (recognizer, synthesizer, dialog
script) once, starts the AMI client and assembles the `SessionDeps` every call is built from; the
runtime (`ivr.runtime.IvrRuntime`) owns what it returns. `simulator_store` gives
`ivr dialogs simulate` the same store calls as a real call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker as SessionMaker

from dialogs.engine import Engine
from dialogs.messages import StoreCall
from dialogs.script import Script, load_script
from ivr.ami import MadoguchiAmi
from ivr.config import Settings, parse_host_port
from ivr.events import EventBus
from ivr.line import LineEvents
from ivr.listen_hints import hints_for
from ivr.operator_hours import parse_hours
from ivr.session import CallRecord, SessionDeps, Timing
from ivr.speech.asr import load_recognizer
from ivr.speech.tts import load_synthesizer
from ivr.speech.vad import BargeInDetector, Endpointer
from ivr.store_calls import DialogStore
from slots.availability import open_start_times
from slots.calls import record_call
from slots.db import run_in_transaction
from slots.outcomes import CallOutcome

logger = logging.getLogger(__name__)
OPEN_DAYS_AHEAD = 60


@dataclass
class CallParts:
    """What every call of a process shares; `owned` are the parts built here, closed by the runtime."""

    deps: SessionDeps
    script: Script
    ami: Any
    owned: list[Any] = field(default_factory=list)
    line: LineEvents | None = None  # the line's UserEvents -> bus events and call-back requests


async def build_call_parts(settings: Settings, *, sessionmaker: SessionMaker[Session], bus: EventBus,
                           recognizer: Any | None = None, synthesizer: Any | None = None, ami: Any | None = None,
                           timing: Timing | None = None) -> CallParts:
    """The parts not given are built: models loaded in threads, the AMI client started (it keeps
    retrying in the background). If building fails, what was built is closed again."""
    owned: list[Any] = []
    started_ami = None
    try:
        if recognizer is None:
            recognizer = await asyncio.to_thread(load_recognizer, settings)
            owned.append(recognizer)
        if synthesizer is None:
            synthesizer = await asyncio.to_thread(load_synthesizer, settings, processes=settings.tts_processes)
            owned.append(synthesizer)
        if ami is None:
            host, port = parse_host_port(settings.ami)
            ami = started_ami = MadoguchiAmi(host, port, settings.ami_user, settings.ami_secret.get_secret_value())
            await ami.start()
        script = await asyncio.to_thread(load_script, settings.dialog_script)
    except BaseException:
        if started_ami is not None:
            await started_ami.close()
        for part in owned:
            await asyncio.to_thread(part.close)
        raise
    calls = _CallServices(settings, sessionmaker, ami)
    deps = SessionDeps(
        recognizer=recognizer, synthesizer=synthesizer, engine_factory=calls.engine_factory(script),
        store=DialogStore(sessionmaker, settings).execute, bus=bus,
        endpointer_factory=Endpointer, barge_in_factory=BargeInDetector, hints_factory=hints_for,
        today=calls.today, ami=ami, operators=calls.operators, record_call=calls.record_call,
        timing=timing or Timing(),
    )
    return CallParts(deps=deps, script=script, ami=ami, owned=owned, line=line_events(settings, sessionmaker, bus, script))


def line_events(settings: Settings, sessionmaker: SessionMaker[Session], bus: EventBus, script: Script) -> LineEvents:
    """The line's events, a call-back request stored as the dialog's own callback_offer stores it
    (the script's service, one open request per number and day)."""
    store = DialogStore(sessionmaker, settings)

    def request(phone: str, reason: str, call_id: str) -> bool:
        call = StoreCall("request_callback", {"service": script.service, "reason": reason, "phone": phone})
        return store.execute(call, call_id=call_id, channel="phone").ok

    return LineEvents(bus, script.service, request)


class _CallServices:
    """The clock, the open days, the operators' state and the call records, as the session asks for them."""

    def __init__(self, settings: Settings, sessionmaker: SessionMaker[Session], ami: Any) -> None:
        self.settings, self.sessionmaker, self.ami = settings, sessionmaker, ami

    def engine_factory(self, script: Script) -> Callable[[date], Engine]:
        def engine(today: date) -> Engine:
            return Engine(script, today=today, open_days=self.open_days(script.service, today))

        return engine

    def open_days(self, service: str, today: date) -> tuple[date, ...]:
        """Days with an open place in the next weeks: a doubtful date answer prefers these."""
        now = datetime.now(self.settings.tz)
        try:
            starts = run_in_transaction(self.sessionmaker, open_start_times, service, now,
                                        now + timedelta(days=OPEN_DAYS_AHEAD), now=now)
        except Exception:  # noqa: BLE001 - the call goes on without the preference
            logger.warning("open days of %s could not be read", service, exc_info=True)
            return ()
        return tuple(sorted({start.astimezone(self.settings.tz).date() for start in starts}))

    def operators(self) -> tuple[bool, str]:
        """(an operator is logged in to the queue within staffed hours, the hours as read to callers)."""
        hours = parse_hours(self.settings.operator_hours)
        staffed = hours is None or hours.is_staffed(datetime.now(self.settings.tz))
        queue = self.ami.queues.snapshot().get(self.settings.operator_queue) if self.ami is not None else None
        return staffed and queue is not None and queue.logged_in > 0, hours.reading() if hours else ""

    def today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def record_call(self, record: CallRecord) -> None:
        run_in_transaction(
            self.sessionmaker, record_call, call_id=record.call_id, started_at=record.started_at,
            ended_at=record.started_at + timedelta(seconds=record.duration_seconds), outcome=record.outcome,
            last_step=record.steps[-1] if record.steps else None, steps=record.steps,
            confidences=record.confidences, transferred=record.outcome is CallOutcome.TRANSFERRED, channel="phone",
        )
