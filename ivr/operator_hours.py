"""Staffed hours for the operator queue (`MADOGUCHI_OPERATOR_HOURS`, e.g. `Mon-Fri 08:30-17:15`).

Parsed once into `StaffedHours`; `is_staffed(now)` tells whether a hand-over may ring the queue,
and `reading()` is how the hours are read to a caller (平日の午前八時半から午後五時十五分まで).
An empty setting means the queue is staffed whenever an operator is logged in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from ivr.config import ConfigError
from dialogs.readings import time_reading

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES_JA = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
_SPEC_RE = re.compile(r"^(?P<days>[A-Za-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class StaffedHours:
    days: frozenset[int]  # Monday is 0
    start: time
    end: time

    def is_staffed(self, now: datetime) -> bool:
        """`now` in the municipality's time zone."""
        return now.weekday() in self.days and self.start <= now.time() < self.end

    def reading(self) -> str:
        days = sorted(self.days)
        if days == [0, 1, 2, 3, 4]:
            when = "平日の"
        elif len(days) == 7:
            when = "毎日、"
        elif days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            when = f"{_DAY_NAMES_JA[days[0]]}から{_DAY_NAMES_JA[days[-1]]}の"
        else:
            when = "、".join(_DAY_NAMES_JA[d] for d in days) + "の"
        return f"{when}{time_reading(self.start)}から{time_reading(self.end)}まで"


def parse_hours(spec: str) -> StaffedHours | None:
    """`Mon-Fri 08:30-17:15`, `Mon,Wed,Fri 09:00-12:00`; empty: None (no hours set)."""
    spec = spec.strip()
    if not spec:
        return None
    match = _SPEC_RE.match(spec)
    if match is None:
        raise ConfigError(f"MADOGUCHI_OPERATOR_HOURS: expected e.g. 'Mon-Fri 08:30-17:15', got {spec!r}")
    days: set[int] = set()
    for part in match.group("days").split(","):
        first, _, last = part.partition("-")
        try:
            lo, hi = DAYS.index(first.capitalize()), DAYS.index((last or first).capitalize())
        except ValueError:
            raise ConfigError(f"MADOGUCHI_OPERATOR_HOURS: unknown day in {part!r} (use {', '.join(DAYS)})") from None
        days.update(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)])
    try:
        start, end = time.fromisoformat(match.group("start").zfill(5)), time.fromisoformat(match.group("end").zfill(5))
    except ValueError:
        raise ConfigError(f"MADOGUCHI_OPERATOR_HOURS: bad time in {spec!r}") from None
    if end <= start:
        raise ConfigError(f"MADOGUCHI_OPERATOR_HOURS: the hours must end after they start ({spec!r})")
    return StaffedHours(frozenset(days), start, end)
