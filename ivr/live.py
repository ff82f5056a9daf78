"""A projection of `ivr.events` into the calls in progress, for the API and the dashboard.

Pure bookkeeping: `apply(event)` updates the table, `snapshot(now)` reads it. Ended calls are
removed. Nothing here touches a socket or a clock of its own; `follow` feeds it from the bus.

Calls are keyed by (node, call id): this node's own events (`event.node == ""`) make calls of
`LiveCalls.node`, another node's shared events (`ivr.service.pg_events`) calls of that node, so two
nodes' calls never collide. The line's events (`LineAdmission`, `CallbackRequested`: a caller waiting
for a seat or turned away, no IVR session) are not calls in progress and are left out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ivr.events import (
    CallbackRequested,
    CallEnded,
    CallStarted,
    Event,
    EventBus,
    HoldPlaced,
    HoldReleased,
    LineAdmission,
    StepEntered,
    Transferred,
    TurnFailed,
    UtteranceRecognized,
)

logger = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.5
MANY_FAILURES = 2
STALE_AFTER = timedelta(hours=2)  # a call whose end was never seen is dropped after this


@dataclass(frozen=True)
class LiveCall:
    call_id: str
    started: datetime
    node: str = ""  # the `ivr serve` node running the call (`Nodes.name`)
    caller: str = ""  # masked by the publisher
    channel: str = ""
    step: str = ""
    last_utterance: str = ""  # digit runs masked by the publisher
    confidence: float | None = None
    hold_id: int | None = None
    slot_id: int | None = None
    failures: int = 0
    transferred: bool = False
    updated: datetime | None = None

    @property
    def hold_placed(self) -> bool:
        return self.hold_id is not None

    @property
    def needs_help(self) -> bool:
        """Low confidence on the last utterance or repeated failures: an operator should look."""
        low = self.confidence is not None and self.confidence < LOW_CONFIDENCE
        return low or self.failures >= MANY_FAILURES

    def elapsed_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.started).total_seconds())


def _step(call: LiveCall, event: Event) -> LiveCall | None:
    """The call after `event`, or None once it has ended."""
    match event:
        case CallEnded():
            return None
        case StepEntered(step=step):
            return replace(call, step=step)
        case UtteranceRecognized(text=text, confidence=confidence, step=step):
            return replace(call, last_utterance=text, confidence=confidence, step=step or call.step)
        case TurnFailed(step=step, failures=failures):
            return replace(call, step=step or call.step, failures=failures)
        case HoldPlaced(hold_id=hold_id, slot_id=slot_id):
            return replace(call, hold_id=hold_id, slot_id=slot_id)
        case HoldReleased(hold_id=hold_id) if hold_id == call.hold_id:
            return replace(call, hold_id=None, slot_id=None)
        case Transferred():
            return replace(call, transferred=True)
    return call


NOT_CALLS = (LineAdmission, CallbackRequested)  # the line in front of the IVR: no session behind them


class LiveCalls:
    """The calls in progress, keyed by node and call id; safe to read from any thread. `node` names
    this node (the node of the calls its own events describe)."""

    def __init__(self, node: str = "") -> None:
        self.node = node
        self._calls: dict[tuple[str, str], LiveCall] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[LiveCall | None, Event], None]] = []

    def on_change(self, listener: Callable[[LiveCall | None, Event], None]) -> None:
        """Call `listener(call_after_or_None, event)` after each applied event (for live pages)."""
        self._listeners.append(listener)

    def apply(self, event: Event) -> LiveCall | None:
        if isinstance(event, NOT_CALLS):
            return None
        node = event.node or self.node
        key = (node, event.call_id)
        with self._lock:
            if isinstance(event, CallStarted):
                call: LiveCall | None = LiveCall(
                    event.call_id, started=event.at, node=node, caller=event.caller, channel=event.channel
                )
            else:
                current = self._calls.get(key)
                if current is None and not isinstance(event, CallEnded):
                    # joined mid-call (e.g. after a restart of the subscriber): start from here
                    current = LiveCall(event.call_id, started=event.at, node=node)
                call = _step(current, event) if current is not None else None
            if call is None:
                self._calls.pop(key, None)
            else:
                call = replace(call, updated=event.at)
                self._calls[key] = call
        for listener in self._listeners:
            listener(call, event)
        return call

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def get(self, call_id: str, node: str = "") -> LiveCall | None:
        """The call `call_id` of `node` ("": this node)."""
        with self._lock:
            return self._calls.get((node or self.node, call_id))

    def snapshot(self, now: datetime) -> list[LiveCall]:
        """The calls in progress, oldest first; calls not heard of for a long time are dropped."""
        with self._lock:
            for key, call in list(self._calls.items()):
                if now - (call.updated or call.started) > STALE_AFTER:
                    del self._calls[key]
            return sorted(self._calls.values(), key=lambda c: c.started)

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)


async def follow(bus: EventBus, *consumers: Callable[[Event], object]) -> None:
    """Feed every event on `bus` to each consumer until cancelled, starting with the bus's history."""
    async with bus.subscribe() as queue:
        replayed = bus.recent()
        seen = set(replayed)
        for event in replayed:
            _feed(consumers, event)
        while True:
            event = await queue.get()
            if seen:
                if event in seen:
                    seen.discard(event)
                    continue
                seen.clear()  # past the overlap between history and the live queue
            _feed(consumers, event)


def _feed(consumers: Iterable[Callable[[Event], object]], event: Event) -> None:
    for consume in consumers:
        try:
            consume(event)
        except Exception:  # one bad consumer must not stop the others
            logger.exception("event consumer %r failed on %s", consume, type(event).__name__)


def start_following(bus: EventBus, *consumers: Callable[[Event], object]) -> asyncio.Task[None]:
    """A task running `follow`; the caller owns it and cancels it on close."""
    return asyncio.create_task(follow(bus, *consumers), name="ivr-live-follow")
