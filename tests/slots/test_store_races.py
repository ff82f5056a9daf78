"""Concurrency: many bookers, each with its own connection, on SQLite and PostgreSQL.

PostgreSQL here allows 100 connections and other suites share the server, so the bookers use an
engine without a pool (each transaction opens and closes its own connection) and a semaphore lets
at most `MAX_OPEN` of them hold a connection at once: all 200 threads start together behind a
barrier and then race in overlapping waves, which keeps the contention on the slot row real while
staying far under the server's limit.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.errors import AlreadyBooked, HoldExpired, SlotFull
from slots.models import AuditEntry, Booking, Hold, Slot
from slotkit import MAX_OPEN, NOW, book_from_process, crowd, person, spec

BOOKERS = 200
STEPS = 70  # per worker; enough that every operation races many times (checked below)


@pytest.fixture
def racing(db_url):
    """A sessionmaker whose every transaction has its own connection."""
    engine = make_engine(db_url, pool="null")
    yield make_sessionmaker(engine)
    engine.dispose()


def test_200_bookers_on_a_capacity_5_slot_make_exactly_5_bookings(racing, slots_of):
    slot = slots_of(capacity=5)[0]
    results = crowd(BOOKERS, lambda i: run_in_transaction(
        racing, store.book, slot.id, person(i), channel="web", now=NOW))
    booked = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(booked) == 5 and len({b.code for b in booked}) == 5
    assert all(isinstance(r, SlotFull) for r in refused), {type(r) for r in refused}
    with racing() as session:
        row = session.get(Slot, slot.id)
        codes = session.execute(select(Booking.code).where(Booking.slot_id == slot.id)).scalars().all()
    assert (row.booked, row.held) == (5, 0)
    assert sorted(codes) == sorted(b.code for b in booked)


def test_200_callers_holding_then_confirming_make_exactly_5_bookings(racing, slots_of):
    slot = slots_of(capacity=5)[0]

    def call(i):
        held = run_in_transaction(racing, store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
        return run_in_transaction(racing, store.confirm, held.id, person(i), channel="phone", now=NOW)

    results = crowd(BOOKERS, call)
    booked = [r for r in results if not isinstance(r, Exception)]
    assert len(booked) == 5
    assert all(isinstance(r, SlotFull) for r in results if isinstance(r, Exception))
    with racing() as session:
        row = session.get(Slot, slot.id)
    assert (row.booked, row.held) == (5, 0)


def test_the_same_person_calling_at_once_gets_one_booking(racing, slots_of):
    slots = slots_of(capacity=10, times=("09:00-12:00",))
    results = crowd(24, lambda i: run_in_transaction(
        racing, store.book, slots[i % len(slots)].id, person(1), channel="phone", now=NOW))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, AlreadyBooked) for r in results if isinstance(r, Exception))
    with racing() as session:
        assert sum(s.booked for s in session.execute(select(Slot)).scalars()) == 1


def test_200_bookers_in_4_processes_make_exactly_5_bookings(db_url, slots_of):
    """The same race across processes (no shared interpreter): 4 processes x 50 threads, 10
    connections open at once per process."""
    slot = slots_of(capacity=5)[0]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        futures = [pool.submit(book_from_process, db_url, slot.id, 1000 * p, BOOKERS // 4, MAX_OPEN // 4)
                   for p in range(4)]
        outcomes = Counter(reason for future in futures for reason in future.result(timeout=120))
    assert outcomes == {"ok": 5, "slot_full": BOOKERS - 5}
    engine = make_engine(db_url, pool="null")
    with make_sessionmaker(engine)() as session:
        row = session.get(Slot, slot.id)
        assert (row.booked, row.held) == (5, 0)
        assert len(session.execute(select(Booking.id).where(Booking.slot_id == slot.id)).all()) == 5
    engine.dispose()


class Worker:
    """One channel doing random operations; remembers what it believes it owns."""

    def __init__(self, n: int, Session, slot_ids, clock, seed: int) -> None:
        self.n, self.Session, self.slot_ids, self.clock = n, Session, slot_ids, clock
        self.rng = random.Random(seed)
        self.holds: list[int] = []
        self.bookings: dict[str, int] = {}  # code -> slot id, while confirmed
        self.cancelled: set[str] = set()
        self.people = 0
        self.unexpected: list[Exception] = []
        self.done: Counter[str] = Counter()

    def tx(self, fn, *args, **kw):
        return run_in_transaction(self.Session, fn, *args, now=self.clock(), **kw)

    def step(self) -> None:
        rng = self.rng
        op = rng.choice(["hold", "hold", "confirm", "confirm", "book", "release", "cancel", "cancel",
                         "reschedule", "reschedule", "expire", "list"])
        try:
            if getattr(self, op)(rng) is not False:
                self.done[op] += 1
        except (SlotFull, HoldExpired, AlreadyBooked):
            pass
        except Exception as error:  # noqa: BLE001
            self.unexpected.append(error)

    def new_person(self):
        self.people += 1
        return person(self.n * 10_000 + self.people)

    def hold(self, rng):
        held = self.tx(store.hold, rng.choice(self.slot_ids), ttl_seconds=rng.randint(2, 30), channel=f"w{self.n}")
        self.holds.append(held.id)

    def confirm(self, rng):
        if not self.holds:
            return False
        hold_id = self.holds.pop(rng.randrange(len(self.holds)))
        booking = self.tx(store.confirm, hold_id, self.new_person(), channel=f"w{self.n}")
        self.bookings[booking.code] = booking.slot_id

    def book(self, rng):
        booking = self.tx(store.book, rng.choice(self.slot_ids), self.new_person(), channel=f"w{self.n}")
        self.bookings[booking.code] = booking.slot_id

    def release(self, rng):
        if not self.holds:
            return False
        self.tx(store.release_hold, self.holds.pop(rng.randrange(len(self.holds))))

    def cancel(self, rng):
        if not self.bookings:
            return False
        code = rng.choice(sorted(self.bookings))
        assert self.tx(store.cancel, code, channel=f"w{self.n}").status == "cancelled"
        del self.bookings[code]
        self.cancelled.add(code)

    def expire(self, rng):
        self.tx(store.expire_holds)

    def list(self, rng):
        views = self.tx(store.find_available, "vaccine", NOW - timedelta(days=1), NOW + timedelta(days=30))
        assert all(v.booked + v.held <= v.capacity and v.available > 0 for v in views)

    def reschedule(self, rng):
        if not self.bookings:
            return False
        code = rng.choice(sorted(self.bookings))
        hold_id, target = None, rng.choice(self.slot_ids)
        if self.holds and rng.random() < 0.5:
            hold_id = self.holds.pop()
            with self.Session() as session:
                target = session.get(Hold, hold_id).slot_id
        moved = self.tx(store.reschedule, code, target, channel=f"w{self.n}", hold_id=hold_id)
        self.bookings[code] = moved.slot_id


def test_random_mix_never_overbooks_nor_loses_a_booking(racing, slots_of):
    slots = slots_of(capacity=3, times=("09:00-12:00",))
    slot_ids = [s.id for s in slots]
    ticks = iter(range(10**9))
    lock = threading.Lock()

    def clock():
        with lock:
            return NOW + timedelta(seconds=next(ticks) // 3)

    workers = [Worker(n, racing, slot_ids, clock, seed=1000 + n) for n in range(8)]
    stop = threading.Event()
    seen_over: list[tuple] = []

    reader = make_sessionmaker(racing.kw["bind"], read_only=True)  # a concurrent reader, not a writer
    looks: list[int] = []

    def watch():
        while not stop.wait(0.005):
            with reader() as session:
                looks.append(1)
                for s in session.execute(select(Slot)).scalars():
                    if s.booked + s.held > s.capacity:
                        seen_over.append((s.id, s.booked, s.held))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        crowd(len(workers), lambda i: [workers[i].step() for _ in range(STEPS)])
    finally:
        stop.set()
        watcher.join()
    assert [e for w in workers for e in w.unexpected] == []
    assert seen_over == [] and looks

    end = NOW + timedelta(days=1)
    run_in_transaction(racing, store.expire_holds, now=end)
    with racing() as session:
        rows = {s.id: s for s in session.execute(select(Slot)).scalars()}
        bookings = {b.code: b for b in session.execute(select(Booking)).scalars()}
        live = session.execute(select(Hold).where(Hold.state == "live")).scalars().all()
        audit = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    believed = {code: slot for w in workers for code, slot in w.bookings.items()}
    cancelled = set().union(*(w.cancelled for w in workers))
    confirmed = {code: b.slot_id for code, b in bookings.items() if b.status == "confirmed"}
    assert confirmed == believed, "a booking was lost, moved or invented"
    assert all(bookings[code].status == "cancelled" for code in cancelled)
    assert live == []
    per_slot = Counter(confirmed.values())
    assert all(rows[i].booked == per_slot[i] and rows[i].held == 0 for i in slot_ids)
    assert all(rows[i].booked <= rows[i].capacity for i in slot_ids)
    # The audit log alone replays to the same counts.
    replayed: dict[int, int] = defaultdict(int)
    for entry in audit:
        if entry.action == "book":
            replayed[entry.slot_id] += 1
        elif entry.action == "cancel":
            replayed[entry.slot_id] -= 1
        elif entry.action == "reschedule":
            replayed[entry.slot_id] += 1
            replayed[entry.detail["from_slot_id"]] -= 1
    assert {i: replayed[i] for i in slot_ids} == {i: per_slot[i] for i in slot_ids}
    done = sum((w.done for w in workers), Counter())
    assert all(done[op] >= 3 for op in ("hold", "confirm", "book", "release", "cancel", "reschedule")), done
    assert len(audit) > 150


def test_the_same_batch_released_at_once_creates_each_slot_once(racing):
    batch = spec(capacity=4, days=3, times=("09:00-12:00", "13:00-17:00"), every=15)
    results = crowd(12, lambda i: run_in_transaction(racing, store.release_batch, batch, actor=f"staff{i}", now=NOW))
    assert not [r for r in results if isinstance(r, Exception)], results
    total = len(store.preview_batch(batch))
    assert sum(r.created for r in results) == total
    assert all(r.created + r.skipped == total and r.batch_id == batch.batch_id for r in results)
    with racing() as session:
        assert len(session.execute(select(Slot.id)).all()) == total
