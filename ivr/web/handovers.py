"""What the IVR handed over for each transferred caller, looked up by channel for the queue page.

The IVR's session ends when it transfers a caller, but the caller then waits in the Asterisk
queue; this keeps the `Transferred` summary (already masked by the publisher) by channel for a
while. Pure bookkeeping fed with events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.events import CallStarted, Event, Transferred

KEEP = timedelta(hours=2)
MAX_ENTRIES = 500


@dataclass(frozen=True)
class Handover:
    call_id: str
    channel: str
    summary: str
    at: datetime


class Handovers:
    def __init__(self) -> None:
        self._channels: OrderedDict[str, str] = OrderedDict()  # call id -> channel
        self._by_channel: OrderedDict[str, Handover] = OrderedDict()
        self._lock = threading.Lock()

    def apply(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, CallStarted) and event.channel:
                self._channels[event.call_id] = event.channel
                _trim(self._channels)
            elif isinstance(event, Transferred):
                channel = self._channels.get(event.call_id, "")
                self._by_channel.pop(channel or event.call_id, None)
                self._by_channel[channel or event.call_id] = Handover(
                    event.call_id, channel, event.summary, event.at
                )
                _trim(self._by_channel)

    def for_channel(self, channel: str, now: datetime) -> Handover | None:
        with self._lock:
            handover = self._by_channel.get(channel)
        return handover if handover and now - handover.at <= KEEP else None

    def recent(self, now: datetime) -> list[Handover]:
        with self._lock:
            items = list(self._by_channel.values())
        return [h for h in reversed(items) if now - h.at <= KEEP]


def _trim(mapping: OrderedDict) -> None:
    while len(mapping) > MAX_ENTRIES:
        mapping.popitem(last=False)
