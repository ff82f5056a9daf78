"""Store operations. Each takes a Session and never commits: the caller owns the transaction.

Every place is counted on the slot row: `booked` (confirmed bookings) and `held` (live holds).
Both move only through conditional UPDATEs checked by row count, e.g.
`UPDATE slots SET held = held + 1 WHERE id = :id AND booked + held < capacity`, so two
transactions can never both take the last place: on PostgreSQL the second UPDATE waits for the
first's row lock and re-checks its WHERE clause; on SQLite writers queue on `BEGIN IMMEDIATE`. The
database CHECKs `booked + held <= capacity` as a last line. A hold leaves `live` exactly once (a
conditional UPDATE on its state), and whoever moves it gives its place back; expired holds are swept
lazily by every operation that looks at availability, so a crashed process never leaks places.

Locks are taken in one order - hold or booking rows first, then slot rows by ascending id - and a
deadlock or serialization failure that still happens is retried by `slots.db.run_in_transaction`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slots.batches import BatchSpec, preview_batch
from slots.calls import call_stats, record_call
from slots.codes import new_code
from slots.errors import (
    AlreadyBooked,
    HoldExpired,
    IdentityMismatch,
    InvalidInput,
    NotFound,
    NotOpenYet,
    SlotClosed,
    SlotFull,
)
from slots import sql
from slots.models import Batch, Booking, Slot
from slots.person import Person
from slots.timeutil import from_db, to_db
from slots.views import BatchResult, BookingView, HoldView, SlotView

__all__ = [
    "BatchSpec", "book", "call_stats", "cancel", "close_slot", "confirm", "expire_holds",
    "find_active_booking", "find_available", "get_booking", "get_slot", "hold", "list_bookings",
    "list_slots", "nearest_available", "preview_batch", "record_call", "release_batch",
    "release_hold", "reschedule",
]

log = logging.getLogger(__name__)

MAX_TTL_SECONDS = 3600
INSERT_CHUNK = 500
CODE_ATTEMPTS = 20


# --- helpers -------------------------------------------------------------------------------------

def _run(session: Session, statement, params: dict):
    """A prebuilt Core statement on the session's connection (in its transaction), minus ORM overhead."""
    return session.connection().execute(statement, params)


def _audit(session: Session, now: datetime, actor: str, action: str, *, slot_id=None, hold_id=None,
           booking_id=None, detail=None) -> None:
    _run(session, sql.INSERT_AUDIT, {
        "at": now, "actor": actor, "action": action, "slot_id": slot_id, "hold_id": hold_id,
        "booking_id": booking_id, "detail": detail,
    })


def _slot_view(slot) -> SlotView:
    """A view of a slot row (Core row or ORM object: the same attribute names)."""
    return SlotView(
        id=slot.id, service=slot.service, site=slot.site, start=from_db(slot.start_at),
        end=from_db(slot.end_at), capacity=slot.capacity, booked=slot.booked, held=slot.held,
        available=max(0, slot.capacity - slot.booked - slot.held), opens_at=from_db(slot.opens_at),
        closed=slot.closed,
    )


def _booking_view(booking, slot) -> BookingView:
    return BookingView(
        code=booking.code, status=booking.status, service=booking.service, site=slot.site,
        slot_id=slot.id, start=from_db(slot.start_at), end=from_db(slot.end_at),
        channel=booking.channel, created_at=from_db(booking.created_at),
        person_masked=booking.person_masked, cancelled_at=from_db(booking.cancelled_at),
    )


def _fresh_slot(session: Session, slot_id: int):
    return _run(session, sql.SELECT_SLOT, {"p_slot": slot_id}).first()


def _fresh_booking(session: Session, code: str):
    return _run(session, sql.SELECT_BOOKING, {"p_code": str(code)}).first()


def _open_condition(now: datetime):
    """SQL: the slot takes new holds or bookings at `now` (naive UTC)."""
    return and_(
        Slot.closed.is_(False),
        Slot.start_at > now,
        or_(Slot.opens_at.is_(None), Slot.opens_at <= now),
    )


def _take(session: Session, slot_id: int, now: datetime, column: str) -> bool:
    """Conditionally add one to `booked` or `held`; True if a place was free."""
    return _run(session, sql.TAKE[column], {"p_slot": slot_id, "now": now}).rowcount == 1


def _give_back(session: Session, slot_id: int, column: str, count: int = 1) -> None:
    result = _run(session, sql.GIVE_BACK[column], {"p_slot": slot_id, "p_n": count})
    if result.rowcount != 1:  # the counters no longer match the rows: never silently continue
        raise RuntimeError(f"slot {slot_id}: {column} counter would go negative")


def _refuse(session: Session, slot_id: int, now: datetime, *, alternatives: int = 3) -> None:
    """Raise the error that explains why slot `slot_id` took no place at `now` (naive UTC)."""
    slot = _fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    if slot.closed or slot.start_at <= now:
        raise SlotClosed(f"slot {slot_id} is closed")
    if slot.opens_at is not None and slot.opens_at > now:
        raise NotOpenYet(f"slot {slot_id} opens at {from_db(slot.opens_at).isoformat()}", from_db(slot.opens_at))
    nearest = nearest_available(
        session, slot.service, from_db(slot.start_at), limit=alternatives, now=from_db(now), exclude=slot.id,
    )
    raise SlotFull(f"slot {slot_id} is full", nearest)


def _check_ttl(ttl_seconds: int) -> None:
    if not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")


def _check_channel(channel: str) -> str:
    if not isinstance(channel, str) or not channel or len(channel) > 32:
        raise InvalidInput("channel must be a non-empty name of at most 32 characters")
    return channel


# --- holds expiry ----------------------------------------------------------------------------------

def expire_holds(session: Session, *, now: datetime, slot_ids: Iterable[int] | None = None) -> int:
    """Mark live holds past their expiry `expired` and give their places back; returns how many."""
    at = to_db(now, "now")
    if slot_ids is None:
        probe, sweep, batches = sql.ANY_EXPIRED, sql.EXPIRE, [{"now": at}]
    else:
        probe, sweep = sql.ANY_EXPIRED_ON_SLOT, sql.EXPIRE_ON_SLOT
        batches = [{"now": at, "p_slot": slot_id} for slot_id in sorted(set(slot_ids))]
    rows: list = []
    for params in batches:
        # Cheap read first: most calls find nothing to sweep and take no row lock at all.
        if _run(session, probe, params).first() is not None:
            rows.extend(_run(session, sweep, params).all())
    per_slot = Counter(slot_id for _, slot_id in rows)
    for slot_id in sorted(per_slot):
        _give_back(session, slot_id, "held", per_slot[slot_id])
    for hold_id, slot_id in rows:
        _audit(session, at, "system", "hold_expired", slot_id=slot_id, hold_id=hold_id)
    if rows:
        log.info("expired %d holds", len(rows))
    return len(rows)


# --- slots -----------------------------------------------------------------------------------------

def release_batch(session: Session, spec: BatchSpec, *, actor: str, now: datetime) -> BatchResult:
    """Create the batch's slots that do not exist yet (same service, site and start). Idempotent."""
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
        rows = [{
            "service": spec.service, "site": spec.site, "start_at": to_db(start), "end_at": to_db(end),
            "capacity": spec.capacity, "booked": 0, "held": 0, "opens_at": opens_at, "closed": False,
            "batch_id": batch_id,
        } for start, end in spans[i:i + INSERT_CHUNK]]
        created += len(session.execute(_insert_ignore(session, Slot, rows, "service", "site", "start_at")).all())
    if created:
        _audit(session, at, actor, "release_batch", detail={"batch_id": batch_id, "created": created})
    log.info("batch %s: %d slots created, %d existed", batch_id, created, len(spans) - created)
    return BatchResult(batch_id=batch_id, created=created, skipped=len(spans) - created)


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
    slot = _fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    return _slot_view(slot)


def list_slots(session: Session, service: str, start: datetime, end: datetime, *, site: str | None = None,
               available_only: bool = False, now: datetime) -> list[SlotView]:
    """Slots of `service` starting in [start, end), in order; `available_only` keeps open, free ones."""
    lo, hi, at = to_db(start, "start"), to_db(end, "end"), to_db(now, "now")
    expire_holds(session, now=now)
    query = select(Slot).where(Slot.service == service, Slot.start_at >= lo, Slot.start_at < hi)
    if site is not None:
        query = query.where(Slot.site == site)
    if available_only:
        query = query.where(_open_condition(at), Slot.booked + Slot.held < Slot.capacity)
    query = query.order_by(Slot.start_at, Slot.site, Slot.id).execution_options(populate_existing=True)
    return [_slot_view(slot) for slot in session.execute(query).scalars()]


def find_available(session: Session, service: str, start: datetime, end: datetime, *, site: str | None = None,
                   now: datetime) -> list[SlotView]:
    """Open slots with at least one free place (live holds count as taken)."""
    return list_slots(session, service, start, end, site=site, available_only=True, now=now)


def nearest_available(session: Session, service: str, wanted: datetime, *, limit: int = 3, site: str | None = None,
                      now: datetime, exclude: int | None = None) -> list[SlotView]:
    """Up to `limit` open slots with a free place, nearest to `wanted` first (ties: earlier first)."""
    at, target = to_db(now, "now"), to_db(wanted, "wanted")
    expire_holds(session, now=now)
    base = select(Slot).where(Slot.service == service, _open_condition(at), Slot.booked + Slot.held < Slot.capacity)
    if site is not None:
        base = base.where(Slot.site == site)
    if exclude is not None:
        base = base.where(Slot.id != exclude)
    base = base.execution_options(populate_existing=True)
    after = session.execute(base.where(Slot.start_at >= target).order_by(Slot.start_at, Slot.id).limit(limit)).scalars().all()
    before = session.execute(base.where(Slot.start_at < target).order_by(Slot.start_at.desc(), Slot.id).limit(limit)).scalars().all()
    ranked = sorted([*after, *before], key=lambda s: (abs(s.start_at - target), s.start_at, s.id))
    return [_slot_view(slot) for slot in ranked[:limit]]


def close_slot(session: Session, slot_id: int, *, actor: str, now: datetime) -> SlotView:
    """Stop new holds and bookings on the slot; existing bookings stay. Idempotent."""
    at = to_db(now, "now")
    result = session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.closed.is_(False)).values(closed=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        _audit(session, at, actor, "close_slot", slot_id=slot_id)
    return get_slot(session, slot_id, now=now)


# --- holds -----------------------------------------------------------------------------------------

def hold(session: Session, slot_id: int, *, ttl_seconds: int, channel: str, call_id: str | None = None,
         now: datetime, alternatives: int = 3) -> HoldView:
    """Reserve one place for `ttl_seconds` while the caller confirms. Raises SlotFull (with the
    nearest alternatives), NotOpenYet, SlotClosed or NotFound."""
    _check_ttl(ttl_seconds)
    _check_channel(channel)
    at = to_db(now, "now")
    expire_holds(session, now=now, slot_ids=[slot_id])
    if not _take(session, slot_id, at, "held"):
        _refuse(session, slot_id, at, alternatives=alternatives)
    expires_at = at + timedelta(seconds=ttl_seconds)
    hold_id = _run(session, sql.INSERT_HOLD, {
        "slot_id": slot_id, "created_at": at, "expires_at": expires_at, "state": "live", "channel": channel,
        "call_id": call_id, "ended_at": None,
    }).scalar_one()
    _audit(session, at, channel, "hold", slot_id=slot_id, hold_id=hold_id, detail={"ttl_seconds": ttl_seconds})
    return HoldView(id=hold_id, slot_id=slot_id, expires_at=from_db(expires_at))


def _end_hold(session: Session, hold_id: int, state: str, at: datetime) -> int | None:
    """Move a live hold to `state`; returns its slot id if this call did it (exactly once)."""
    row = _run(session, sql.END_HOLD, {"p_hold": hold_id, "p_state": state, "now": at}).first()
    return None if row is None else row[0]


def release_hold(session: Session, hold_id: int, *, now: datetime, actor: str | None = None) -> None:
    """Give the place back. Idempotent: an unknown, expired, used or released hold is left as it is."""
    at = to_db(now, "now")
    slot_id = _end_hold(session, hold_id, "released", at)
    if slot_id is not None:
        _give_back(session, slot_id, "held")
        _audit(session, at, actor or "system", "hold_released", slot_id=slot_id, hold_id=hold_id)


# --- bookings --------------------------------------------------------------------------------------

def _check_not_booked(session: Session, person: Person, service: str) -> None:
    if find_active_booking(session, person, service) is not None:
        raise AlreadyBooked(f"the person already has an active {service} booking")


def _insert_booking(session: Session, slot, person: Person, channel: str, at: datetime,
                    hold_id: int | None) -> BookingView:
    taken = set()
    for _ in range(CODE_ATTEMPTS):
        code = new_code()
        if code not in taken and _run(session, sql.CODE_TAKEN, {"p_code": code}).first() is None:
            break
        taken.add(code)
    else:  # pragma: no cover - 20 collisions in 90 million codes
        raise RuntimeError("could not draw a free booking code")
    try:
        row = {
            "code": code, "slot_id": slot.id, "service": slot.service, "status": "confirmed",
            "person_key": person.key_hash, "person_check": person.check_hash, "person_masked": person.masked,
            "channel": channel, "hold_id": hold_id, "created_at": at, "cancelled_at": None,
        }
        booking_id = _run(session, sql.INSERT_BOOKING, row).scalar_one()
    except IntegrityError as error:
        if "person_key" in str(error.orig) or "uq_bookings_active_person" in str(error.orig):
            raise AlreadyBooked(f"the person already has an active {slot.service} booking") from None
        raise
    _audit(session, at, channel, "book", slot_id=slot.id, hold_id=hold_id, booking_id=booking_id)
    return BookingView(
        code=code, status="confirmed", service=slot.service, site=slot.site, slot_id=slot.id,
        start=from_db(slot.start_at), end=from_db(slot.end_at), channel=channel, created_at=from_db(at),
        person_masked=person.masked,
    )


def book(session: Session, slot_id: int, person: Person, *, channel: str, now: datetime,
         alternatives: int = 3) -> BookingView:
    """Hold and confirm in one step (web, chat, staff)."""
    _check_channel(channel)
    at = to_db(now, "now")
    slot = _fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    _check_not_booked(session, person, slot.service)
    expire_holds(session, now=now, slot_ids=[slot_id])
    if not _take(session, slot_id, at, "booked"):
        _refuse(session, slot_id, at, alternatives=alternatives)
    return _insert_booking(session, slot, person, channel, at, None)


def confirm(session: Session, hold_id: int, person: Person, *, channel: str, now: datetime) -> BookingView:
    """Turn a live hold into a booking. If the hold has expired but its slot still has a free
    place, the place is re-taken; otherwise HoldExpired. A released or used hold is HoldExpired."""
    _check_channel(channel)
    at = to_db(now, "now")
    held = _run(session, sql.SELECT_HOLD, {"p_hold": hold_id}).first()
    if held is None:
        raise NotFound(f"no hold {hold_id}")
    slot = _fresh_slot(session, held.slot_id)
    _check_not_booked(session, person, slot.service)
    if held.expires_at > at and _end_hold(session, hold_id, "consumed", at) is not None:
        if _run(session, sql.HELD_TO_BOOKED, {"p_slot": slot.id}).rowcount != 1:
            raise RuntimeError(f"slot {slot.id}: held counter out of step")
    else:
        expire_holds(session, now=now, slot_ids=[slot.id])
        still = _run(session, sql.EXPIRED_TO_CONSUMED, {"p_hold": hold_id})
        if still.rowcount != 1 or not _take(session, slot.id, at, "booked"):
            raise HoldExpired(f"hold {hold_id} is no longer live and its place is gone")
    return _insert_booking(session, slot, person, channel, at, hold_id)


def get_booking(session: Session, code: str) -> BookingView | None:
    booking = _fresh_booking(session, code)
    return None if booking is None else _booking_view(booking, _fresh_slot(session, booking.slot_id))


def find_active_booking(session: Session, person: Person, service: str) -> BookingView | None:
    booking = _run(session, sql.ACTIVE_BOOKING, {"p_service": service, "p_key": person.key_hash}).first()
    return None if booking is None else _booking_view(booking, _fresh_slot(session, booking.slot_id))


def list_bookings(session: Session, *, service: str | None = None, day_start: datetime | None = None,
                  day_end: datetime | None = None, status: str | None = None) -> list[BookingView]:
    """Bookings whose slot starts in [day_start, day_end), by slot start then code."""
    query = select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id)
    if service is not None:
        query = query.where(Booking.service == service)
    if day_start is not None:
        query = query.where(Slot.start_at >= to_db(day_start, "day_start"))
    if day_end is not None:
        query = query.where(Slot.start_at < to_db(day_end, "day_end"))
    if status is not None:
        query = query.where(Booking.status == status)
    query = query.order_by(Slot.start_at, Booking.code).execution_options(populate_existing=True)
    return [_booking_view(booking, slot) for booking, slot in session.execute(query).all()]


def _active_booking(session: Session, code: str, person: Person | None):
    booking = _fresh_booking(session, code)
    if booking is None:
        raise NotFound("no such booking")
    if person is not None and not person.matches(booking.person_key, booking.person_check):
        raise IdentityMismatch("the ticket number or birth date does not match the booking")
    return booking


def cancel(session: Session, code: str, *, channel: str, now: datetime, person: Person | None = None) -> BookingView:
    """Cancel and give the place back. Cancelling a cancelled booking returns it unchanged."""
    _check_channel(channel)
    at = to_db(now, "now")
    booking = _active_booking(session, code, person)
    result = _run(session, sql.CANCEL_BOOKING, {"p_booking": booking.id, "now": at})
    if result.rowcount == 1:
        _give_back(session, booking.slot_id, "booked")
        _audit(session, at, channel, "cancel", slot_id=booking.slot_id, booking_id=booking.id)
    return get_booking(session, code)


def reschedule(session: Session, code: str, new_slot_id: int, *, channel: str, now: datetime,
               hold_id: int | None = None, person: Person | None = None, alternatives: int = 3) -> BookingView:
    """Move a confirmed booking to another slot of the same service, keeping its code. Atomic: the
    old place is given back only once the new one is secured (from `hold_id` if given)."""
    _check_channel(channel)
    at = to_db(now, "now")
    booking = _active_booking(session, code, person)
    if booking.status != "confirmed":
        raise NotFound("the booking is cancelled")
    old_slot_id = booking.slot_id
    if new_slot_id == old_slot_id:
        if hold_id is not None:
            release_hold(session, hold_id, now=now, actor=channel)
        return get_booking(session, code)
    new_slot = _fresh_slot(session, new_slot_id)
    if new_slot is None:
        raise NotFound(f"no slot {new_slot_id}")
    if new_slot.service != booking.service:
        raise InvalidInput("the new slot is for another service")
    moved = _run(session, sql.MOVE_BOOKING, {"p_booking": booking.id, "p_slot": old_slot_id, "p_new_slot": new_slot_id})
    if moved.rowcount != 1:
        raise NotFound("the booking changed meanwhile")
    if hold_id is not None:
        _reschedule_from_hold(session, hold_id, new_slot_id, at)
        _give_back(session, old_slot_id, "booked")
    else:
        expire_holds(session, now=now, slot_ids=[new_slot_id])
        for slot_id in sorted((old_slot_id, new_slot_id)):  # slot rows in id order
            if slot_id == old_slot_id:
                _give_back(session, old_slot_id, "booked")
            elif not _take(session, new_slot_id, at, "booked"):
                _refuse(session, new_slot_id, at, alternatives=alternatives)
    _audit(session, at, channel, "reschedule", slot_id=new_slot_id, hold_id=hold_id, booking_id=booking.id,
           detail={"from_slot_id": old_slot_id})
    return get_booking(session, code)


def _reschedule_from_hold(session: Session, hold_id: int, slot_id: int, at: datetime) -> None:
    held = _run(session, sql.SELECT_HOLD, {"p_hold": hold_id}).first()
    if held is None or held.slot_id != slot_id:
        raise InvalidInput(f"hold {hold_id} is not on slot {slot_id}")
    if held.expires_at <= at or _end_hold(session, hold_id, "consumed", at) is None:
        raise HoldExpired(f"hold {hold_id} is no longer live")
    if _run(session, sql.HELD_TO_BOOKED, {"p_slot": slot_id}).rowcount != 1:
        raise RuntimeError(f"slot {slot_id}: held counter out of step")
