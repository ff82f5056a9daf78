"""Placeholder values as the caller hears them: dates, times, codes, open times, alternatives."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING

from dialogs.readings import birthdate_reading, date_reading, digits_reading, kanji, time_reading

if TYPE_CHECKING:
    from dialogs.script import Script


def render(text: str, values: dict, script: Script) -> str:
    return text.format_map(_Readings(values, script))


class _Readings(dict):
    """Computes each placeholder on lookup (`str.format_map` calls `__missing__`)."""

    def __init__(self, values: dict, script: Script):
        super().__init__()
        self.values, self.script = values, script

    def __missing__(self, name: str) -> str:
        v, script = self.values, self.script
        if name == "title":
            return script.title
        if name in ("operator_key", "yes_key", "no_key"):
            return kanji(int(getattr(script, name)))
        if name == "day":  # the wanted date without its weekday, for shorter prompts
            return date_reading(v["date"], weekday=False) if isinstance(v.get("date"), date) else ""
        if name == "code":
            return digits_reading(str(v.get("code", "")))
        if name.endswith("_tail"):
            return digits_reading(str(v.get(name[: -len("_tail")], ""))[-4:])
        if name in ("open_times", "count", "places"):
            return _open_times(name, v.get("day_slots") or [])  # type: ignore[arg-type]
        if name == "alternatives":
            return _alternatives(v.get("alternatives") or [], v.get("date"))  # type: ignore[arg-type]
        booking: dict = v.get("booking") or {}  # type: ignore[assignment]
        if name == "site":
            return str(v.get("site") or booking.get("site", ""))
        if name == "booking_date":
            return date_reading(date.fromisoformat(booking["date"])) if booking.get("date") else ""
        if name == "booking_time":
            return time_reading(time.fromisoformat(booking["time"])) if booking.get("time") else ""
        value = v.get(name)
        if name == "birthdate" and isinstance(value, date):
            return birthdate_reading(value)
        if isinstance(value, datetime):
            return f"{date_reading(value.date())} {time_reading(value.time())}"
        if isinstance(value, date):
            return date_reading(value)
        if isinstance(value, time):
            return time_reading(value)
        if isinstance(value, int):
            return kanji(value)
        return "" if value is None else str(value)


def _open_times(name: str, slots: list[dict]) -> str:
    times = sorted({s["time"] for s in slots})
    if name == "count":
        return kanji(len(times))
    if name == "places":
        return kanji(min(9999, sum(int(s.get("available", 0)) for s in slots)))
    readings = [time_reading(time.fromisoformat(t)) for t in times]
    if len(readings) <= 3:  # with its particle: 「午前九時、午後二時に」 / 「午前九時から午後四時まで」
        return "、".join(readings) + "に"
    return f"{readings[0]}から{readings[-1]}まで"


def _alternatives(slots: list[dict], wanted_day: object) -> str:
    """Times on the wanted day alone; other days once each: 十二月四日 金曜日の午前九時半、午後二時."""
    groups: dict[str, list[str]] = {}
    for slot in sorted(slots, key=lambda s: (s.get("date") or "", s["time"])):
        groups.setdefault(slot.get("date") or "", []).append(time_reading(time.fromisoformat(slot["time"])))
    parts = []
    for day, times in groups.items():
        same_day = not day or date.fromisoformat(day) == wanted_day
        parts.append("、".join(times) if same_day else f"{date_reading(date.fromisoformat(day))}の{'、'.join(times)}")
    return "、".join(parts)
