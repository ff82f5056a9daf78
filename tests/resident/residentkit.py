"""Helpers shared by the resident site's tests (imported by name: tests/resident is on sys.path)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from slots import store
from slots.batches import BatchSpec
from slots.db import run_in_transaction
from slots.person import Person

TICKET, BIRTH = "0123456789", date(1950, 4, 1)
SHORT_HOLD_SECONDS = 8  # long enough for a loaded machine to show the page before it ends
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def release(sessionmaker, day: date, *, capacity: int = 4, times=("09:00-10:00",), percent: int = 0,
            service: str = "vaccine", site: str = "市役所", now: datetime | None = None,
            opens_at: datetime | None = None):
    """Release one day's slots (30 minutes each; bookable from `opens_at` if given) and return them in order."""
    spec = BatchSpec(service, site, day, day, tuple(times), 30, capacity, opens_at, phone_reserved_percent=percent)
    now = now or datetime.now(UTC)
    run_in_transaction(sessionmaker, store.release_batch, spec, actor="test", now=now)
    first = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=9)
    return run_in_transaction(sessionmaker, store.list_slots, service, first, first + timedelta(days=1), now=now)


def person(key: bytes, ticket: str = TICKET, birth: date = BIRTH) -> Person:
    return Person.from_ticket(key, ticket, birth)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def identity_form(csrf: str, ticket: str = TICKET, birth: date = BIRTH) -> dict:
    return {"csrf": csrf, "ticket": ticket, "year": str(birth.year), "month": str(birth.month), "day": str(birth.day)}


def day_ahead(offset: int) -> date:
    """A day `offset` days after today in Tokyo."""
    return (datetime.now(UTC) + timedelta(hours=9)).date() + timedelta(days=offset)


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def axe_violations(page) -> list[dict]:
    """axe-core's serious and critical violations on the page (WCAG 2.1 A/AA and best practices)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]
