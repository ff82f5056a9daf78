"""Event dataclasses and the in-process event bus.

The call sessions publish; the API, dashboard and metrics subscribe. Events never carry
personal data in clear: callers are masked, utterances have numbers and dates masked.

`node` is empty on an event of this node (its sessions, its workers, its line); an event that
another `ivr serve` node published, shared through the database (`ivr.service.pg_events`), carries
that node's name.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Event:
    call_id: str
    at: datetime = field(default_factory=_now, kw_only=True)
    node: str = field(default="", kw_only=True)  # "" here; another node's name on its shared events


@dataclass(frozen=True)
class CallStarted(Event):
    caller: str = ""  # masked, e.g. "090-****-5678"
    channel: str = ""


@dataclass(frozen=True)
class StepEntered(Event):
    step: str


@dataclass(frozen=True)
class UtteranceRecognized(Event):
    text: str  # masked by meaning: numbers in any script and dates (ivr.privacy.mask_text)
    confidence: float
    step: str = ""
    decode_seconds: float | None = None


@dataclass(frozen=True)
class TurnFailed(Event):
    step: str
    failures: int


@dataclass(frozen=True)
class HoldPlaced(Event):
    hold_id: int
    slot_id: int


@dataclass(frozen=True)
class HoldReleased(Event):
    hold_id: int


@dataclass(frozen=True)
class BookingMade(Event):
    slot_id: int
    service: str


@dataclass(frozen=True)
class Transferred(Event):
    summary: str


@dataclass(frozen=True)
class CallEnded(Event):
    outcome: str  # a slots.outcomes.CallOutcome (a StrEnum; this module imports no other package)
    duration_seconds: float
    last_step: str = ""


@dataclass(frozen=True)
class LineAdmission(Event):
    """What the line's admission did with a call (extensions.conf, queue madoguchi-line): `waiting`
    (every seat taken: it queues), `admitted` (it reached an IVR seat) or `busy` (turned away)."""

    result: str
    position: int = 0


@dataclass(frozen=True)
class CallbackRequested(Event):
    """A caller left a call-back request (the number never travels on the bus); `ok` False: it could
    not be stored."""

    service: str
    reason: str
    ok: bool = True


class EventBus:
    """Fan-out of events to async subscribers, with a short history for late joiners.

    `publish` may be called from any thread; delivery happens on the bus's event loop.
    A subscriber that falls behind loses its oldest events rather than blocking publishers.
    """

    def __init__(self, history: int = 500, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[Event]] = set()
        self._history: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, event: Event) -> None:
        with self._lock:
            self._history.append(event)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(event)
        else:
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: Event) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._history)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        if self._loop is None:
            self.bind(asyncio.get_running_loop())
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
