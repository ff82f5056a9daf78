"""Rows through the prebuilt statements of `slots.sql`: fresh reads, the audit trail, and rows as views.

Helpers for the operation modules; the public API is `slots.store`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session

from slots import sql
from slots.models import Slot
from slots.timeutil import from_db
from slots.views import BookingView, SlotView


def run(session: Session, statement, params: dict):
    """A prebuilt Core statement on the session's connection (in its transaction), minus ORM overhead."""
    return session.connection().execute(statement, params)


def audit(session: Session, now: datetime, actor: str, action: str, *, slot_id=None, hold_id=None,
          booking_id=None, detail=None) -> None:
    run(session, sql.INSERT_AUDIT, {
        "at": now, "actor": actor, "action": action, "slot_id": slot_id, "hold_id": hold_id,
        "booking_id": booking_id, "detail": detail,
    })


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


def fair_condition(now: datetime):
    """SQL: a channel other than the phone may take a place at `now` (naive UTC) without eating into
    the phone's unused reserve (the same test as `slots.sql.FAIR`)."""
    return or_(
        Slot.phone_reserved_until.is_(None),
        Slot.phone_reserved_until <= now,
        Slot.booked + Slot.held + Slot.phone_reserved - Slot.phone_taken < Slot.capacity,
    )


def slot_view(slot) -> SlotView:
    """A view of a slot row (Core row or ORM object: the same attribute names)."""
    return SlotView(
        id=slot.id, service=slot.service, site=slot.site, start=from_db(slot.start_at),
        end=from_db(slot.end_at), capacity=slot.capacity, booked=slot.booked, held=slot.held,
        available=max(0, slot.capacity - slot.booked - slot.held), opens_at=from_db(slot.opens_at),
        closed=slot.closed, phone_reserved=slot.phone_reserved,
        phone_reserved_until=from_db(slot.phone_reserved_until), phone_taken=slot.phone_taken,
    )


def booking_view(booking, slot) -> BookingView:
    return BookingView(
        code=booking.code, status=booking.status, service=booking.service, site=slot.site,
        slot_id=slot.id, start=from_db(slot.start_at), end=from_db(slot.end_at),
        channel=booking.channel, created_at=from_db(booking.created_at),
        person_masked=booking.person_masked, cancelled_at=from_db(booking.cancelled_at),
    )
