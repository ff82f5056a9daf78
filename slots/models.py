"""SQLAlchemy 2.0 models of the slot store. Datetimes are naive UTC (see `slots.timeutil`).

Invariants kept by the database itself:
- `slots.booked + slots.held <= slots.capacity` (CHECK), and every counter moves only through a
  conditional UPDATE checked by row count (`slots.store`);
- `slots.phone_taken` (places the phone holds or booked) stays within `booked + held` (CHECK); while
  `phone_reserved_until` has not passed, other channels take a place only if the phone's unused
  reserve (`phone_reserved - phone_taken`) still fits (`slots.sql.FAIR`);
- one slot per (service, site, start) (UNIQUE), so releasing a batch twice creates nothing;
- one confirmed booking per (service, person_check): per ticket number *and* birth date, so a
  ticket alone never runs into someone's booking (partial UNIQUE index, SQLite and PostgreSQL);
- booking codes are unique;
- one open call-back request per (phone, service, local day) (partial UNIQUE index).
`slots.held` counts the holds in state `live` (expired ones too until they are swept, lazily, by
the transaction that next looks at the slot).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HOLD_STATES = ("live", "released", "consumed", "expired")
BOOKING_STATES = ("confirmed", "cancelled")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(128))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Slot(Base):
    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("service", "site", "start_at"),
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("booked >= 0 AND held >= 0", name="counters"),
        CheckConstraint("booked + held <= capacity", name="not_overbooked"),
        CheckConstraint("end_at > start_at", name="span"),
        CheckConstraint("phone_reserved >= 0 AND phone_reserved <= capacity", name="phone_reserved"),
        CheckConstraint("phone_taken >= 0 AND phone_taken <= booked + held", name="phone_taken"),
        Index(None, "service", "start_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(128))
    start_at: Mapped[datetime] = mapped_column(DateTime)
    end_at: Mapped[datetime] = mapped_column(DateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    held: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    opens_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("batches.id"))
    #: places kept for phone callers until `phone_reserved_until`; other channels leave them free
    phone_reserved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    phone_reserved_until: Mapped[datetime | None] = mapped_column(DateTime)
    #: places held or booked by the phone (`holds.channel`, `bookings.phone_place`)
    phone_taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Hold(Base):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("state IN ('live', 'released', 'consumed', 'expired')", name="state"),
        Index(None, "state", "expires_at"),
        Index(None, "slot_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16), default="live")
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    channel: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64))
    #: the caller's key for this attempt: a retry after a COMMIT that succeeded finds this hold
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status IN ('confirmed', 'cancelled')", name="status"),
        Index(
            "uq_bookings_active_person_check",
            "service",
            "person_check",
            unique=True,
            sqlite_where=text("status = 'confirmed'"),
            postgresql_where=text("status = 'confirmed'"),
        ),
        Index(None, "slot_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id"))
    service: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    person_key: Mapped[str] = mapped_column(String(64))
    person_check: Mapped[str] = mapped_column(String(64))
    person_masked: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    hold_id: Mapped[int | None] = mapped_column(ForeignKey("holds.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the place was taken by the phone (counted in `slots.phone_taken`), whatever channel booked it
    phone_place: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: the caller's key for this attempt: a retry after a COMMIT that succeeded finds this booking
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class AuditEntry(Base):
    """Who (actor or channel) did what, when, to which ids. Never personal data."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    slot_id: Mapped[int | None] = mapped_column(Integer)
    hold_id: Mapped[int | None] = mapped_column(Integer)
    booking_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CallRecord(Base):
    """One finished call: steps and recognizer confidences, no personal data."""

    __tablename__ = "call_records"
    __table_args__ = (Index(None, "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(32))
    last_step: Mapped[str | None] = mapped_column(String(64))
    steps: Mapped[list[str]] = mapped_column(JSON)
    confidences: Mapped[list[float]] = mapped_column(JSON)
    transferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    channel: Mapped[str] = mapped_column(String(32))


class CallbackRequest(Base):
    """A caller who could not reach an operator asks to be called back. `phone` is digits only;
    `day` is the local day of `created_at` (the zone the caller of the store gave)."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'called', 'done')", name="status"),
        Index(
            "uq_callback_requests_open",
            "phone",
            "service",
            "day",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    call_id: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_by: Mapped[str | None] = mapped_column(String(64))
