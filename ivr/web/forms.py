"""Form parsing with clear Japanese messages; pure functions, no I/O.

Each parser takes the raw form fields (strings) and returns a frozen dataclass, or raises
`FormError` with one message per bad field so the page can show them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

MAX_BATCH_DAYS = 366
MAX_PHONE_HOURS = 24 * 60
TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-〜~–]\s*(\d{1,2}):(\d{2})\s*$")
CODE_RE = re.compile(r"^\d{8}$")


class FormError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class BatchForm:
    service: str
    site: str
    date_from: date
    date_to: date
    times: tuple[str, ...]  # "09:00-12:00"
    every_minutes: int
    capacity: int
    opens_at: datetime | None
    phone_reserved_percent: int = 0
    phone_reserved_hours: int = 24


def _text(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _int(value: str, low: int, high: int) -> int | None:
    if not value.isdigit():
        return None
    number = int(value)
    return number if low <= number <= high else None


def parse_times(value: str) -> tuple[str, ...] | None:
    """"09:00-12:00, 13:00-17:00" (commas, spaces or new lines between) -> normalized ranges."""
    ranges = []
    value = re.sub(r"\s*[-〜~–]\s*", "-", value.strip())
    for part in filter(None, re.split(r"[,、\s]+", value)):
        match = TIME_RANGE.match(part)
        if not match:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
            return None
        ranges.append(f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}")
    return tuple(ranges) or None


def parse_batch(form: Mapping[str, str], tz: tzinfo, *, today: date) -> BatchForm:
    errors: dict[str, str] = {}
    service, site = _text(form, "service"), _text(form, "site")
    if not service or len(service) > 64:
        errors["service"] = "サービス名を入力してください（64文字以内）。"
    if not site or len(site) > 64:
        errors["site"] = "会場名を入力してください（64文字以内）。"
    date_from, date_to = _date(_text(form, "date_from")), _date(_text(form, "date_to"))
    if date_from is None:
        errors["date_from"] = "開始日を正しい日付で入力してください（例: 2026-12-01）。"
    elif date_from < today:
        errors["date_from"] = "開始日に過去の日付は指定できません。"
    if date_to is None:
        errors["date_to"] = "終了日を正しい日付で入力してください（例: 2026-12-07）。"
    elif date_from is not None and date_to < date_from:
        errors["date_to"] = "終了日は開始日と同じか、それより後にしてください。"
    elif date_from is not None and (date_to - date_from).days >= MAX_BATCH_DAYS:
        errors["date_to"] = "一度に作成できるのは1年分までです。"
    times = parse_times(_text(form, "times"))
    if times is None:
        errors["times"] = "受付時間を「09:00-12:00, 13:00-17:00」の形で入力してください。"
    every = _int(_text(form, "every_minutes"), 5, 240)
    if every is None:
        errors["every_minutes"] = "枠の間隔は5〜240分の整数で入力してください。"
    capacity = _int(_text(form, "capacity"), 1, 1000)
    if capacity is None:
        errors["capacity"] = "定員は1〜1000の整数で入力してください。"
    phone_percent = _int(_text(form, "phone_reserved_percent") or "0", 0, 100)
    if phone_percent is None:
        errors["phone_reserved_percent"] = "電話用に確保する割合は0〜100の整数（%）で入力してください。"
    phone_hours = _int(_text(form, "phone_reserved_hours") or "24", 0, MAX_PHONE_HOURS)
    if phone_hours is None:
        errors["phone_reserved_hours"] = f"電話用の確保を解除する時刻は、枠の開始の0〜{MAX_PHONE_HOURS}時間前で入力してください。"
    opens_at = None
    if raw := _text(form, "opens_at"):
        try:
            opens_at = datetime.fromisoformat(raw)
            opens_at = opens_at.replace(tzinfo=tz) if opens_at.tzinfo is None else opens_at
        except ValueError:
            errors["opens_at"] = "受付開始日時を正しく入力してください（例: 2026-11-25T09:00）。"
    if errors:
        raise FormError(errors)
    return BatchForm(service, site, date_from, date_to, times, every, capacity, opens_at, phone_percent, phone_hours)


def parse_code(value: str | None) -> str:
    code = re.sub(r"[\s-]", "", (value or "")).translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not CODE_RE.match(code):
        raise FormError({"code": "予約番号は8桁の数字で入力してください。"})
    return code


def parse_day(value: str | None, field: str = "date") -> date:
    day = _date((value or "").strip())
    if day is None:
        raise FormError({field: "日付を正しく入力してください（例: 2026-12-01）。"})
    return day


def day_bounds(day: date, tz: tzinfo, days: int = 1) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tz)
    return start, start + timedelta(days=days)
