"""`/bookings`: book (from a hold or straight on a slot), look up, cancel, list.

The ticket number and birth date become a `Person` (keyed hashes) at once; answers never carry
them, and nothing here logs them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status

from ivr.api.deps import (
    AnyRole,
    ChannelOrStaffCaller,
    MetricsDep,
    NowDep,
    SettingsDep,
    StaffOrOperator,
    StoreDep,
    request_key,
)
from ivr.api import hold_access
from ivr.api.routes.holds import channel_of, hold_ids
from ivr.api.schemas import CODE_PATTERN, BookingIn, BookingOut, BookingPage, IdentityIn, Problem
from ivr.privacy import mask_code
from slots import store
from slots.errors import IdentityMismatch, NotFound
from slots.person import Person

router = APIRouter(prefix="/bookings", tags=["bookings"])
MAX_LIST_DAYS, MAX_LIST_LIMIT = 31, 500
Code = Annotated[str, Path(pattern=CODE_PATTERN, description="the booking code (digits)")]
CONFLICTS = {
    409: {"model": Problem, "description": "slot_full (with alternatives), hold_expired, already_booked, not_open_yet"},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=BookingOut, summary="Make a booking",
             responses=CONFLICTS)
def make(body: BookingIn, caller: ChannelOrStaffCaller, request: Request, settings: SettingsDep, db: StoreDep,
         now: NowDep, metrics: MetricsDep) -> BookingOut:
    """Confirm a hold (`hold_id`, the caller's own) or book a slot in one step (`slot_id`) for the resident."""
    person = Person.from_ticket(settings.person_key_bytes(), body.ticket_number, body.birthdate)
    channel = channel_of(caller, body.channel)
    if body.hold_id is not None:
        number = hold_ids(request).number(body.hold_id)
        view = db.run(hold_access.confirm, number, person, owner=channel, now=now, request_key=request_key())
    else:
        view = db.run(store.book, body.slot_id, person, channel=channel, now=now, alternatives=settings.alternatives,
                      request_key=request_key())
    metrics.booking_made(view.service, channel)
    return BookingOut.of(view, settings.tz)


@router.get("/{code}", response_model=BookingOut, summary="Look up a booking by its code")
def lookup(code: Code, role: AnyRole, settings: SettingsDep, db: StoreDep) -> BookingOut:
    view = db.run(store.get_booking, code)
    if view is None:
        raise NotFound("no such booking")  # answered like the store's own 404s, with reason not_found
    return BookingOut.of(view, settings.tz)


@router.delete("/{code}", response_model=BookingOut, summary="Cancel a booking",
               responses={404: {"model": Problem, "description": "no booking matches the code (and identity)"}})
def cancel(code: Code, caller: ChannelOrStaffCaller, settings: SettingsDep, db: StoreDep, now: NowDep,
           metrics: MetricsDep, identity: Annotated[IdentityIn | None, Body()] = None) -> BookingOut:
    """The place goes back to the slot; cancelling a cancelled booking answers it unchanged.

    A channel token must send the resident's `ticket_number` and `birthdate` (as the phone path
    asks for them); a code whose identity does not match answers 404 like an unknown code.
    """
    channel = channel_of(caller, None)
    person = None
    if identity is not None:
        person = Person.from_ticket(settings.person_key_bytes(), identity.ticket_number, identity.birthdate)
    elif caller.role == "channel":
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "a channel token cancels only with the resident's ticket_number and birthdate in the body")
    before = db.run(store.get_booking, code)
    try:
        view = db.run(store.cancel, code, channel=channel, now=now, person=person)
    except (NotFound, IdentityMismatch):
        if person is None:
            raise
        raise NotFound("no booking matches this code, ticket number and birth date") from None
    if before is not None and before.status != view.status:
        metrics.booking_cancelled(channel)
    return BookingOut.of(view, settings.tz)


@router.get("", response_model=BookingPage, summary="List bookings of a day or a range of days")
def list_bookings(
    role: StaffOrOperator, settings: SettingsDep, db: StoreDep,
    service: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    date: Annotated[date | None, Query(description="the day the slots start on (local)")] = None,
    date_from: Annotated[date | None, Query(description="first day of a range (local), with date_to")] = None,
    date_to: Annotated[date | None, Query(description=f"last day of a range, at most {MAX_LIST_DAYS} days")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> BookingPage:
    """A day (`date`) or a range (`date_from`..`date_to`) is required; `next_offset` is the next
    page's offset (null on the last page). Operators see codes masked (last three digits)."""
    first, last = _listing_days(date, date_from, date_to)
    day_start = datetime.combine(first, time(), settings.tz)
    day_end = datetime.combine(last + timedelta(days=1), time(), settings.tz)
    views = db.run(store.list_bookings, service=service, day_start=day_start, day_end=day_end,
                   limit=limit + 1, offset=offset)
    items = [BookingOut.of(v, settings.tz) for v in views[:limit]]
    if role not in ("staff", "admin"):
        items = [item.model_copy(update={"code": mask_code(item.code)}) for item in items]
    return BookingPage(items=items, next_offset=offset + limit if len(views) > limit else None)


def _listing_days(day: date | None, first: date | None, last: date | None) -> tuple[date, date]:
    if day is not None and first is None and last is None:
        return day, day
    if day is None and first is not None and last is not None:
        if last < first:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "date_to is before date_from")
        if (last - first).days >= MAX_LIST_DAYS:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"a date range is at most {MAX_LIST_DAYS} days")
        return first, last
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                        "bookings are listed by day: give date=YYYY-MM-DD, or date_from and date_to (not both)")
