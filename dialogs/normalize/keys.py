"""Keypad (DTMF) answers for every input kind; `#` ends a string, `*` is handled by the engine."""

from __future__ import annotations

from datetime import date, time

from dialogs.normalize.date import _bare_day, _month_day


def key_date(digits: str, *, today: date) -> date | None:
    """`DD` (next such day), `MMDD` (next occurrence) or `YYYYMMDD`."""
    if not digits.isdigit():
        return None
    if len(digits) in (1, 2):
        return _bare_day(int(digits), today) if 1 <= int(digits) <= 31 else None
    if len(digits) == 4:
        return _month_day(None, int(digits[:2]), int(digits[2:]), today)
    if len(digits) == 8:
        return _month_day(int(digits[:4]), int(digits[4:6]), int(digits[6:]), today)
    return None


def key_time(digits: str) -> time | None:
    """`HHMM` or `HMM` (24-hour), or an hour alone (1 to 7 meaning the afternoon)."""
    if not digits.isdigit() or len(digits) > 4:
        return None
    if len(digits) <= 2:
        hour, minute = int(digits), 0
        hour = hour + 12 if 1 <= hour <= 7 else hour
    else:
        hour, minute = int(digits[:-2]), int(digits[-2:])
    if not (0 <= hour < 24 and 0 <= minute < 60):
        return None
    return time(hour, minute)


def key_birthdate(digits: str, *, today: date) -> date | None:
    """`YYYYMMDD`, Western year."""
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        value = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return value if date(1868, 1, 1) <= value <= today else None


def key_yesno(digits: str, *, yes: str = "1", no: str = "2") -> bool | None:
    return True if digits == yes else False if digits == no else None
