"""When a batch opens for booking, in the words residents read: 「12月1日（火）午前9時から 予約できます」.
Pure: datetimes and the municipality's zone in, Japanese out (the resident pages and the API share it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from typing import Protocol

WEEKDAYS = "月火水木金土日"


class Opening(Protocol):
    start: datetime
    opens_at: datetime | None


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def clock_label(moment: datetime, tz: tzinfo) -> str:
    """午前9時, 午後1時30分 (seconds only when there are some: an opening is exact); noon is 午後0時 and
    midnight 午前0時, as official notices write them."""
    local = moment.astimezone(tz)
    half = "午前" if local.hour < 12 else "午後"
    minutes = f"{local.minute}分" if local.minute or local.second else ""
    seconds = f"{local.second}秒" if local.second else ""
    return f"{half}{local.hour % 12}時{minutes}{seconds}"


def opening_notice(opens_at: datetime, tz: tzinfo) -> str:
    return f"{day_label(opens_at.astimezone(tz).date())}{clock_label(opens_at, tz)}から 予約できます"


def openings_by_day(slots: Iterable[Opening], tz: tzinfo, now: datetime) -> dict[date, datetime]:
    """For each day (the slots' local start date) whose slots open after `now`: the first opening."""
    first: dict[date, datetime] = {}
    for slot in slots:
        if slot.opens_at is None or slot.opens_at <= now:
            continue
        day = slot.start.astimezone(tz).date()
        if day not in first or slot.opens_at < first[day]:
            first[day] = slot.opens_at
    return first


def openings(slots: Iterable[Opening], now: datetime) -> list[datetime]:
    """The distinct moments after `now` at which some of the slots open, earliest first."""
    return sorted({slot.opens_at for slot in slots if slot.opens_at is not None and slot.opens_at > now})
