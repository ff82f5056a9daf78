"""`/slots`: availability for every role; closing a slot for staff."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from ivr.api.deps import AnyCaller, AnyRole, NowDep, SettingsDep, Staff, StoreDep
from ivr import opening
from ivr.api.schemas import OpeningOut, SlotItems, SlotOut, local
from slots import store
from slots.allocation import available_for
from slots.views import SlotView

router = APIRouter(prefix="/slots", tags=["slots"])
MAX_RANGE_DAYS = 366


def day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the municipality's zone."""
    if last < first:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "date_to is before date_from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"ask for at most {MAX_RANGE_DAYS} days")
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def openings(views: list[SlotView], zone: tzinfo, now: datetime) -> list[OpeningOut]:
    """The query's not-yet-open slots grouped by opening time, with the notice residents read."""
    found = []
    for at in opening.openings(views, now):
        opening_now = [v for v in views if v.opens_at == at]
        found.append(OpeningOut(opens_at=local(at, zone), slots=len(opening_now),
                                first_start=local(min(v.start for v in opening_now), zone),
                                notice=opening.opening_notice(at, zone)))
    return found


def _listing(session, service: str, start: datetime, end: datetime, *, site: str | None, available_only: bool,
             now: datetime, channel: str | None) -> tuple[list[SlotView], list[SlotView]]:
    """One transaction: the slots asked for (free for `channel` if given), and those of the range that
    open later."""
    return (store.list_slots(session, service, start, end, site=site, available_only=available_only, now=now,
                             channel=channel),
            store.not_open_yet(session, service, start, end, site=site, now=now))


@router.get("", response_model=SlotItems, summary="List slots and their availability")
def list_slots(
    caller: AnyCaller, settings: SettingsDep, db: StoreDep, now: NowDep,
    service: Annotated[str, Query(min_length=1, max_length=64)],
    date_from: date, date_to: date,
    site: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    available: Annotated[bool, Query(description="only open slots with a free place")] = False,
) -> SlotItems:
    """`openings` says when the slots that are not bookable yet open (`available=true` leaves them out
    of `items`). A channel token sees the places free for its channel: `available` leaves out the
    phone's unused reserve, and `available=true` the slots where only the phone may book."""
    start, end = day_bounds(date_from, date_to, settings.tz)
    channel = caller.label if caller.role == "channel" else None
    views, later = db.run(_listing, service, start, end, site=site, available_only=available, now=now,
                          channel=channel)
    items = [SlotOut.of(v, settings.tz, available=None if channel is None else available_for(v, channel, now))
             for v in views]
    return SlotItems(items=items, openings=openings(later, settings.tz, now))


@router.get("/{slot_id}", response_model=SlotOut, summary="One slot")
def get_slot(slot_id: int, role: AnyRole, settings: SettingsDep, db: StoreDep, now: NowDep) -> SlotOut:
    return SlotOut.of(db.run(store.get_slot, slot_id, now=now), settings.tz)


@router.post("/{slot_id}/close", response_model=SlotOut, summary="Close a slot to new holds and bookings")
def close_slot(slot_id: int, role: Staff, settings: SettingsDep, db: StoreDep, now: NowDep) -> SlotOut:
    """Existing bookings stay; idempotent."""
    return SlotOut.of(db.run(store.close_slot, slot_id, actor=f"api:{role}", now=now), settings.tz)

