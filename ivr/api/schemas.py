"""Request and response bodies of the HTTP API (pydantic), apart from the store's views.

Datetimes go out as ISO 8601 with the municipality's offset; the routes convert with `local()`.
Inputs accept datetimes with or without an offset (without: the municipality's zone), see
`aware()`. Bodies forbid unknown fields so that a typo is a 422, not a silent default.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ivr.privacy import mask_phone  # noqa: F401 - re-exported: the API's routes import it from here
from slots.allocation import MAX_HOURS_BEFORE
from slots.views import BookingView, CallbackStatus, CallbackView, HoldView, SlotView

NAME = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
SITE = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
T = TypeVar("T")
CODE_PATTERN = r"^[0-9]{4,16}$"
MAX_HOLD_TTL_SECONDS = 15 * 60
CHANNEL_LABEL = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]


def aware(value: datetime, zone: tzinfo) -> datetime:
    """`value` as an aware datetime: a naive one is read in the municipality's zone."""
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def local(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A store datetime (aware UTC) in the municipality's zone, for output."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BatchIn(Strict):
    service: NAME
    site: SITE
    date_from: date
    date_to: date
    times: list[str] = Field(min_length=1, max_length=24, examples=[["09:00-12:00", "13:00-17:00"]])
    every_minutes: int = Field(ge=1, le=1440)
    capacity: int = Field(ge=1, le=10_000)
    opens_at: datetime | None = Field(None, description="not bookable before; without offset: local time")
    phone_reserved_percent: int = Field(0, ge=0, le=100,
                                        description="share of each slot's places kept for phone callers")
    phone_reserved_hours: int = Field(24, ge=0, le=MAX_HOURS_BEFORE,
                                      description="hours before a slot starts when its phone reserve opens to all")

    @field_validator("times")
    @classmethod
    def _windows(cls, times: list[str]) -> list[str]:
        for window in times:
            if not WINDOW.match(window.strip()):
                raise ValueError(f"expected HH:MM-HH:MM, got {window!r}")
        return [w.strip() for w in times]

    @model_validator(mode="after")
    def _range(self) -> BatchIn:
        if self.date_to < self.date_from:
            raise ValueError("date_to is before date_from")
        return self


class BatchOut(BaseModel):
    batch_id: str
    created: int
    skipped: int


class SlotOut(BaseModel):
    id: int
    service: str
    site: str
    start: datetime
    end: datetime
    capacity: int
    booked: int
    held: int
    available: int
    opens_at: datetime | None = None
    closed: bool = False
    phone_reserved: int = 0
    phone_reserved_until: datetime | None = None
    phone_taken: int = 0

    @classmethod
    def of(cls, view: SlotView, zone: tzinfo, *, available: int | None = None) -> SlotOut:
        """`available`: the places free for the asking channel, if not every free place."""
        return cls(
            id=view.id, service=view.service, site=view.site, start=local(view.start, zone),
            end=local(view.end, zone), capacity=view.capacity, booked=view.booked, held=view.held,
            available=view.available if available is None else available, opens_at=local(view.opens_at, zone), closed=view.closed,
            phone_reserved=view.phone_reserved, phone_reserved_until=local(view.phone_reserved_until, zone),
            phone_taken=view.phone_taken,
        )


class HoldIn(Strict):
    slot_id: int = Field(ge=1)
    ttl_seconds: int = Field(ge=10, le=MAX_HOLD_TTL_SECONDS,
                             description="how long the place is kept for the caller (at most 900 s)")
    call_id: str | None = Field(None, max_length=64, description="the call this hold belongs to, if any")
    channel: CHANNEL_LABEL | None = Field(None, description="deprecated: the label is fixed by the token; another is 403")


class HoldOut(BaseModel):
    id: str = Field(description="opaque and unguessable; only the channel that placed the hold may use it")
    slot_id: int
    expires_at: datetime

    @classmethod
    def of(cls, view: HoldView, zone: tzinfo, public_id: str) -> HoldOut:
        return cls(id=public_id, slot_id=view.slot_id, expires_at=local(view.expires_at, zone))


class BookingIn(Strict):
    hold_id: str | None = Field(None, min_length=1, max_length=64, description="the id POST /holds answered")
    slot_id: int | None = Field(None, ge=1)
    ticket_number: str = Field(min_length=4, max_length=40, description="接種券番号; stored only as a keyed hash")
    birthdate: date
    channel: CHANNEL_LABEL | None = Field(None, description="deprecated: the label is fixed by the token; another is 403")

    @model_validator(mode="after")
    def _one_target(self) -> BookingIn:
        if (self.hold_id is None) == (self.slot_id is None):
            raise ValueError("give exactly one of hold_id and slot_id")
        if self.birthdate.year < 1880 or self.birthdate > date.today():
            raise ValueError("birthdate is not a plausible date of birth")
        return self

    def __repr__(self) -> str:  # never the ticket number or birth date in logs or tracebacks
        return f"BookingIn(hold_id={self.hold_id}, slot_id={self.slot_id})"

    __str__ = __repr__


class IdentityIn(Strict):
    """The resident's identity, as the phone path asks for it before cancelling."""

    ticket_number: str = Field(min_length=4, max_length=40, description="接種券番号; compared as a keyed hash")
    birthdate: date

    def __repr__(self) -> str:  # never the ticket number or birth date in logs or tracebacks
        return "IdentityIn(...)"

    __str__ = __repr__


class BookingOut(BaseModel):
    code: str
    status: str = Field(description="confirmed or cancelled")
    service: str
    site: str
    slot_id: int
    start: datetime
    end: datetime
    channel: str
    created_at: datetime

    @classmethod
    def of(cls, view: BookingView, zone: tzinfo) -> BookingOut:
        return cls(
            code=view.code, status=view.status, service=view.service, site=view.site,
            slot_id=view.slot_id, start=local(view.start, zone), end=local(view.end, zone),
            channel=view.channel, created_at=local(view.created_at, zone),
        )


class BookingPage(BaseModel):
    items: list[BookingOut]
    next_offset: int | None = Field(None, description="the offset of the next page; null on the last page")


class CallOut(BaseModel):
    id: str
    started: datetime
    elapsed_seconds: float
    caller: str
    channel: str
    step: str
    last_utterance: str
    confidence: float | None
    hold_placed: bool
    slot_id: int | None
    failures: int
    transferred: bool
    needs_help: bool
    node: str = Field("", description="the `ivr serve` node running the call (MADOGUCHI_NODE_NAME)")


class QueueCallerOut(BaseModel):
    position: int
    caller: str
    channel: str
    wait_seconds: float


class QueueOut(BaseModel):
    name: str
    callers: list[QueueCallerOut]
    logged_in: int
    available: int
    longest_wait: float
    asterisk: str = Field("", description="the Asterisk server the queue is on (MADOGUCHI_ASTERISK_NAME)")


class CallbackOut(BaseModel):
    """A call-back request. `phone` (in full) only for whom may dial it: see `routes/callbacks.py`."""

    id: int
    phone_masked: str = Field(description="the number's last four digits: *******5678")
    phone: str | None = Field(None, description="the number in full (digits); absent when not shown to the role")
    service: str
    reason: str
    status: CallbackStatus
    created_at: datetime

    @classmethod
    def of(cls, view: CallbackView, zone: tzinfo, *, show_phone: bool) -> CallbackOut:
        return cls(
            id=view.id, phone_masked=view.phone_masked, phone=view.phone if show_phone else None,
            service=view.service, reason=view.reason, status=view.status, created_at=local(view.created_at, zone),
        )


class CallbackStatusIn(Strict):
    status: CallbackStatus = Field(description="open, called (someone is calling back) or done")
    expected: CallbackStatus | None = Field(
        None, description="change it only if the entry still has this status; else 409 callback_changed")


class Problem(BaseModel):
    """The body of every error answer: FastAPI's `detail`, plus `reason` for 409/503 answers."""

    detail: Any
    reason: str | None = None
    alternatives: list[SlotOut] | None = None


class Items(BaseModel, Generic[T]):
    items: list[T]


class OpeningOut(BaseModel):
    opens_at: datetime = Field(description="when these slots become bookable (municipality's offset)")
    slots: int = Field(description="slots of the query that open then")
    first_start: datetime
    notice: str = Field(description="what a resident reads, e.g. 12月1日（火）午前9時から 予約できます")


class SlotItems(Items[SlotOut]):
    openings: list[OpeningOut] = Field(
        default_factory=list,
        description="slots of the query not bookable yet (their batch opens later), by opening time, earliest first")


class SpanOut(BaseModel):
    start: datetime
    end: datetime
