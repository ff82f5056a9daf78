"""Bookings: confirm a hold, book directly, cancel, reschedule, look up."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slots import sql
from slots.allocation import is_phone
from slots.availability import refuse
from slots.checks import check_name, check_request_key
from slots.codes import new_code
from slots.counters import end_hold, expire_holds, give_back, take
from slots.errors import AlreadyBooked, HoldExpired, IdentityMismatch, InvalidInput, NotFound
from slots.holds import release_hold
from slots.models import Booking, Slot
from slots.person import Person
from slots.rows import audit, booking_view, fresh_booking, fresh_slot, run
from slots.timeutil import from_db, to_db
from slots.views import BookingView

CODE_ATTEMPTS = 20


def _check_not_booked(session: Session, person: Person, service: str) -> None:
    if find_active_booking(session, person, service) is not None:
        raise AlreadyBooked(f"the person already has an active {service} booking")


def _earlier_booking(session: Session, request_key: str | None, *, slot_id: int | None = None,
                     hold_id: int | None = None) -> BookingView | None:
    """The booking an earlier attempt with this request key made (its COMMIT succeeded, and the
    retry must not book again), or None."""
    if request_key is None:
        return None
    earlier = run(session, sql.BOOKING_BY_REQUEST, {"p_request": check_request_key(request_key)}).first()
    if earlier is None:
        return None
    if (slot_id is not None and earlier.slot_id != slot_id) or (hold_id is not None and earlier.hold_id != hold_id):
        raise InvalidInput("this request key was used for another request")
    return booking_view(earlier, fresh_slot(session, earlier.slot_id))


def _insert_booking(session: Session, slot, person: Person, channel: str, at: datetime,
                    hold_id: int | None, request_key: str | None = None, *, phone_place: bool = False) -> BookingView:
    taken = set()
    for _ in range(CODE_ATTEMPTS):
        code = new_code()
        if code not in taken and run(session, sql.CODE_TAKEN, {"p_code": code}).first() is None:
            break
        taken.add(code)
    else:  # pragma: no cover - 20 collisions in 90 million codes
        raise RuntimeError("could not draw a free booking code")
    try:
        row = {
            "code": code, "slot_id": slot.id, "service": slot.service, "status": "confirmed",
            "person_key": person.key_hash, "person_check": person.check_hash, "person_masked": person.masked,
            "channel": channel, "hold_id": hold_id, "created_at": at, "cancelled_at": None,
            "request_key": request_key, "phone_place": phone_place,
        }
        booking_id = run(session, sql.INSERT_BOOKING, row).scalar_one()
    except IntegrityError as error:
        if "person_check" in str(error.orig) or "uq_bookings_active_person" in str(error.orig):
            raise AlreadyBooked(f"the person already has an active {slot.service} booking") from None
        raise
    audit(session, at, channel, "book", slot_id=slot.id, hold_id=hold_id, booking_id=booking_id)
    return BookingView(
        code=code, status="confirmed", service=slot.service, site=slot.site, slot_id=slot.id,
        start=from_db(slot.start_at), end=from_db(slot.end_at), channel=channel, created_at=from_db(at),
        person_masked=person.masked,
    )


def book(session: Session, slot_id: int, person: Person, *, channel: str, now: datetime,
         alternatives: int = 3, request_key: str | None = None) -> BookingView:
    """Hold and confirm in one step (web, chat, staff). `request_key`: as for `confirm`."""
    check_name(channel)
    if (earlier := _earlier_booking(session, request_key, slot_id=slot_id)) is not None:
        return earlier
    at = to_db(now, "now")
    slot = fresh_slot(session, slot_id)
    if slot is None:
        raise NotFound(f"no slot {slot_id}")
    _check_not_booked(session, person, slot.service)
    expire_holds(session, now=now, slot_ids=[slot_id])
    if not take(session, slot_id, at, "booked", phone=is_phone(channel)):
        refuse(session, slot_id, at, alternatives=alternatives, channel=channel)
    return _insert_booking(session, slot, person, channel, at, None, request_key, phone_place=is_phone(channel))


class _SlotOfHold(NamedTuple):
    """What a booking needs of its slot, read with the hold (`sql.HOLD_FOR_CONFIRM`)."""

    id: int
    service: str
    site: str
    start_at: datetime
    end_at: datetime


def confirm(session: Session, hold_id: int, person: Person, *, channel: str, now: datetime,
            request_key: str | None = None, own_hold_only: bool = False) -> BookingView:
    """Turn a live hold into a booking. If the hold has expired but its slot still has a free
    place, the place is re-taken; otherwise HoldExpired. A released or used hold is HoldExpired.

    `request_key` (one per attempt, made before the transaction): a retry of an attempt whose
    COMMIT succeeded gets the booking it made, instead of AlreadyBooked or HoldExpired.
    `own_hold_only`: a hold another channel placed is NotFound, like one that does not exist."""
    check_name(channel)
    key = None if request_key is None else check_request_key(request_key)
    at = to_db(now, "now")
    held = run(session, sql.HOLD_FOR_CONFIRM, {
        "p_hold": hold_id, "p_request": key, "p_key": person.key_hash, "p_check": person.check_hash}).first()
    if held is None or held.earlier is not None:  # rare: read the earlier attempt's booking in full
        if (earlier := _earlier_booking(session, request_key, hold_id=hold_id)) is not None:
            return earlier
    if held is None or (own_hold_only and held.channel != channel):
        raise NotFound(f"no hold {hold_id}")
    slot = _SlotOfHold(held.slot_id, held.service, held.site, held.start_at, held.end_at)
    if held.active is not None:
        raise AlreadyBooked(f"the person already has an active {slot.service} booking")
    if held.expires_at > at and end_hold(session, hold_id, "consumed", at) is not None:
        if run(session, sql.HELD_TO_BOOKED, {"p_slot": slot.id}).rowcount != 1:
            raise RuntimeError(f"slot {slot.id}: held counter out of step")
        phone_place = is_phone(held.channel)  # the place the hold took, counted as it was
    else:
        expire_holds(session, now=now, slot_ids=[slot.id])
        still = run(session, sql.EXPIRED_TO_CONSUMED, {"p_hold": hold_id})
        phone_place = is_phone(channel)
        if still.rowcount != 1 or not take(session, slot.id, at, "booked", phone=phone_place):
            raise HoldExpired(f"hold {hold_id} is no longer live and its place is gone")
    return _insert_booking(session, slot, person, channel, at, hold_id, request_key, phone_place=phone_place)


def get_booking(session: Session, code: str) -> BookingView | None:
    booking = fresh_booking(session, code)
    return None if booking is None else booking_view(booking, fresh_slot(session, booking.slot_id))


def find_active_booking(session: Session, person: Person, service: str) -> BookingView | None:
    """The person's confirmed booking for the service: ticket number *and* birth date must match
    (a ticket alone finds nothing, so no answer built on this reveals someone else's booking)."""
    query = {"p_service": service, "p_key": person.key_hash, "p_check": person.check_hash}
    booking = run(session, sql.ACTIVE_BOOKING, query).first()
    return None if booking is None else booking_view(booking, fresh_slot(session, booking.slot_id))


def list_bookings(session: Session, *, service: str | None = None, day_start: datetime | None = None,
                  day_end: datetime | None = None, status: str | None = None, limit: int | None = None,
                  offset: int = 0) -> list[BookingView]:
    """Bookings whose slot starts in [day_start, day_end), by slot start then code; `limit` and
    `offset` page through them."""
    query = select(Booking, Slot).join(Slot, Slot.id == Booking.slot_id)
    if service is not None:
        query = query.where(Booking.service == service)
    if day_start is not None:
        query = query.where(Slot.start_at >= to_db(day_start, "day_start"))
    if day_end is not None:
        query = query.where(Slot.start_at < to_db(day_end, "day_end"))
    if status is not None:
        query = query.where(Booking.status == status)
    query = query.order_by(Slot.start_at, Booking.code).offset(offset).limit(limit)
    query = query.execution_options(populate_existing=True)
    return [booking_view(booking, slot) for booking, slot in session.execute(query).all()]


def _active_booking(session: Session, code: str, person: Person | None):
    booking = fresh_booking(session, code)
    if booking is None:
        raise NotFound("no such booking")
    if person is not None and not person.matches(booking.person_key, booking.person_check):
        raise IdentityMismatch("the ticket number or birth date does not match the booking")
    return booking


def cancel(session: Session, code: str, *, channel: str, now: datetime, person: Person | None = None) -> BookingView:
    """Cancel and give the place back. Cancelling a cancelled booking returns it unchanged."""
    check_name(channel)
    at = to_db(now, "now")
    booking = _active_booking(session, code, person)
    result = run(session, sql.CANCEL_BOOKING, {"p_booking": booking.id, "now": at})
    if result.rowcount == 1:
        give_back(session, booking.slot_id, "booked", phone=booking.phone_place)
        audit(session, at, channel, "cancel", slot_id=booking.slot_id, booking_id=booking.id)
    return get_booking(session, code)


def reschedule(session: Session, code: str, new_slot_id: int, *, channel: str, now: datetime,
               hold_id: int | None = None, person: Person | None = None, alternatives: int = 3) -> BookingView:
    """Move a confirmed booking to another slot of the same service, keeping its code. Atomic: the
    old place is given back only once the new one is secured - from `hold_id` if it is still live,
    else from the slot's free places (SlotFull with alternatives if there is none)."""
    check_name(channel)
    at = to_db(now, "now")
    booking = _active_booking(session, code, person)
    if booking.status != "confirmed":
        raise NotFound("the booking is cancelled")
    old_slot_id = booking.slot_id
    if new_slot_id == old_slot_id:
        if hold_id is not None:
            release_hold(session, hold_id, now=now, actor=channel)
        return get_booking(session, code)
    new_slot = fresh_slot(session, new_slot_id)
    if new_slot is None:
        raise NotFound(f"no slot {new_slot_id}")
    if new_slot.service != booking.service:
        raise InvalidInput("the new slot is for another service")
    moved = run(session, sql.MOVE_BOOKING, {"p_booking": booking.id, "p_slot": old_slot_id, "p_new_slot": new_slot_id})
    if moved.rowcount != 1:
        raise NotFound("the booking changed meanwhile")
    held_by = None if hold_id is None else _consume_hold(session, hold_id, new_slot_id, at)
    if held_by is not None:
        phone_place = is_phone(held_by)
        give_back(session, old_slot_id, "booked", phone=booking.phone_place)
    else:  # no hold, or one that is no longer live: take a free place if there is one
        phone_place = is_phone(channel)
        expire_holds(session, now=now, slot_ids=[new_slot_id])
        for slot_id in sorted((old_slot_id, new_slot_id)):  # slot rows in id order
            if slot_id == old_slot_id:
                give_back(session, old_slot_id, "booked", phone=booking.phone_place)
            elif not take(session, new_slot_id, at, "booked", phone=phone_place):
                refuse(session, new_slot_id, at, alternatives=alternatives, channel=channel)
    if phone_place != booking.phone_place:
        run(session, sql.SET_PHONE_PLACE, {"p_booking": booking.id, "p_phone_place": phone_place})
    audit(session, at, channel, "reschedule", slot_id=new_slot_id, hold_id=hold_id, booking_id=booking.id,
          detail={"from_slot_id": old_slot_id})
    return get_booking(session, code)


def _consume_hold(session: Session, hold_id: int, slot_id: int, at: datetime) -> str | None:
    """Turn a live, unexpired hold on `slot_id` into a booked place and return the channel that held
    it; None if it is not live."""
    held = run(session, sql.SELECT_HOLD, {"p_hold": hold_id}).first()
    if held is None or held.slot_id != slot_id:
        raise InvalidInput(f"hold {hold_id} is not on slot {slot_id}")
    if held.expires_at <= at or end_hold(session, hold_id, "consumed", at) is None:
        return None
    if run(session, sql.HELD_TO_BOOKED, {"p_slot": slot_id}).rowcount != 1:
        raise RuntimeError(f"slot {slot_id}: held counter out of step")
    return held.channel
