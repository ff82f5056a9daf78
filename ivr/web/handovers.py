"""What the IVR handed over for each transferred caller, looked up by channel for the queue page.

The IVR's session ends when it transfers a caller, but the caller then waits in the Asterisk
queue; this keeps the `Transferred` summary (already masked by the publisher) by channel for a
while. Pure bookkeeping fed with events. With several `ivr serve` nodes, channels are kept per node
(`event.node`, "" for this one): two Asterisk servers name their channels alike, so a queue's
callers are looked up among the nodes on that queue's Asterisk only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Collection
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
    node: str = ""  # "" this node, else the node that handed the caller over


class Handovers:
    def __init__(self) -> None:
        self._channels: OrderedDict[tuple[str, str], str] = OrderedDict()  # (node, call id) -> channel
        self._by_channel: OrderedDict[tuple[str, str], Handover] = OrderedDict()  # (node, channel) -> handover
        self._lock = threading.Lock()

    def apply(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, CallStarted) and event.channel:
                self._channels[(event.node, event.call_id)] = event.channel
                _trim(self._channels)
            elif isinstance(event, Transferred):
                channel = self._channels.get((event.node, event.call_id), "")
                key = (event.node, channel or event.call_id)
                self._by_channel.pop(key, None)
                self._by_channel[key] = Handover(event.call_id, channel, event.summary, event.at, event.node)
                _trim(self._by_channel)

    def for_channel(self, channel: str, now: datetime, nodes: Collection[str] = ("",)) -> Handover | None:
        """The latest hand-over of the caller on `channel` by one of `nodes` ("": this node)."""
        with self._lock:
            found = [h for node in nodes if (h := self._by_channel.get((node, channel))) is not None]
        handover = max(found, key=lambda h: h.at, default=None)
        return handover if handover and now - handover.at <= KEEP else None

    def recent(self, now: datetime) -> list[Handover]:
        with self._lock:
            items = list(self._by_channel.values())
        return [h for h in reversed(items) if now - h.at <= KEEP]


def _trim(mapping: OrderedDict) -> None:
    while len(mapping) > MAX_ENTRIES:
        mapping.popitem(last=False)
