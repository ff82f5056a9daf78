"""Helpers shared by the store tests (imported by name: tests/slots is on sys.path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from slots.batches import BatchSpec
from slots.person import Person

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
KEY = b"test-person-key"


def person(n: int, birthdate: date = date(1950, 1, 1)) -> Person:
    return Person.from_ticket(KEY, f"{1_000_000_000 + n}", birthdate)


def spec(capacity: int = 2, *, days: int = 1, times=("09:00-10:00",), every: int = 30, opens_at=None,
         service: str = "vaccine", site: str = "市役所", first: date = date(2026, 12, 1)) -> BatchSpec:
    return BatchSpec(service, site, first, first + timedelta(days=days - 1), tuple(times), every, capacity, opens_at)
