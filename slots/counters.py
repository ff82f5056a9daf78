"""The place counters on slot rows and the moves of holds between states.

`slots.booked` and `slots.held` change only here, through conditional UPDATEs checked by row count
(`take`, `give_back`), and a hold leaves `live` exactly once (`end_hold`, `expire_holds`). Helpers
for the operation modules; the public API is `slots.store`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from slots import sql
from slots.errors import InvalidInput
from slots.models import Slot
from slots.timeutil import from_db, to_db
from slots.views import BookingView, SlotView

log = logging.getLogger(__name__)

MAX_TTL_SECONDS = 3600


def run(session: Session, statement, params: dict):
    """A prebuilt Core statement on the session's connection (in its transaction), minus ORM overhead."""
    return session.connection().execute(statement, params)


def audit(session: Session, now: datetime, actor: str, action: str, *, slot_id=None, hold_id=None,
          booking_id=None, detail=None) -> None:
    run(session, sql.INSERT_AUDIT, {
        "at": now, "actor": actor, "action": action, "slot_id": slot_id, "hold_id": hold_id,
        "booking_id": booking_id, "detail": detail,
    })


def slot_view(slot) -> SlotView:
    """A view of a slot row (Core row or ORM object: the same attribute names)."""
    return SlotView(
        id=slot.id, service=slot.service, site=slot.site, start=from_db(slot.start_at),
        end=from_db(slot.end_at), capacity=slot.capacity, booked=slot.booked, held=slot.held,
        available=max(0, slot.capacity - slot.booked - slot.held), opens_at=from_db(slot.opens_at),
        closed=slot.closed,
    )


def booking_view(booking, slot) -> BookingView:
    return BookingView(
        code=booking.code, status=booking.status, service=booking.service, site=slot.site,
        slot_id=slot.id, start=from_db(slot.start_at), end=from_db(slot.end_at),
        channel=booking.channel, created_at=from_db(booking.created_at),
        person_masked=booking.person_masked, cancelled_at=from_db(booking.cancelled_at),
    )


def fresh_slot(session: Session, slot_id: int):
    return run(session, sql.SELECT_SLOT, {"p_slot": slot_id}).first()


def fresh_booking(session: Session, code: str):
    return run(session, sql.SELECT_BOOKING, {"p_code": str(code)}).first()


def open_condition(now: datetime):
    """SQL: the slot takes new holds or bookings at `now` (naive UTC)."""
    return and_(
        Slot.closed.is_(False),
        Slot.start_at > now,
        or_(Slot.opens_at.is_(None), Slot.opens_at <= now),
    )


def take(session: Session, slot_id: int, now: datetime, column: str) -> bool:
    """Conditionally add one to `booked` or `held`; True if a place was free."""
    return run(session, sql.TAKE[column], {"p_slot": slot_id, "now": now}).rowcount == 1


def give_back(session: Session, slot_id: int, column: str, count: int = 1) -> None:
    result = run(session, sql.GIVE_BACK[column], {"p_slot": slot_id, "p_n": count})
    if result.rowcount != 1:  # the counters no longer match the rows: never silently continue
        raise RuntimeError(f"slot {slot_id}: {column} counter would go negative")


def end_hold(session: Session, hold_id: int, state: str, at: datetime) -> int | None:
    """Move a live hold to `state`; returns its slot id if this call did it (exactly once)."""
    row = run(session, sql.END_HOLD, {"p_hold": hold_id, "p_state": state, "now": at}).first()
    return None if row is None else row[0]


def check_ttl(ttl_seconds: int) -> None:
    if not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")


def check_name(value: str, what: str = "channel", limit: int = 32) -> str:
    """A channel (32) or actor (64) name: non-empty, bounded; the column would refuse it later."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{what} must be a non-empty name of at most {limit} characters")
    return value


check_channel = check_name


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
        if run(session, probe, params).first() is not None:
            rows.extend(run(session, sweep, params).all())
    per_slot = Counter(slot_id for _, slot_id in rows)
    for slot_id in sorted(per_slot):
        give_back(session, slot_id, "held", per_slot[slot_id])
    for hold_id, slot_id in rows:
        audit(session, at, "system", "hold_expired", slot_id=slot_id, hold_id=hold_id)
    if rows:
        log.info("expired %d holds", len(rows))
    return len(rows)
