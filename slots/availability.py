"""Slots: releasing batches, listing and finding free places, closing. Every read of availability
sweeps expired holds first (`expire_holds`), so a crashed process never leaks places."""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, bindparam, select, update
from sqlalchemy.orm import Session

from slots import sql
from slots.allocation import is_phone
from slots.batches import BatchSpec, preview_batch
from slots.checks import check_name
from slots.counters import expire_holds
from slots.errors import NotFound, NotOpenYet, SlotClosed, SlotFull
from slots.models import Batch, Slot
from slots.rows import audit, fair_condition, fresh_slot, open_condition, run, slot_view
from slots.timeutil import from_db, to_db
from slots.views import BatchResult, SlotView

log = logging.getLogger(__name__)

INSERT_CHUNK = 500


def release_batch(session: Session, spec: BatchSpec, *, actor: str, now: datetime) -> BatchResult:
    """Create the batch's slots that do not exist yet (same service, site and start). Idempotent."""
    check_name(actor, "actor", 64)
    at = to_db(now, "now")
    batch_id = spec.batch_id
    spans = preview_batch(spec)
    opens_at = None if spec.opens_at is None else to_db(spec.opens_at, "opens_at")
    if session.get(Batch, batch_id) is None:
        session.execute(_insert_ignore(session, Batch, [{
            "id": batch_id, "service": spec.service, "site": spec.site, "spec": spec.canonical(),
            "actor": actor, "created_at": at,
        }], "id"))
    created = 0
    for i in range(0, len(spans), INSERT_CHUNK):
        rows = [_slot_row(spec, batch_id, start, end, opens_at) for start, end in spans[i:i + INSERT_CHUNK]]
        created += len(session.execute(_insert_ignore(session, Slot, rows, "service", "site", "start_at")).all())
    if created:
        audit(session, at, actor, "release_batch", detail={"batch_id": batch_id, "created": created})
    log.info("batch %s: %d slots created, %d existed", batch_id, created, len(spans) - created)
    return BatchResult(batch_id=batch_id, created=created, skipped=len(spans) - created)


def _slot_row(spec: BatchSpec, batch_id: str, start: datetime, end: datetime, opens_at: datetime | None) -> dict:
    reserved, until = spec.phone_reserve(start)
    return {
        "service": spec.service, "site": spec.site, "start_at": to_db(start), "end_at": to_db(end),
        "capacity": spec.capacity, "booked": 0, "held": 0, "opens_at": opens_at, "closed": False,
        "batch_id": batch_id, "phone_reserved": reserved, "phone_taken": 0,
        "phone_reserved_until": None if until is None else to_db(until),
    }


def _insert_ignore(session: Session, model, rows: list[dict], *conflict: str):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - make_engine refuses other databases
        raise RuntimeError(f"unsupported dialect {dialect}")
    statement = dialect_insert(model).values(rows).on_conflict_do_nothing(index_elements=list(conflict))
    return statement.returning(model.id)


def get_slot(session: Session, slot_id: int, *, now: datetime) -> SlotView:
    expire_holds(session, now=now, slot_ids=[slot_id])
    slot = fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    return slot_view(slot)


def list_slots(session: Session, service: str, start: datetime, end: datetime, *, site: str | None = None,
               available_only: bool = False, now: datetime, channel: str | None = None) -> list[SlotView]:
    """Slots of `service` starting in [start, end), in order; `available_only` keeps open, free ones
    (free for `channel` if given: other channels than the phone leave the phone's reserve)."""
    lo, hi, at = to_db(start, "start"), to_db(end, "end"), to_db(now, "now")
    expire_holds(session, now=now)
    statement = _listing(site is not None, "free" if available_only else "all", _fair(channel))
    rows = run(session, statement, {"p_service": service, "p_lo": lo, "p_hi": hi, "p_site": site, "now": at})
    return [slot_view(row) for row in rows]


def not_open_yet(session: Session, service: str, start: datetime, end: datetime, *, now: datetime,
                 site: str | None = None) -> list[SlotView]:
    """Slots of `service` starting in [start, end) that are not bookable yet because their batch
    opens after `now` (neither closed nor started), in order: what a resident is told will open."""
    lo, hi, at = to_db(start, "start"), to_db(end, "end"), to_db(now, "now")
    rows = run(session, _listing(site is not None, "later", False),
               {"p_service": service, "p_lo": lo, "p_hi": hi, "p_site": site, "now": at})
    return [slot_view(row) for row in rows]


def _fair(channel: str | None) -> bool:
    """Whether `channel` must leave the phone's unused reserve (any channel but the phone)."""
    return channel is not None and not is_phone(channel)


@functools.cache
def _listing(by_site: bool, which: str, fair: bool):
    """The prebuilt Core query of a service's slots in [p_lo, p_hi) (of site p_site if `by_site`), in
    order: `all` of them, the `free` ones (for a channel leaving the phone's reserve if `fair`), or
    those that open `later` than `now`."""
    query = select(sql.S).where(sql.S.c.service == bindparam("p_service", type_=String),
                                sql.S.c.start_at >= bindparam("p_lo", type_=DateTime),
                                sql.S.c.start_at < bindparam("p_hi", type_=DateTime))
    if by_site:
        query = query.where(sql.S.c.site == bindparam("p_site", type_=String))
    if which == "free":
        query = query.where(*_free_sql(fair))
    elif which == "later":
        query = query.where(sql.S.c.start_at > sql.NOW, sql.S.c.closed.is_(False), sql.S.c.opens_at.is_not(None),
                            sql.S.c.opens_at > sql.NOW)
    return query.order_by(sql.S.c.start_at, sql.S.c.site, sql.S.c.id)


def _free_sql(fair: bool) -> tuple:
    """Core conditions (`now` bound): the slot is open and has a place (leaving the phone's reserve if `fair`)."""
    return (sql.OPEN, sql.FREE, sql.FAIR) if fair else (sql.OPEN, sql.FREE)


def find_available(session: Session, service: str, start: datetime, end: datetime, *, site: str | None = None,
                   now: datetime, channel: str | None = None) -> list[SlotView]:
    """Open slots with at least one free place (live holds count as taken), for `channel` if given."""
    return list_slots(session, service, start, end, site=site, available_only=True, now=now, channel=channel)


def _free_for(channel: str | None, at: datetime) -> tuple:
    """SQL conditions: the slot is open and has a place `channel` may take at `at` (naive UTC)."""
    conditions = (open_condition(at), Slot.booked + Slot.held < Slot.capacity)
    if channel is not None and not is_phone(channel):
        conditions += (fair_condition(at),)
    return conditions


def open_start_times(session: Session, service: str, start: datetime, end: datetime, *, now: datetime,
                     channel: str | None = None) -> list[datetime]:
    """Start times (aware UTC) of the open slots with a free place (for `channel` if given) in
    [start, end): which days a caller may still choose. Reads only; expired holds still count until
    the next sweep."""
    lo, hi, at = to_db(start, "start"), to_db(end, "end"), to_db(now, "now")
    query = select(Slot.start_at).where(
        Slot.service == service, Slot.start_at >= lo, Slot.start_at < hi, *_free_for(channel, at),
    ).distinct()
    return [from_db(value) for value in session.execute(query).scalars()]


def nearest_available(session: Session, service: str, wanted: datetime, *, limit: int = 3, site: str | None = None,
                      now: datetime, exclude: int | None = None, channel: str | None = None) -> list[SlotView]:
    """Up to `limit` open slots with a free place, nearest to `wanted` first (ties: earlier first)."""
    at, target = to_db(now, "now"), to_db(wanted, "wanted")
    expire_holds(session, now=now)
    params = {"p_service": service, "p_site": site, "p_exclude": exclude, "p_target": target, "p_limit": limit,
              "now": at}
    after, before = _nearest(site is not None, exclude is not None, _fair(channel))
    found = [*run(session, after, params), *run(session, before, params)]
    ranked = sorted(found, key=lambda s: (abs(s.start_at - target), s.start_at, s.id))
    return [slot_view(slot) for slot in ranked[:limit]]


@functools.cache
def _nearest(by_site: bool, excluding: bool, fair: bool) -> tuple:
    """The prebuilt Core queries of `nearest_available`: the first free slots from p_target on, and
    the last ones before it."""
    base = select(sql.S).where(sql.S.c.service == bindparam("p_service", type_=String), *_free_sql(fair))
    if by_site:
        base = base.where(sql.S.c.site == bindparam("p_site", type_=String))
    if excluding:
        base = base.where(sql.S.c.id != bindparam("p_exclude", type_=Integer))
    target, limit = bindparam("p_target", type_=DateTime), bindparam("p_limit", type_=Integer)
    return (base.where(sql.S.c.start_at >= target).order_by(sql.S.c.start_at, sql.S.c.id).limit(limit),
            base.where(sql.S.c.start_at < target).order_by(sql.S.c.start_at.desc(), sql.S.c.id).limit(limit))


def close_slot(session: Session, slot_id: int, *, actor: str, now: datetime) -> SlotView:
    """Stop new holds and bookings on the slot; existing bookings stay. Idempotent."""
    check_name(actor, "actor", 64)
    at = to_db(now, "now")
    result = session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.closed.is_(False)).values(closed=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        audit(session, at, actor, "close_slot", slot_id=slot_id)
    return get_slot(session, slot_id, now=now)


def refuse(session: Session, slot_id: int, now: datetime, *, alternatives: int = 3, channel: str | None = None) -> None:
    """Raise the error that explains why slot `slot_id` took no place at `now` (naive UTC)."""
    slot = fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    if slot.closed or slot.start_at <= now:
        raise SlotClosed(f"slot {slot_id} is closed")
    if slot.opens_at is not None and slot.opens_at > now:
        raise NotOpenYet(f"slot {slot_id} opens at {from_db(slot.opens_at).isoformat()}", from_db(slot.opens_at))
    nearest = nearest_available(
        session, slot.service, from_db(slot.start_at), limit=alternatives, now=from_db(now), exclude=slot.id,
        channel=channel,
    )
    raise SlotFull(f"slot {slot_id} is full", nearest)
