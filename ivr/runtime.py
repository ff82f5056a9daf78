"""The IVR side of `ivr serve`: AudioSocket server + AMI client + one `CallSession` per call.

`IvrRuntime(settings, sessionmaker=..., bus=...)` owns the lifecycle; the parts come from the
composition root (`ivr.composition.build_call_parts`). `await start()` has them built (the shared
models loaded once, the AMI client retrying in the background: the service never exits because
Asterisk is down) and starts listening for AudioSocket connections. `await stop(grace)` stops
accepting calls, lets the calls in progress finish within `grace` seconds, cancels the rest (each
session releases its hold on the way out) and closes everything it owns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker as SessionMaker

from ivr.composition import build_call_parts
from ivr.config import Settings, parse_host_port
from ivr.events import EventBus
from ivr.prompts import warm_prompts
from ivr.session import CallSession, SessionDeps, Timing
from telephony.audiosocket.server import AudioSocketServer

logger = logging.getLogger(__name__)


class IvrRuntime:
    """Owns the AudioSocket server, the AMI client and every call session task."""

    def __init__(self, settings: Settings, *, sessionmaker: SessionMaker[Session], bus: EventBus,
                 recognizer: Any | None = None, synthesizer: Any | None = None, ami: Any | None = None,
                 timing: Timing | None = None, reuse_port: bool = False, follow_line: bool = True) -> None:
        self.settings = settings
        # the line's UserEvents (admission counts, call-back requests) are followed by one process only
        self.follow_line = follow_line
        self._line: Any | None = None
        self.reuse_port = reuse_port  # SO_REUSEPORT: `ivr serve --workers N` shares one AudioSocket port
        self.sessionmaker = sessionmaker
        self.bus = bus
        self.recognizer = recognizer
        self.synthesizer = synthesizer
        self.ami = ami
        self.timing = timing
        self.server: AudioSocketServer | None = None
        self._deps: SessionDeps | None = None
        self._warming: asyncio.Task[int] | None = None  # the prompt cache, filled while calls are taken
        self._calls: set[asyncio.Task[str]] = set()
        self._owned: list[Any] = []  # the recognizer and synthesizer built for this runtime, closed on stop

    # -- life -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.bus.bind(asyncio.get_running_loop())
        parts = await build_call_parts(self.settings, sessionmaker=self.sessionmaker, bus=self.bus,
                                       recognizer=self.recognizer, synthesizer=self.synthesizer, ami=self.ami,
                                       timing=self.timing)
        self._deps, self._owned, self.ami = parts.deps, parts.owned, parts.ami
        self.recognizer, self.synthesizer = parts.deps.recognizer, parts.deps.synthesizer
        if self.follow_line and parts.line is not None:
            self._line = parts.line
            self._line.follow(self.ami)
        host, port = parse_host_port(self.settings.audiosocket)
        self.server = AudioSocketServer(self._handle, host, port, reuse_port=self.reuse_port,
                                        max_calls=self.settings.max_calls)
        await self.server.start()
        logger.info("IVR listening for AudioSocket on %s:%d", host, self.server.port)
        self._warming = asyncio.create_task(warm_prompts(self.synthesizer, parts.script))

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
        if self._line is not None:
            await self._line.close()
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
