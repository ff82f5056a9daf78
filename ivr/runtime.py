"""The IVR side of `ivr serve`: AudioSocket server + AMI client + one `CallSession` per call.

`IvrRuntime(settings, sessionmaker=..., bus=...)` is built at the composition root. `await start()`
loads the shared models (recognizer, synthesizer, dialog script) once, starts the AMI client (it
keeps retrying in the background: the service never exits because Asterisk is down) and starts
listening for AudioSocket connections. `await stop(grace)` stops accepting calls, lets the calls in
progress finish within `grace` seconds, cancels the rest (each session releases its hold on the
way out) and closes everything it owns.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker as SessionMaker

from ivr.config import Settings, parse_host_port
from ivr.events import EventBus
from ivr.operator_hours import parse_hours
from ivr.session import CallRecord, CallSession, SessionDeps, Timing

logger = logging.getLogger(__name__)
OPEN_DAYS_AHEAD = 60


class IvrRuntime:
    """Owns the AudioSocket server, the AMI client and every call session task."""

    def __init__(self, settings: Settings, *, sessionmaker: SessionMaker[Session], bus: EventBus,
                 recognizer: Any | None = None, synthesizer: Any | None = None, ami: Any | None = None,
                 timing: Timing | None = None, reuse_port: bool = False) -> None:
        self.settings = settings
        self.reuse_port = reuse_port  # SO_REUSEPORT: `ivr serve --workers N` shares one AudioSocket port
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.ami = ami
        self.timing = timing or Timing()
        self.server: Any | None = None
        self._deps: SessionDeps | None = None
        self._script: Any | None = None
        self._warming: asyncio.Task[int] | None = None  # the prompt cache, filled while calls are taken
        self._calls: set[asyncio.Task[str]] = set()
        self._owned: list[Any] = []  # the recognizer and synthesizer this runtime built, closed on stop

    # -- life -------------------------------------------------------------------------------
    async def start(self) -> None:
        from telephony.ami.client import AmiClient
        from telephony.audiosocket.server import AudioSocketServer

        self.bus.bind(asyncio.get_running_loop())
        if self.recognizer is None:
            from ivr.speech.asr import load_recognizer

            self.recognizer = await asyncio.to_thread(load_recognizer, self.settings)
            self._owned.append(self.recognizer)
        if self.synthesizer is None:
            from ivr.speech.tts import load_synthesizer

            self.synthesizer = await asyncio.to_thread(load_synthesizer, self.settings,
                                                       processes=self.settings.tts_processes)
            self._owned.append(self.synthesizer)
        if self.ami is None:
            host, port = parse_host_port(self.settings.ami)
            self.ami = AmiClient(host, port, self.settings.ami_user, self.settings.ami_secret.get_secret_value())
            await self.ami.start()
        self._deps = await asyncio.to_thread(self._build_deps)
        host, port = parse_host_port(self.settings.audiosocket)
        self.server = AudioSocketServer(self._handle, host, port, reuse_port=self.reuse_port)
        await self.server.start()
        logger.info("IVR listening for AudioSocket on %s:%d", host, self.server.port)
        from ivr.prompts import warm_prompts

        self._warming = asyncio.create_task(warm_prompts(self.synthesizer, self._script))

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        if self.server is not None:
            self.server.stop_accepting()
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
        if self._calls:
            logger.info("draining %d call(s), up to %.0f s", len(self._calls), grace)
            _, late = await asyncio.wait(set(self._calls), timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        if self.server is not None:
            await self.server.close()
        if self.ami is not None:
            await self.ami.close()
        for part in self._owned:
            await asyncio.to_thread(part.close)
        self._owned.clear()

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def audiosocket_probe(self) -> str:
        return "ok" if self.server is not None else "not_started"

    # -- calls ------------------------------------------------------------------------------
    async def _handle(self, conn: Any) -> None:
        assert self._deps is not None
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)  # type: ignore[arg-type]
        try:
            await CallSession(conn, self._deps).run()
        finally:
            self._calls.discard(task)  # type: ignore[arg-type]

    def _build_deps(self) -> SessionDeps:
        from dialogs.engine import Engine
        from dialogs.script import load_script
        from ivr.dialog_store import DialogStore
        from ivr.listen_hints import hints_for
        from ivr.speech.vad import BargeInDetector, Endpointer

        script = self._script = load_script(self.settings.dialog_script)
        store = DialogStore(self.sessionmaker, self.settings)

        def execute(call: Any, *, call_id: str, channel: str) -> Any:
            return store.execute(call, call_id=call_id, channel=channel)

        def engine(today: date) -> Engine:
            return Engine(script, today=today, open_days=self._open_days(script.service, today))

        return SessionDeps(
            recognizer=self.recognizer, synthesizer=self.synthesizer,
            engine_factory=engine, store=execute, bus=self.bus,
            endpointer_factory=Endpointer, barge_in_factory=BargeInDetector, hints_factory=hints_for,
            today=self._today, ami=self.ami, operators=self._operators, record_call=self._record_call,
            timing=self.timing,
        )

    def _open_days(self, service: str, today: date) -> tuple[date, ...]:
        """Days with an open place in the next weeks: a doubtful date answer prefers these."""
        from slots.availability import open_start_times
        from slots.db import run_in_transaction

        now = datetime.now(self.settings.tz)
        try:
            starts = run_in_transaction(self.sessionmaker, open_start_times, service, now,
                                        now + timedelta(days=OPEN_DAYS_AHEAD), now=now)
        except Exception:  # noqa: BLE001 - the call goes on without the preference
            logger.warning("open days of %s could not be read", service, exc_info=True)
            return ()
        return tuple(sorted({start.astimezone(self.settings.tz).date() for start in starts}))

    def _operators(self) -> tuple[bool, str]:
        """(an operator is logged in to the queue within staffed hours, the hours as read to callers)."""
        hours = parse_hours(self.settings.operator_hours)
        staffed = hours is None or hours.is_staffed(datetime.now(self.settings.tz))
        queue = self.ami.queues.snapshot().get(self.settings.operator_queue) if self.ami is not None else None
        return staffed and queue is not None and queue.logged_in > 0, hours.reading() if hours else ""

    def _today(self) -> date:
        return datetime.now(self.settings.tz).date()

    def _record_call(self, record: CallRecord) -> None:
        from datetime import timedelta

        from slots.calls import record_call
        from slots.db import run_in_transaction

        run_in_transaction(
            self.sessionmaker, record_call, call_id=record.call_id, started_at=record.started_at,
            ended_at=record.started_at + timedelta(seconds=record.duration_seconds), outcome=record.outcome,
            last_step=record.steps[-1] if record.steps else None, steps=record.steps,
            confidences=record.confidences, transferred=record.outcome == "transferred", channel="phone",
        )
