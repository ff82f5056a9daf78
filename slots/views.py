"""Frozen views the store returns: plain values, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from slots.outcomes import CallOutcome


@dataclass(frozen=True)
class SlotView:
    id: int
    service: str
    site: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    held: int
    available: int
    opens_at: datetime | None
    closed: bool
    phone_reserved: int = 0
    phone_reserved_until: datetime | None = None
    phone_taken: int = 0


@dataclass(frozen=True)
class HoldView:
    id: int
    slot_id: int
    expires_at: datetime


@dataclass(frozen=True)
class BookingView:
    code: str
    status: str
    service: str
    site: str
    slot_id: int
    start: datetime
    end: datetime
    channel: str
    created_at: datetime
    person_masked: str
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    created: int
    skipped: int


@dataclass(frozen=True)
class CallStats:
    """Call figures over a period: hours are aware UTC datetimes truncated to the hour."""

    total: int
    by_outcome: dict[CallOutcome, int]
    per_hour: dict[datetime, int]
    dropout_by_step: dict[str, int]
    transferred: int
    avg_booking_seconds: float | None


class CallbackStatus(StrEnum):
    """Where a call-back request stands: `open` (waiting), `called` (someone took it), `done`."""

    OPEN = "open"
    CALLED = "called"
    DONE = "done"


@dataclass(frozen=True)
class CallbackView:
    """A call-back request. `phone` is the number in full (digits only): show it only to who may see it."""

    id: int
    phone: str
    phone_masked: str
    service: str
    reason: str
    status: CallbackStatus
    call_id: str | None
    created_at: datetime
    updated_at: datetime | None = None
    updated_by: str | None = None

    def __repr__(self) -> str:  # keep the number out of logs and tracebacks
        return f"CallbackView(id={self.id}, phone_masked={self.phone_masked!r}, status={self.status.value!r})"


@dataclass(frozen=True)
class CallbackCounts:
    """How many call-back requests stand in each status."""

    by_status: dict[CallbackStatus, int]

    @property
    def open(self) -> int:
        return self.by_status.get(CallbackStatus.OPEN, 0)
