"""Read-only queries the store does not offer as functions yet (service names, booking times).

Kept here, small and read-only, so the pages do not reach into the store's tables anywhere else.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from slots.models import Booking, Slot
from slots.timeutil import to_db


def known_services(session: Session) -> list[str]:
    return list(session.execute(select(Slot.service).distinct().order_by(Slot.service)).scalars())


def known_sites(session: Session, service: str | None = None) -> list[str]:
    query = select(Slot.site).distinct().order_by(Slot.site)
    if service:
        query = query.where(Slot.service == service)
    return list(session.execute(query).scalars())


def bookings_created(session: Session, start: datetime, end: datetime) -> list[datetime]:
    """When the bookings made in [start, end) were made (aware UTC), cancelled ones included."""
    rows = session.execute(
        select(Booking.created_at).where(Booking.created_at >= to_db(start), Booking.created_at < to_db(end))
    ).scalars()
    return [moment.replace(tzinfo=timezone.utc) for moment in rows]
