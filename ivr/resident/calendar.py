"""The calendar and time lists a resident chooses from. Pure: slot views in, display rows out."""

from __future__ import annotations

import calendar as cal
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from ivr.opening import day_label
from slots.allocation import available_for
from slots.views import SlotView

CHANNEL = "web"


def time_label(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.hour}時{local.minute:02d}分" if local.minute else f"{local.hour}時"


@dataclass(frozen=True)
class DayCell:
    day: date
    open_places: int
    selectable: bool
    opening: str | None = None  # not bookable yet: when it opens (「12月1日（火）午前9時から 予約できます」)

    @property
    def label(self) -> str:
        return day_label(self.day)


@dataclass(frozen=True)
class Month:
    first: date
    weeks: list[list[DayCell | None]]

    @property
    def title(self) -> str:
        return f"{self.first.year}年{self.first.month}月"


def open_places_by_day(slots: Iterable[SlotView], tz: tzinfo, now: datetime) -> dict[date, int]:
    places: dict[date, int] = defaultdict(int)
    for slot in slots:
        if slot.start > now:
            places[slot.start.astimezone(tz).date()] += available_for(slot, CHANNEL, now)
    return places


def month(first: date, places: dict[date, int], today: date, openings: dict[date, str] | None = None) -> Month:
    """The month's weeks; a day with free places is selectable, a day without any whose slots open
    later carries its opening notice (not yet open is not full)."""
    openings = openings or {}
    weeks = []
    for week in cal.Calendar(firstweekday=6).monthdatescalendar(first.year, first.month):  # weeks start on Sunday
        weeks.append([_cell(day, places.get(day, 0), today, openings.get(day)) if day.month == first.month else None
                      for day in week])
    return Month(first, weeks)


def _cell(day: date, places: int, today: date, opening: str | None) -> DayCell:
    selectable = places > 0 and day >= today
    return DayCell(day, places, selectable, None if selectable or day < today else opening)


@dataclass(frozen=True)
class TimeChoice:
    slot_id: int
    label: str
    site: str
    open_places: int


def times(slots: Iterable[SlotView], tz: tzinfo, now: datetime) -> list[TimeChoice]:
    """The open times of a day for the web, in order (a slot whose only free places are the phone's
    reserve is left out)."""
    return [
        TimeChoice(slot.id, time_label(slot.start, tz), slot.site, places)
        for slot in slots
        if slot.start > now and (places := available_for(slot, CHANNEL, now)) > 0
    ]


def month_start(value: str | None, today: date, months_ahead: int) -> date:
    """`YYYY-MM` within this month .. `months_ahead` later, else this month."""
    this = today.replace(day=1)
    try:
        year, mon = (int(part) for part in (value or "").split("-"))
        first = date(year, mon, 1)
    except ValueError:
        return this
    return first if this <= first <= last_month(today, months_ahead) else this


def last_month(today: date, months_ahead: int) -> date:
    return _add_months(today.replace(day=1), months_ahead)


def clock_label(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{local.hour}時{local.minute:02d}分{local.second:02d}秒"


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_month(first: date) -> date:
    return _add_months(first, 1)


def previous_month(first: date) -> date:
    return _add_months(first, -1)
