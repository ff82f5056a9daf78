"""Batch specifications: which slots a release creates. Pure: no database here."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slots.allocation import MAX_HOURS_BEFORE, reserved_places
from slots.errors import InvalidBatch

MAX_DAYS = 366
MAX_SLOTS = 50_000
NAME_MAX = {"service": 64, "site": 128}


def parse_window(text: str) -> tuple[time, time]:
    """`"09:00-12:00"` -> (09:00, 12:00)."""
    start, sep, end = str(text).partition("-")
    try:
        if not sep:
            raise ValueError
        window = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise InvalidBatch(f"times: expected HH:MM-HH:MM, got {text!r}") from None
    if window[0] >= window[1]:
        raise InvalidBatch(f"times: {text!r} ends before it starts")
    return window


@dataclass(frozen=True)
class BatchSpec:
    """Slots for `service` at `site`: every day from `date_from` to `date_to` (inclusive), in each
    window of `times` (local `"HH:MM-HH:MM"` in `timezone`), one slot every `every_minutes` lasting
    that long, `capacity` places each, bookable from `opens_at` (aware) if given.

    `phone_reserved_percent` of each slot's places (rounded half up) are kept for phone callers until
    `phone_reserved_hours` before the slot starts; from then on every channel may take them."""

    service: str
    site: str
    date_from: date
    date_to: date
    times: tuple[str, ...]
    every_minutes: int
    capacity: int
    opens_at: datetime | None = None
    timezone: str = "Asia/Tokyo"
    phone_reserved_percent: int = 0
    phone_reserved_hours: int = 24
    windows: tuple[tuple[time, time], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, limit in NAME_MAX.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise InvalidBatch(f"{name}: a non-empty name of at most {limit} characters")
        if not isinstance(self.date_from, date) or not isinstance(self.date_to, date):
            raise InvalidBatch("date_from and date_to must be dates")
        if self.date_to < self.date_from:
            raise InvalidBatch("date_to is before date_from")
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise InvalidBatch(f"a batch covers at most {MAX_DAYS} days")
        if isinstance(self.times, str) or not self.times:
            raise InvalidBatch("times: give at least one HH:MM-HH:MM window")
        if not isinstance(self.every_minutes, int) or not 1 <= self.every_minutes <= 1440:
            raise InvalidBatch("every_minutes must be between 1 and 1440")
        if not isinstance(self.capacity, int) or not 1 <= self.capacity <= 10_000:
            raise InvalidBatch("capacity must be between 1 and 10000")
        if self.opens_at is not None and (not isinstance(self.opens_at, datetime) or self.opens_at.tzinfo is None):
            raise InvalidBatch("opens_at must be a timezone-aware datetime")
        if not isinstance(self.phone_reserved_percent, int) or not 0 <= self.phone_reserved_percent <= 100:
            raise InvalidBatch("phone_reserved_percent must be between 0 and 100")
        if not isinstance(self.phone_reserved_hours, int) or not 0 <= self.phone_reserved_hours <= MAX_HOURS_BEFORE:
            raise InvalidBatch(f"phone_reserved_hours must be between 0 and {MAX_HOURS_BEFORE}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidBatch(f"unknown timezone {self.timezone!r}") from None
        windows = tuple(sorted(parse_window(t) for t in self.times))
        for (_, end), (start, _) in zip(windows, windows[1:]):
            if start < end:
                raise InvalidBatch("times: windows overlap")
        object.__setattr__(self, "times", tuple(str(t) for t in self.times))
        object.__setattr__(self, "windows", windows)
        if len(preview_batch(self)) > MAX_SLOTS:
            raise InvalidBatch(f"a batch creates at most {MAX_SLOTS} slots")

    def canonical(self) -> dict:
        """The spec as JSON-able data, identical for identical batches (a batch without a phone
        reserve keeps the id it had before reserves existed)."""
        data = {
            "service": self.service,
            "site": self.site,
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "times": [f"{a:%H:%M}-{b:%H:%M}" for a, b in self.windows],
            "every_minutes": self.every_minutes,
            "capacity": self.capacity,
            "opens_at": None if self.opens_at is None else self.opens_at.astimezone(UTC).isoformat(),
            "timezone": self.timezone,
        }
        if self.phone_reserved_percent:
            data["phone_reserved_percent"] = self.phone_reserved_percent
            data["phone_reserved_hours"] = self.phone_reserved_hours
        return data

    def phone_reserve(self, start: datetime) -> tuple[int, datetime | None]:
        """(places kept for the phone, until when) for a slot starting at `start`."""
        if not self.phone_reserved_percent:
            return 0, None
        places = reserved_places(self.capacity, self.phone_reserved_percent)
        return places, (start - timedelta(hours=self.phone_reserved_hours) if places else None)

    @property
    def batch_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()
        return digest[:32]


def preview_batch(spec: BatchSpec) -> list[tuple[datetime, datetime]]:
    """Every (start, end) the batch creates, as aware UTC datetimes, in order."""
    zone = ZoneInfo(spec.timezone)
    step = timedelta(minutes=spec.every_minutes)
    spans: list[tuple[datetime, datetime]] = []
    day = spec.date_from
    while day <= spec.date_to:
        for window_start, window_end in spec.windows:
            start = datetime.combine(day, window_start)
            limit = datetime.combine(day, window_end)
            while start + step <= limit:
                local_start = start.replace(tzinfo=zone)
                local_end = (start + step).replace(tzinfo=zone)
                spans.append((local_start.astimezone(UTC), local_end.astimezone(UTC)))
                start += step
                if len(spans) > MAX_SLOTS:
                    return spans
        day += timedelta(days=1)
    return spans
