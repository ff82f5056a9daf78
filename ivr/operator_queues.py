"""A live view of the operator queues, built from QueueStatus/QueueSummary and kept current by events.

`QueueView.apply(message)` is pure bookkeeping (no I/O); `refresh(client)` rebuilds the view from
the two list actions. `follow(client)` feeds it every event and refreshes it after every login, so a
restarted Asterisk (whose queues start empty) never leaves stale callers behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from telephony.ami.client import AmiClient
from telephony.ami.protocol import AmiMessage

# Asterisk device states (QueueMember Status)
_UNAVAILABLE = {"4", "5"}  # invalid, unavailable
_AVAILABLE = {"0", "1"}    # unknown, not in use
_IN_CALL = {"2", "3", "7", "8"}  # in use, busy, ringing while in use, on hold


@dataclass(frozen=True)
class QueueCaller:
    position: int
    caller: str
    channel: str
    wait_seconds: float


@dataclass(frozen=True)
class QueueState:
    name: str
    callers: tuple[QueueCaller, ...]
    logged_in: int
    available: int
    longest_wait: float
    in_call: int = 0  # members on a call


@dataclass
class _Member:
    status: str = "0"
    paused: bool = False


@dataclass
class _Queue:
    callers: dict[str, tuple[int, str, float]] = field(default_factory=dict)  # channel -> (pos, caller, joined)
    members: dict[str, _Member] = field(default_factory=dict)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


class QueueView:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queues: dict[str, _Queue] = {}
        self._during_refresh: list[AmiMessage] | None = None
        self.refreshed = 0  # completed refreshes (one per login)

    def follow(self, client: AmiClient) -> None:
        """Keep the view current from `client`'s events; rebuild it after every login."""
        client.on("*", self.apply)
        client.on_boot(lambda: self.refresh(client))

    def snapshot(self) -> dict[str, QueueState]:
        now = self._clock()
        result = {}
        for name, queue in self._queues.items():
            ordered = sorted(queue.callers.items(), key=lambda item: item[1][0])
            callers = tuple(
                QueueCaller(position=index, caller=caller, channel=channel, wait_seconds=max(0.0, now - joined))
                for index, (channel, (_, caller, joined)) in enumerate(ordered, start=1)
            )
            logged_in = [m for m in queue.members.values() if m.status not in _UNAVAILABLE]
            available = [m for m in logged_in if not m.paused and m.status in _AVAILABLE]
            result[name] = QueueState(
                name=name, callers=callers, logged_in=len(logged_in), available=len(available),
                longest_wait=max((c.wait_seconds for c in callers), default=0.0),
                in_call=sum(1 for m in logged_in if m.status in _IN_CALL),
            )
        return result

    def _queue(self, name: str) -> _Queue:
        return self._queues.setdefault(name, _Queue())

    def apply(self, message: AmiMessage) -> None:
        """Update the view from one AMI event; other events are ignored."""
        event, name = message.event, message.get("Queue")
        if event is None or name is None:
            return
        if self._during_refresh is not None:
            self._during_refresh.append(message)  # replayed over the refreshed state (apply is idempotent)
        queue = self._queue(name) if event.startswith("Queue") or event.startswith("Agent") else None
        if queue is None:
            return
        channel = message.get("Channel") or ""
        if event in ("QueueCallerJoin", "QueueEntry"):
            wait = float(_int(message.get("Wait")))
            queue.callers[channel] = (_int(message.get("Position")), message.get("CallerIDNum") or "",
                                      self._clock() - wait)
        elif event in ("QueueCallerLeave", "QueueCallerAbandon"):
            queue.callers.pop(channel, None)
        elif event in ("QueueMember", "QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause"):
            interface = message.get("StateInterface") or message.get("Interface") or message.get("Location") or ""
            member = queue.members.setdefault(interface, _Member())
            member.status = message.get("Status") or member.status
            if message.get("Paused") is not None:
                member.paused = message.get("Paused") == "1"
        elif event == "QueueMemberRemoved":
            interface = message.get("StateInterface") or message.get("Interface") or ""
            queue.members.pop(interface, None)

    def reset(self, messages: list[AmiMessage]) -> None:
        """Replace the view with what a QueueStatus listing (plus QueueSummary) says."""
        self._queues = {}
        for message in messages:
            if message.event in ("QueueParams", "QueueSummary") and message.get("Queue"):
                self._queue(message.get("Queue") or "")
            self.apply(message)

    async def refresh(self, client: AmiClient) -> None:
        """Rebuild from QueueStatus + QueueSummary; events that arrive meanwhile are not lost."""
        self._during_refresh = []
        try:
            status = await client.action_list("QueueStatus")
            summary = await client.action_list("QueueSummary")
            during, self._during_refresh = self._during_refresh, None
            self.reset([*status, *summary, *during])
        finally:
            self._during_refresh = None
        self.refreshed += 1
