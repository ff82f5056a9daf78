"""Prometheus metrics fed by `ivr.events` (and by the API for its own bookings and holds).

One `Metrics` object per service, with its own registry (no process globals, so tests and several
apps in one process do not collide). `observe(event)` is the bus consumer; the operator-queue
gauge is read from the AMI queue view at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ivr.events import (
    BookingMade,
    CallbackRequested,
    CallEnded,
    CallStarted,
    Event,
    HoldPlaced,
    HoldReleased,
    LineAdmission,
    Transferred,
    TurnFailed,
    UtteranceRecognized,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LINE_QUEUE = "madoguchi-line"  # extensions.conf: callers waiting for an IVR seat
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class _QueueCollector(Collector):
    """`madoguchi_queue_waiting{queue}` from a snapshot function (AMI `ami.queues.snapshot`)."""

    def __init__(self, snapshot: Callable[[], Mapping[str, Any]] | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "madoguchi_queue_waiting", "Callers waiting in each operator queue", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "madoguchi_queue_longest_wait_seconds", "Longest wait in each operator queue", labels=["queue"]
        )
        line = GaugeMetricFamily("madoguchi_line_waiting", "Callers waiting for an IVR seat (queue madoguchi-line)")
        waiting = 0
        for name, state in (self.snapshot() if self.snapshot else {}).items():
            family.add_metric([name], len(getattr(state, "callers", ()) or ()))
            longest.add_metric([name], float(getattr(state, "longest_wait", 0) or 0))
            if name == LINE_QUEUE:
                waiting = len(getattr(state, "callers", ()) or ())
        line.add_metric([], waiting)
        yield family
        yield longest
        yield line


class Metrics:
    def __init__(self, queue_snapshot: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge("madoguchi_calls_active", "Calls in progress", registry=r)
        self.calls = Counter("madoguchi_calls", "Calls ended, by outcome", ["outcome"], registry=r)
        self.call_duration = Histogram(
            "madoguchi_call_duration_seconds", "Duration of ended calls", ["outcome"],
            buckets=(15, 30, 60, 90, 120, 180, 300, 600), registry=r,
        )
        self.recognition_latency = Histogram(
            "madoguchi_recognition_latency_seconds", "Speech recognition decode time per utterance",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.utterances = Counter("madoguchi_utterances", "Utterances recognized", registry=r)
        self.turn_failures = Counter("madoguchi_turn_failures", "Turns the caller was not understood", registry=r)
        self.transfers = Counter("madoguchi_transfers", "Calls handed to an operator", registry=r)
        self.holds_active = Gauge(
            "madoguchi_holds_active", "Holds held by calls in progress (not yet booked or released)", registry=r
        )
        self.holds = Counter("madoguchi_holds", "Holds placed, by channel", ["channel"], registry=r)
        self.bookings = Counter(
            "madoguchi_bookings", "Bookings made, by service and channel", ["service", "channel"], registry=r
        )
        self.cancellations = Counter("madoguchi_cancellations", "Bookings cancelled", ["channel"], registry=r)
        self.line = Counter(
            "madoguchi_line_calls", "Calls at the line's admission: waiting (queued), admitted (reached an IVR "
            "seat), turned_away (busy)", ["result"], registry=r,
        )
        self.callbacks = Counter(
            "madoguchi_callback_requests", "Call-back requests callers left (the line's busy message: reason busy; "
            "the dialog: no operator), by reason and whether they were stored", ["reason", "stored"],
            registry=r,
        )
        self.queues = _QueueCollector(queue_snapshot)
        r.register(self.queues)
        self._holds_by_call: dict[str, int] = {}
        self._live_calls: set[str] = set()

    def observe(self, event: Event) -> None:
        """Account for one bus event (the bus consumer). Another node's events (shared through the
        database, `event.node` set) are its own /metrics' business: each node counts only its calls."""
        if event.node:
            return
        match event:
            case CallStarted(call_id=call_id):
                self._live_calls.add(call_id)
            case CallEnded(call_id=call_id, outcome=outcome, duration_seconds=seconds):
                self._live_calls.discard(call_id)
                self._holds_by_call.pop(call_id, None)
                self.calls.labels(outcome=outcome or "unknown").inc()
                self.call_duration.labels(outcome=outcome or "unknown").observe(max(0.0, seconds))
            case UtteranceRecognized(decode_seconds=seconds):
                self.utterances.inc()
                if seconds is not None:
                    self.recognition_latency.observe(max(0.0, seconds))
            case TurnFailed():
                self.turn_failures.inc()
            case Transferred():
                self.transfers.inc()
            case HoldPlaced(call_id=call_id, hold_id=hold_id):
                self._holds_by_call[call_id] = hold_id
                self.hold_placed("phone")
            case HoldReleased(call_id=call_id, hold_id=hold_id):
                if self._holds_by_call.get(call_id) == hold_id:
                    del self._holds_by_call[call_id]
            case LineAdmission(result=result):
                self.line.labels(result="turned_away" if result == "busy" else result).inc()
            case CallbackRequested(reason=reason, ok=ok):
                self.callbacks.labels(reason=reason, stored="yes" if ok else "no").inc()
            case BookingMade(call_id=call_id, service=service):
                self._holds_by_call.pop(call_id, None)
                self.booking_made(service, "phone")
        self.calls_active.set(len(self._live_calls))
        self.holds_active.set(len(self._holds_by_call))

    def hold_placed(self, channel: str) -> None:
        self.holds.labels(channel=channel).inc()

    def booking_made(self, service: str, channel: str) -> None:
        self.bookings.labels(service=service, channel=channel).inc()

    def booking_cancelled(self, channel: str) -> None:
        self.cancellations.labels(channel=channel).inc()

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
