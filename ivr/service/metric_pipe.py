"""Counts an extra HTTP process makes (holds placed, bookings made and cancelled through its API),
sent to the main process, whose /metrics serves them with every other series.

A count is a small frame on the same pipe as a worker's events (`ivr.service.event_pipe`); it is
written with one `os.write` (atomic under PIPE_BUF), so the API's store threads may count at once.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ivr.metrics import Metrics
from ivr.service.event_pipe import encode

COUNTS = ("hold_placed", "booking_made", "booking_cancelled")  # the `Metrics` methods an API request calls


@dataclass(frozen=True)
class MetricCount:
    name: str  # one of COUNTS
    labels: tuple[str, ...]


class MetricsToParent(Metrics):
    """The metrics of an extra HTTP process: its counts go to the main process through pipe `fd`."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def _send(self, count: MetricCount) -> None:
        with contextlib.suppress(OSError):  # the main process is gone: nobody serves /metrics
            os.write(self.fd, encode(count))

    def hold_placed(self, channel: str) -> None:
        self._send(MetricCount("hold_placed", (channel,)))

    def booking_made(self, service: str, channel: str) -> None:
        self._send(MetricCount("booking_made", (service, channel)))

    def booking_cancelled(self, channel: str) -> None:
        self._send(MetricCount("booking_cancelled", (channel,)))


def count_into(metrics: Metrics):
    """The main process's side: a function that adds a received `MetricCount` to `metrics`."""

    def apply(message: object) -> None:
        if isinstance(message, MetricCount) and message.name in COUNTS:
            getattr(metrics, message.name)(*message.labels)

    return apply
