"""Read-only listings for staff pages: which services and sites exist, when bookings were made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slots.models import Booking, Slot
from slots.timeutil import from_db, to_db


def list_services(session: Session) -> list[str]:
    """Every service that has slots, in name order."""
    return list(session.execute(select(Slot.service).distinct().order_by(Slot.service)).scalars())


def list_sites(session: Session, service: str | None = None) -> list[str]:
    """Every site that has slots (of `service`, if given), in name order."""
    query = select(Slot.site).distinct().order_by(Slot.site)
    if service:
        query = query.where(Slot.service == service)
    return list(session.execute(query).scalars())


def bookings_created_between(session: Session, start: datetime, end: datetime) -> list[datetime]:
    """When the bookings made in [start, end) were made (aware UTC, in order), cancelled ones included."""
    query = (select(Booking.created_at)
             .where(Booking.created_at >= to_db(start, "start"), Booking.created_at < to_db(end, "end"))
             .order_by(Booking.created_at))
    return [from_db(moment) for moment in session.execute(query).scalars()]
