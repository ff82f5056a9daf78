"""Helpers shared by the store tests (imported by name: tests/slots is on sys.path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from slots.batches import BatchSpec
from slots.person import Person

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
KEY = b"test-person-key"
MAX_OPEN = 40  # connections a crowd holds at once (PostgreSQL here allows 100, shared with other suites)


def person(n: int, birthdate: date = date(1950, 1, 1)) -> Person:
    return Person.from_ticket(KEY, f"{1_000_000_000 + n}", birthdate)


def spec(capacity: int = 2, *, days: int = 1, times=("09:00-10:00",), every: int = 30, opens_at=None,
         service: str = "vaccine", site: str = "市役所", first: date = date(2026, 12, 1)) -> BatchSpec:
    return BatchSpec(service, site, first, first + timedelta(days=days - 1), tuple(times), every, capacity, opens_at)


def crowd(n: int, work) -> list:
    """Run work(i) for i in range(n) on n threads released together (at most MAX_OPEN inside at
    once); return their results or exceptions, in order of i."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(n)
    gate = threading.BoundedSemaphore(MAX_OPEN)

    def one(i):
        barrier.wait()
        with gate:
            try:
                return work(i)
            except Exception as error:  # noqa: BLE001 - returned for the test to inspect
                return error

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def book_from_process(url: str, slot_id: int, first: int, count: int, max_open: int) -> list[str]:
    """In a child process: `count` threads book `slot_id` for persons first.. on their own
    connections (at most `max_open` open at once); returns the reasons of the refusals or "ok"."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from slots import store
    from slots.db import make_engine, make_sessionmaker, run_in_transaction
    from slots.errors import StoreError

    engine = make_engine(url, pool="null")
    Session = make_sessionmaker(engine)
    barrier, gate = threading.Barrier(count), threading.BoundedSemaphore(max_open)

    def one(i: int) -> str:
        barrier.wait()
        with gate:
            try:
                run_in_transaction(Session, store.book, slot_id, person(first + i), channel="web", now=NOW)
                return "ok"
            except StoreError as error:
                return error.reason

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))
    finally:
        engine.dispose()
