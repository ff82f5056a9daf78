"""`/bookings`: book (from a hold or straight on a slot), look up, cancel, list.

The ticket number and birth date become a `Person` (keyed hashes) at once; answers never carry
them, and nothing here logs them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ivr.api.deps import (
    AnyRole,
    ChannelOrStaff,
    MetricsDep,
    NowDep,
    SettingsDep,
    StaffOrOperator,
    StoreDep,
)
from ivr.api.routes.holds import channel_of
from ivr.api.schemas import CODE_PATTERN, BookingIn, BookingOut, Items, Problem
from slots import store
from slots.errors import NotFound
from slots.person import Person

router = APIRouter(prefix="/bookings", tags=["bookings"])
Code = Annotated[str, Path(pattern=CODE_PATTERN, description="the booking code (digits)")]
CONFLICTS = {
    409: {"model": Problem, "description": "slot_full (with alternatives), hold_expired, already_booked, not_open_yet"},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BookingOut, summary="Make a booking",
             responses=CONFLICTS)
def make(body: BookingIn, role: ChannelOrStaff, settings: SettingsDep, db: StoreDep, now: NowDep,
         metrics: MetricsDep) -> BookingOut:
    """Confirm a hold (`hold_id`) or book a slot in one step (`slot_id`) for the resident."""
    person = Person.from_ticket(settings.person_key_bytes(), body.ticket_number, body.birthdate)
    channel = channel_of(role, body.channel)
    if body.hold_id is not None:
        view = db.run(store.confirm, body.hold_id, person, channel=channel, now=now)
    else:
        view = db.run(store.book, body.slot_id, person, channel=channel, now=now, alternatives=settings.alternatives)
    metrics.booking_made(view.service, channel)
    return BookingOut.of(view, settings.tz)


@router.get("/{code}", response_model=BookingOut, summary="Look up a booking by its code")
def lookup(code: Code, role: AnyRole, settings: SettingsDep, db: StoreDep) -> BookingOut:
    view = db.run(store.get_booking, code)
    if view is None:
        raise NotFound("no such booking")  # answered like the store's own 404s, with reason not_found
    return BookingOut.of(view, settings.tz)


@router.delete("/{code}", response_model=BookingOut, summary="Cancel a booking")
def cancel(code: Code, role: ChannelOrStaff, settings: SettingsDep, db: StoreDep, now: NowDep,
           metrics: MetricsDep) -> BookingOut:
    """The place goes back to the slot; cancelling a cancelled booking answers it unchanged."""
    channel = channel_of(role, None)
    before = db.run(store.get_booking, code)
    view = db.run(store.cancel, code, channel=channel, now=now)
    if before is not None and before.status != view.status:
        metrics.booking_cancelled(channel)
    return BookingOut.of(view, settings.tz)


@router.get("", response_model=Items[BookingOut], summary="List bookings of a day")
def list_bookings(
    role: StaffOrOperator, settings: SettingsDep, db: StoreDep,
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    date: Annotated[date | None, Query(description="the day the slots start on (local)")] = None,
) -> Items[BookingOut]:
    day_start = day_end = None
    if date is not None:
        day_start = datetime.combine(date, time(), settings.tz)
        day_end = day_start + timedelta(days=1)
    views = db.run(store.list_bookings, service=service, day_start=day_start, day_end=day_end)
    return Items[BookingOut](items=[BookingOut.of(v, settings.tz) for v in views])
