"""`/slots`: availability for every role; closing a slot for staff."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from ivr.api.deps import AnyRole, NowDep, SettingsDep, Staff, StoreDep
from ivr.api.schemas import Items, SlotOut
from slots import store

router = APIRouter(prefix="/slots", tags=["slots"])
MAX_RANGE_DAYS = 366


def day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the municipality's zone."""
    if last < first:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "date_to is before date_from")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"ask for at most {MAX_RANGE_DAYS} days")
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


@router.get("", response_model=Items[SlotOut], summary="List slots and their availability")
def list_slots(
    role: AnyRole, settings: SettingsDep, db: StoreDep, now: NowDep,
    service: Annotated[str, Query(min_length=1, max_length=64)],
    date_from: date, date_to: date,
    site: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    available: Annotated[bool, Query(description="only open slots with a free place")] = False,
) -> Items[SlotOut]:
    start, end = day_bounds(date_from, date_to, settings.tz)
    views = db.run(store.list_slots, service, start, end, site=site, available_only=available, now=now)
    return Items[SlotOut](items=[SlotOut.of(v, settings.tz) for v in views])


@router.get("/{slot_id}", response_model=SlotOut, summary="One slot")
def get_slot(slot_id: int, role: AnyRole, settings: SettingsDep, db: StoreDep, now: NowDep) -> SlotOut:
    return SlotOut.of(db.run(store.get_slot, slot_id, now=now), settings.tz)


@router.post("/{slot_id}/close", response_model=SlotOut, summary="Close a slot to new holds and bookings")
def close_slot(slot_id: int, role: Staff, settings: SettingsDep, db: StoreDep, now: NowDep) -> SlotOut:
    """Existing bookings stay; idempotent."""
    return SlotOut.of(db.run(store.close_slot, slot_id, actor=f"api:{role}", now=now), settings.tz)

