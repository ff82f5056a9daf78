"""Per-channel allocation: the phone's reserve of each slot, on SQLite and PostgreSQL, alone and under
concurrent phone and web bookers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from slots import store
from slots.allocation import available_for, reserved_places, unused_reserve
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.errors import InvalidBatch, SlotFull
from slots.models import Booking, Hold, Slot
from slotkit import EVER, NOW, person, spec

RESERVE_ENDS = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 24 h before 2026-12-01 09:00 JST
AFTER = RESERVE_ENDS + timedelta(minutes=1)


@pytest.fixture
def reserved_slot(tx):
    """One slot of 10 places, 30 % (3) kept for the phone until 24 h before it starts."""
    def make(capacity: int = 10, percent: int = 30, hours: int = 24):
        batch = replace(spec(capacity, times=("09:00-09:30",)), phone_reserved_percent=percent,
                        phone_reserved_hours=hours)
        tx(store.release_batch, batch, actor="staff", now=NOW)
        return tx(store.list_slots, batch.service, *EVER, now=NOW)[0]
    return make


def counters(Session, slot_id: int) -> tuple[int, int, int]:
    with Session() as session:
        row = session.get(Slot, slot_id)
        return row.booked, row.held, row.phone_taken


def web_books(tx, slot_id: int, first: int, count: int, now=NOW) -> int:
    made = 0
    for i in range(count):
        try:
            tx(store.book, slot_id, person(first + i), channel="web", now=now)
            made += 1
        except SlotFull:
            pass
    return made


def test_reserved_places_round_half_up():
    assert [reserved_places(c, 30) for c in (1, 2, 4, 10, 100)] == [0, 1, 1, 3, 30]
    assert reserved_places(7, 0) == 0 and reserved_places(7, 100) == 7


def test_a_batch_without_reserve_keeps_its_id_and_bad_reserves_are_refused():
    plain = spec(4)
    assert "phone_reserved_percent" not in plain.canonical()
    assert replace(plain, phone_reserved_percent=30).batch_id != plain.batch_id
    with pytest.raises(InvalidBatch, match="phone_reserved_percent"):
        replace(plain, phone_reserved_percent=101)
    with pytest.raises(InvalidBatch, match="phone_reserved_hours"):
        replace(plain, phone_reserved_percent=30, phone_reserved_hours=-1)


def test_the_release_sets_the_reserve_on_every_slot(reserved_slot):
    slot = reserved_slot()
    assert (slot.phone_reserved, slot.phone_taken) == (3, 0)
    assert slot.phone_reserved_until == slot.start - timedelta(hours=24) == RESERVE_ENDS
    assert available_for(slot, "web", NOW) == 7 and available_for(slot, "phone", NOW) == 10
    assert unused_reserve(slot, AFTER) == 0 and available_for(slot, "web", AFTER) == 10


def test_the_web_leaves_the_phone_reserve_which_the_phone_can_take(tx, Session, reserved_slot):
    slot = reserved_slot()
    assert web_books(tx, slot.id, 0, 12) == 7
    with pytest.raises(SlotFull):
        tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW)
    assert tx(store.find_available, "vaccine", *EVER, now=NOW, channel="web") == []
    assert [s.id for s in tx(store.find_available, "vaccine", *EVER, now=NOW, channel="phone")] == [slot.id]
    for i in range(3):
        held = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
        tx(store.confirm, held.id, person(100 + i), channel="phone", now=NOW)
    assert counters(Session, slot.id) == (10, 0, 3)
    with pytest.raises(SlotFull):
        tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)


def test_the_phone_may_take_every_place_and_its_places_free_the_web_from_the_reserve(tx, Session, reserved_slot):
    slot = reserved_slot()
    phone = [tx(store.book, slot.id, person(i), channel="phone", now=NOW) for i in range(5)]
    assert counters(Session, slot.id) == (5, 0, 5)
    assert web_books(tx, slot.id, 100, 10) == 5  # the phone used more than its reserve
    tx(store.cancel, phone[0].code, channel="phone", now=NOW)
    assert counters(Session, slot.id) == (9, 0, 4)
    assert web_books(tx, slot.id, 200, 1) == 1


def test_after_the_reserve_ends_every_channel_takes_the_rest(tx, Session, reserved_slot):
    slot = reserved_slot()
    assert web_books(tx, slot.id, 0, 12) == 7
    assert web_books(tx, slot.id, 100, 5, now=AFTER) == 3
    assert counters(Session, slot.id) == (10, 0, 0)


def test_phone_holds_count_until_released_or_expired(tx, Session, reserved_slot):
    slot = reserved_slot()
    first = tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    assert counters(Session, slot.id) == (0, 2, 2)
    assert web_books(tx, slot.id, 0, 10) == 7  # 10 - 2 held - 1 reserve unused
    tx(store.release_hold, first.id, now=NOW)
    assert counters(Session, slot.id) == (7, 1, 1)
    later = NOW + timedelta(minutes=5)
    tx(store.expire_holds, now=later)
    assert counters(Session, slot.id) == (7, 0, 0)
    assert web_books(tx, slot.id, 100, 3, now=later) == 0  # the whole reserve is unused again


def test_a_phone_hold_confirmed_late_is_retaken_as_a_phone_place(tx, Session, reserved_slot):
    slot = reserved_slot()
    held = tx(store.hold, slot.id, ttl_seconds=1, channel="phone", now=NOW)
    booking = tx(store.confirm, held.id, person(1), channel="phone", now=NOW + timedelta(seconds=5))
    assert counters(Session, slot.id) == (1, 0, 1)
    with Session() as session:
        assert session.execute(select(Booking.phone_place).where(Booking.code == booking.code)).scalar_one()


def test_reschedule_moves_the_phone_count_with_the_place(tx, Session, tx_slots):
    first, second = tx_slots
    web = tx(store.book, first.id, person(1), channel="web", now=NOW)
    held = tx(store.hold, second.id, ttl_seconds=60, channel="phone", now=NOW)
    tx(store.reschedule, web.code, second.id, channel="phone", hold_id=held.id, now=NOW)
    assert counters(Session, first.id) == (0, 0, 0)
    assert counters(Session, second.id) == (1, 0, 1)
    tx(store.reschedule, web.code, first.id, channel="web", now=NOW)
    assert counters(Session, second.id) == (0, 0, 0)
    assert counters(Session, first.id) == (1, 0, 0)


@pytest.fixture
def tx_slots(tx):
    batch = replace(spec(4, times=("09:00-10:00",)), phone_reserved_percent=50)
    tx(store.release_batch, batch, actor="staff", now=NOW)
    return tx(store.list_slots, batch.service, *EVER, now=NOW)


def test_a_web_reschedule_into_the_reserve_is_refused(tx, tx_slots):
    first, second = tx_slots
    for i in range(2):
        tx(store.book, second.id, person(i), channel="web", now=NOW)
    moving = tx(store.book, first.id, person(9), channel="web", now=NOW)
    with pytest.raises(SlotFull):
        tx(store.reschedule, moving.code, second.id, channel="web", now=NOW)
    assert tx(store.get_booking, moving.code).slot_id == first.id


WEB, PHONE, MAX_OPEN = 120, 30, 30


def test_concurrent_phone_and_web_bookers_keep_the_phone_reserve(db_url, reserved_slot):
    """120 web bookers and 30 phone callers (hold, then confirm) race for 10 places, 3 kept for the
    phone: exactly 10 bookings, the web never more than 7, and the counters match the rows."""
    slot = reserved_slot()
    engine = make_engine(db_url, pool="null")
    racing = make_sessionmaker(engine)
    barrier, gate = threading.Barrier(WEB + PHONE), threading.BoundedSemaphore(MAX_OPEN)

    def one(i: int):
        barrier.wait()
        with gate:
            try:
                if i < WEB:
                    return run_in_transaction(racing, store.book, slot.id, person(i), channel="web", now=NOW)
                held = run_in_transaction(racing, store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
                return run_in_transaction(racing, store.confirm, held.id, person(i), channel="phone", now=NOW)
            except Exception as error:  # noqa: BLE001 - returned for the test to inspect
                return error

    try:
        with ThreadPoolExecutor(max_workers=WEB + PHONE) as pool:
            results = list(pool.map(one, range(WEB + PHONE)))
        made = [r for r in results if not isinstance(r, Exception)]
        assert all(isinstance(r, SlotFull) for r in results if isinstance(r, Exception)), \
            {type(r) for r in results if isinstance(r, Exception)}
        by_channel = {c: sum(b.channel == c for b in made) for c in ("web", "phone")}
        assert len(made) == 10 and by_channel["web"] <= 7 and by_channel["phone"] >= 3, by_channel
        with racing() as session:
            row = session.get(Slot, slot.id)
            phone_places = session.execute(select(func.count()).select_from(Booking).where(
                Booking.slot_id == slot.id, Booking.status == "confirmed", Booking.phone_place)).scalar_one()
            live = session.execute(select(func.count()).select_from(Hold).where(Hold.state == "live")).scalar_one()
        assert (row.booked, row.held, live) == (10, 0, 0)
        assert row.phone_taken == phone_places == by_channel["phone"]
    finally:
        engine.dispose()
