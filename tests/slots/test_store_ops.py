"""Every store operation and error, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from slots import store
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
from slots.models import AuditEntry, Hold
from slotkit import EVER, NOW, person, spec

LATER = NOW + timedelta(seconds=120)


def slot_state(tx, slot_id, now=NOW):
    return tx(store.get_slot, slot_id, now=now)


def test_release_batch_is_idempotent_and_reports(tx):
    batch = spec(capacity=4, days=2, times=("09:00-10:00", "13:00-14:00"), every=15)
    first = tx(store.release_batch, batch, actor="staff", now=NOW)
    assert (first.created, first.skipped) == (16, 0)
    again = tx(store.release_batch, batch, actor="staff", now=NOW)
    assert (again.batch_id, again.created, again.skipped) == (first.batch_id, 0, 16)
    wider = spec(capacity=4, days=3, times=("09:00-10:00", "13:00-14:00"), every=15)
    assert tx(store.release_batch, wider, actor="staff", now=NOW).created == 8
    assert len(tx(store.list_slots, "vaccine", *EVER, now=NOW)) == 24


def test_release_batch_writes_one_audit_row_per_change(tx, Session):
    batch = spec()
    tx(store.release_batch, batch, actor="staff", now=NOW)
    tx(store.release_batch, batch, actor="staff", now=NOW)
    with Session() as session:
        rows = session.execute(select(AuditEntry)).scalars().all()
    assert [(r.actor, r.action, r.detail["created"]) for r in rows] == [("staff", "release_batch", 2)]


def test_slot_times_are_local_windows_in_utc(slots_of):
    first, second = slots_of()
    assert first.start.isoformat() == "2026-12-01T00:00:00+00:00"  # 09:00 in Tokyo
    assert second.end - second.start == timedelta(minutes=30)


def test_hold_counts_against_availability(tx, slots_of):
    slot = slots_of(capacity=2)[0]
    held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", call_id="c1", now=NOW)
    assert held.slot_id == slot.id and held.expires_at == NOW + timedelta(seconds=60)
    view = slot_state(tx, slot.id)
    assert (view.booked, view.held, view.available) == (0, 1, 1)


def test_hold_on_full_slot_raises_with_nearest_alternatives(tx, slots_of):
    slots = slots_of(capacity=1, times=("09:00-11:00",))
    target = slots[1]
    tx(store.book, target.id, person(1), channel="web", now=NOW)
    with pytest.raises(SlotFull) as caught:
        tx(store.hold, target.id, ttl_seconds=60, channel="phone", now=NOW)
    assert caught.value.reason == "slot_full"
    assert [s.id for s in caught.value.alternatives] == [slots[0].id, slots[2].id, slots[3].id]
    assert all(s.available == 1 for s in caught.value.alternatives)


def test_expired_hold_frees_its_place_lazily(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    with pytest.raises(SlotFull):
        tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW + timedelta(seconds=59))
    second = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW + timedelta(seconds=60))
    assert second.slot_id == slot.id
    assert slot_state(tx, slot.id, NOW + timedelta(seconds=61)).held == 1


def test_availability_checks_sweep_expired_holds(tx, slots_of, Session):
    slot = slots_of(capacity=3)[0]
    for _ in range(2):
        tx(store.hold, slot.id, ttl_seconds=30, channel="phone", now=NOW)
    [view] = [s for s in tx(store.find_available, "vaccine", *EVER, now=LATER) if s.id == slot.id]
    assert (view.held, view.available) == (0, 3)
    with Session() as session:
        states = session.execute(select(Hold.state)).scalars().all()
    assert states == ["expired", "expired"]
    assert tx(store.expire_holds, now=LATER) == 0


def test_release_hold_is_idempotent(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.release_hold, held.id, now=NOW)
    tx(store.release_hold, held.id, now=NOW)
    tx(store.release_hold, 999_999, now=NOW)
    assert slot_state(tx, slot.id).available == 1
    with pytest.raises(HoldExpired):
        tx(store.confirm, held.id, person(1), channel="phone", now=NOW)


def test_confirm_turns_a_live_hold_into_a_booking(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", call_id="c1", now=NOW)
    booking = tx(store.confirm, held.id, person(7), channel="phone", now=NOW + timedelta(seconds=30))
    assert booking.status == "confirmed" and booking.slot_id == slot.id
    assert len(booking.code) == 8 and booking.code.isdigit() and booking.code[0] != "0"
    assert booking.person_masked == "******0007"
    view = slot_state(tx, slot.id)
    assert (view.booked, view.held, view.available) == (1, 0, 0)
    with pytest.raises(HoldExpired):  # a used hold cannot book twice
        tx(store.confirm, held.id, person(8), channel="phone", now=NOW)


def test_confirm_after_expiry_retakes_a_free_place(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    booking = tx(store.confirm, held.id, person(1), channel="phone", now=NOW + timedelta(seconds=90))
    view = slot_state(tx, slot.id, NOW + timedelta(seconds=90))
    assert booking.slot_id == slot.id and (view.booked, view.held) == (1, 0)


def test_confirm_after_expiry_fails_when_the_place_is_gone(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.book, slot.id, person(2), channel="web", now=NOW + timedelta(seconds=61))
    with pytest.raises(HoldExpired) as caught:
        tx(store.confirm, held.id, person(1), channel="phone", now=NOW + timedelta(seconds=62))
    assert caught.value.reason == "hold_expired"
    assert slot_state(tx, slot.id, NOW + timedelta(seconds=62)).booked == 1


def test_confirm_unknown_hold(tx):
    with pytest.raises(NotFound):
        tx(store.confirm, 12345, person(1), channel="phone", now=NOW)


def test_one_active_booking_per_person_and_service(tx, slots_of):
    first, second = slots_of(capacity=2)
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    with pytest.raises(AlreadyBooked):
        tx(store.book, second.id, person(1), channel="phone", now=NOW)
    held = tx(store.hold, second.id, ttl_seconds=60, channel="phone", now=NOW)
    with pytest.raises(AlreadyBooked):
        tx(store.confirm, held.id, person(1), channel="phone", now=NOW)
    other = slots_of(capacity=2, service="checkup")[0]
    assert tx(store.book, other.id, person(1), channel="web", now=NOW).service == "checkup"
    tx(store.cancel, booking.code, channel="web", now=NOW)
    assert tx(store.book, second.id, person(1), channel="web", now=NOW).slot_id == second.id
    assert slot_state(tx, second.id).held == 1  # the failed confirm left its hold live


def test_a_ticket_alone_reveals_no_booking(tx, slots_of):
    """Without the matching birth date, a ticket number with a booking is answered exactly like a
    ticket number without one: it books, and no lookup finds the other booking."""
    from datetime import date

    first, second, third = slots_of(capacity=2, times=("09:00-10:30",))
    owner, stranger = person(1), person(1, birthdate=date(1961, 6, 6))
    booking = tx(store.book, first.id, owner, channel="web", now=NOW)
    assert tx(store.find_active_booking, stranger, "vaccine") is None
    assert tx(store.find_active_booking, owner, "vaccine") == booking
    held = tx(store.hold, second.id, ttl_seconds=60, channel="phone", now=NOW)
    assert tx(store.confirm, held.id, stranger, channel="phone", now=NOW).slot_id == second.id
    assert tx(store.find_active_booking, owner, "vaccine") == booking  # still the owner's own
    with pytest.raises(AlreadyBooked):
        tx(store.book, third.id, owner, channel="phone", now=NOW)


def test_the_database_enforces_one_active_booking(Session, slots_of):
    from slots.bookings import _insert_booking
    from slots.models import Slot
    from slots.timeutil import to_db

    first = slots_of(capacity=2)[0]
    with Session() as session, session.begin():
        slot = session.get(Slot, first.id)
        _insert_booking(session, slot, person(1), "web", to_db(NOW), None)
    with pytest.raises(AlreadyBooked), Session() as session, session.begin():
        _insert_booking(session, session.get(Slot, first.id), person(1), "web", to_db(NOW), None)


def test_not_open_yet(tx, slots_of):
    opens = NOW + timedelta(hours=1)
    slot = slots_of(opens_at=opens)[0]
    with pytest.raises(NotOpenYet) as caught:
        tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    assert caught.value.reason == "not_open_yet" and caught.value.opens_at == opens
    with pytest.raises(NotOpenYet):
        tx(store.book, slot.id, person(1), channel="web", now=NOW)
    assert tx(store.find_available, "vaccine", *EVER, now=NOW) == []
    assert tx(store.book, slot.id, person(1), channel="web", now=opens).slot_id == slot.id


def test_closed_and_past_slots_take_nothing(tx, slots_of):
    first, second = slots_of(capacity=2)
    closed = tx(store.close_slot, first.id, actor="staff", now=NOW)
    assert closed.closed
    with pytest.raises(SlotClosed):
        tx(store.hold, first.id, ttl_seconds=60, channel="phone", now=NOW)
    with pytest.raises(SlotClosed):
        tx(store.book, second.id, person(1), channel="web", now=second.start)
    with pytest.raises(NotFound):
        tx(store.hold, 999_999, ttl_seconds=60, channel="phone", now=NOW)


def test_cancel_gives_the_place_back_and_checks_identity(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    booking = tx(store.book, slot.id, person(1), channel="web", now=NOW)
    with pytest.raises(IdentityMismatch):
        tx(store.cancel, booking.code, channel="phone", now=NOW, person=person(1, birthdate=NOW.date()))
    cancelled = tx(store.cancel, booking.code, channel="phone", now=NOW, person=person(1))
    assert cancelled.status == "cancelled" and cancelled.cancelled_at == NOW
    assert tx(store.cancel, booking.code, channel="phone", now=NOW).status == "cancelled"
    assert slot_state(tx, slot.id).available == 1
    with pytest.raises(NotFound):
        tx(store.cancel, "00000000", channel="phone", now=NOW)


def test_reschedule_moves_the_booking_and_keeps_its_code(tx, slots_of):
    first, second = slots_of(capacity=1)
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    moved = tx(store.reschedule, booking.code, second.id, channel="phone", now=NOW)
    assert (moved.code, moved.slot_id, moved.start) == (booking.code, second.id, second.start)
    assert slot_state(tx, first.id).booked == 0 and slot_state(tx, second.id).booked == 1
    back = tx(store.reschedule, booking.code, first.id, channel="phone", now=NOW)
    assert back.slot_id == first.id


def test_reschedule_to_a_full_slot_keeps_the_old_place(tx, slots_of):
    first, second = slots_of(capacity=1)
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    tx(store.book, second.id, person(2), channel="web", now=NOW)
    with pytest.raises(SlotFull):
        tx(store.reschedule, booking.code, second.id, channel="phone", now=NOW)
    assert tx(store.get_booking, booking.code).slot_id == first.id
    assert slot_state(tx, first.id).booked == 1 and slot_state(tx, second.id).booked == 1


def test_reschedule_with_a_hold(tx, slots_of):
    first, second = slots_of(capacity=1)
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    held = tx(store.hold, second.id, ttl_seconds=60, channel="phone", now=NOW)
    moved = tx(store.reschedule, booking.code, second.id, channel="phone", now=NOW, hold_id=held.id)
    assert moved.slot_id == second.id
    view = slot_state(tx, second.id)
    assert (view.booked, view.held) == (1, 0) and slot_state(tx, first.id).booked == 0
    lapsed = tx(store.hold, first.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.book, first.id, person(2), channel="web", now=LATER)  # the lapsed hold's place is gone
    with pytest.raises(SlotFull):
        tx(store.reschedule, booking.code, first.id, channel="phone", now=LATER, hold_id=lapsed.id)
    assert tx(store.get_booking, booking.code).slot_id == second.id


def test_reschedule_with_a_lapsed_hold_retakes_a_free_place(tx, slots_of):
    first, second = slots_of(capacity=1)
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    lapsed = tx(store.hold, second.id, ttl_seconds=60, channel="phone", now=NOW)
    moved = tx(store.reschedule, booking.code, second.id, channel="phone", now=LATER, hold_id=lapsed.id)
    assert moved.slot_id == second.id
    view = slot_state(tx, second.id, LATER)
    assert (view.booked, view.held) == (1, 0) and slot_state(tx, first.id, LATER).booked == 0
    with pytest.raises(InvalidInput):  # a hold on another slot
        tx(store.reschedule, booking.code, first.id, channel="phone", now=LATER, hold_id=lapsed.id)


def test_reschedule_checks_service_and_status(tx, slots_of):
    first = slots_of(capacity=1)[0]
    other = slots_of(capacity=1, service="checkup")[0]
    booking = tx(store.book, first.id, person(1), channel="web", now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.reschedule, booking.code, other.id, channel="phone", now=NOW)
    tx(store.cancel, booking.code, channel="web", now=NOW)
    with pytest.raises(NotFound):
        tx(store.reschedule, booking.code, first.id, channel="phone", now=NOW)


def test_lookups(tx, slots_of):
    first, second = slots_of(capacity=2)
    a = tx(store.book, first.id, person(1), channel="web", now=NOW)
    b = tx(store.book, second.id, person(2), channel="phone", now=NOW)
    tx(store.cancel, b.code, channel="phone", now=NOW)
    assert tx(store.get_booking, a.code) == a
    assert tx(store.get_booking, "12345678") is None
    assert tx(store.find_active_booking, person(1), "vaccine") == a
    assert tx(store.find_active_booking, person(2), "vaccine") is None
    day = (first.start - timedelta(hours=9), first.start + timedelta(hours=15))
    assert [x.code for x in tx(store.list_bookings, service="vaccine", day_start=day[0], day_end=day[1])] == [a.code, b.code]
    assert [x.code for x in tx(store.list_bookings, status="confirmed")] == [a.code]
    assert tx(store.list_bookings, service="checkup") == []


def test_nearest_available_orders_by_distance(tx, slots_of):
    slots = slots_of(capacity=1, times=("09:00-12:00",), every=60)
    got = tx(store.nearest_available, "vaccine", slots[1].start + timedelta(minutes=20), limit=2, now=NOW)
    assert [s.id for s in got] == [slots[1].id, slots[2].id]
    assert tx(store.nearest_available, "vaccine", slots[1].start, limit=5, site="elsewhere", now=NOW) == []


def test_every_change_is_audited_without_personal_data(tx, slots_of, Session):
    first, second = slots_of(capacity=2)
    held = tx(store.hold, first.id, ttl_seconds=60, channel="phone", call_id="call-1", now=NOW)
    booking = tx(store.confirm, held.id, person(1), channel="phone", now=NOW)
    tx(store.reschedule, booking.code, second.id, channel="phone", now=NOW)
    tx(store.cancel, booking.code, channel="web", now=NOW)
    tx(store.release_hold, tx(store.hold, first.id, ttl_seconds=60, channel="web", now=NOW).id, now=NOW)
    tx(store.hold, first.id, ttl_seconds=1, channel="web", now=NOW)
    tx(store.expire_holds, now=LATER)
    tx(store.close_slot, first.id, actor="staff", now=NOW)
    with Session() as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [r.action for r in rows] == [
        "release_batch", "hold", "book", "reschedule", "cancel", "hold", "hold_released", "hold", "hold_expired",
        "close_slot",
    ]
    text = repr([(r.actor, r.detail) for r in rows])
    assert "1000000001" not in text and booking.code not in text and person(1).key_hash not in text


def test_naive_datetimes_and_bad_arguments_are_rejected(tx, slots_of):
    slot = slots_of()[0]
    with pytest.raises(InvalidInput):
        tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW.replace(tzinfo=None))
    with pytest.raises(InvalidInput):
        tx(store.hold, slot.id, ttl_seconds=0, channel="phone", now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.book, slot.id, person(1), channel="", now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.close_slot, slot.id, actor="x" * 65, now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.hold, slot.id, ttl_seconds=60, channel="phone", call_id="c" * 65, now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.release_batch, spec(), actor="", now=NOW)


def test_counters_match_rows(tx, slots_of, Session):
    from slots.models import Booking

    slot = slots_of(capacity=3)[0]
    tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.book, slot.id, person(1), channel="web", now=NOW)
    view = slot_state(tx, slot.id)
    with Session() as session:
        live = session.scalar(select(func.count()).select_from(Hold).where(Hold.state == "live"))
        booked = session.scalar(select(func.count()).select_from(Booking).where(Booking.status == "confirmed"))
    assert (view.held, view.booked) == (live, booked) == (1, 1)
