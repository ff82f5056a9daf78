"""Dates callers say, relative to an injected `today` (weeks start on Monday)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from dialogs.normalize.eras import BY_NAME, ERA_PATTERN, FIRST_YEAR_WORDS
from dialogs.normalize.text import clean, kanji_numerals, split_correction, width

WEEKDAYS = "月火水木金土日"
_DAY_WORDS = {
    "ついたち": 1, "ふつか": 2, "みっか": 3, "よっか": 4, "いつか": 5, "むいか": 6, "なのか": 7,
    "なぬか": 7, "ようか": 8, "ここのか": 9, "とおか": 10, "はつか": 20,
}
_RELATIVE = (  # longest first
    ("明明後日", 3), ("しあさって", 3), ("明後日", 2), ("あさって", 2), ("今日", 0), ("本日", 0),
    ("きょう", 0), ("明日", 1), ("あした", 1), ("あす", 1),
)
_YEAR = rf"(?:(?P<western>\d{{4}})年|(?P<era>{ERA_PATTERN})(?P<era_year>\d{{1,2}}|元)年)"
_FULL_RE = re.compile(rf"(?:{_YEAR})?の?(?P<month>\d{{1,2}})月の?(?P<day>\d{{1,2}})日")
_SLASH_RE = re.compile(r"(?:(?P<western>\d{4})[/-])?(?P<month>\d{1,2})[/-](?P<day>\d{1,2})(?!\d)")
_NEXT_MONTH_RE = re.compile(r"(?P<which>今月|来月|再来月)の?(?P<day>\d{1,2})日")
_DAY_RE = re.compile(r"(?<![\d月])(?P<day>\d{1,2})日(?![後間])")
_AFTER_RE = re.compile(r"(?P<n>\d{1,3})(?P<unit>日|週間|か月|ヶ月|ヵ月)後")
# Whisper writes さんじゅうにち as 3日2日 or 32日 (the じゅう lost, the に of にち taken for a 2)
_THIRTIETH_MISHEARD_RE = re.compile(r"(?<!\d)(?:3日2日|32日)")
_WEEKDAY_RE = re.compile(rf"(?P<week>今週|来週|再来週|次|次の|今度|今度の)?の?(?P<wd>[{WEEKDAYS}])曜")


def _add_months(today: date, months: int, day: int) -> date | None:
    year, month = divmod(today.month - 1 + months, 12)
    try:
        return date(today.year + year, month + 1, day)
    except ValueError:
        return None


def _year_of(match: re.Match[str]) -> int | None:
    if match.groupdict().get("western"):
        return int(match.group("western"))
    if match.groupdict().get("era"):
        era = BY_NAME[match.group("era")]
        year = 1 if match.group("era_year") == "元" else int(match.group("era_year"))
        return era.to_western(year) if year >= 1 else None
    return None


def _month_day(year: int | None, month: int, day: int, today: date) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        candidate = date(today.year, month, day) if _valid(today.year, month, day) else None
        if candidate is not None and candidate >= today:
            return candidate
        for offset in (1, 2, 3, 4):  # 2月29日 may be years away
            if _valid(today.year + offset, month, day):
                return date(today.year + offset, month, day)
    except ValueError:
        return None
    return None


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _bare_day(day: int, today: date) -> date | None:
    """A day of the month alone: the next one not in the past."""
    for months in range(0, 3):
        candidate = _add_months(today.replace(day=1), months, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _weekday(week: str | None, weekday: int, today: date) -> date:
    monday = today - timedelta(days=today.weekday())
    if week in ("今週",):
        return monday + timedelta(days=weekday)
    if week == "来週":
        return monday + timedelta(days=7 + weekday)
    if week == "再来週":
        return monday + timedelta(days=14 + weekday)
    ahead = (weekday - today.weekday()) % 7
    if week in ("次", "次の", "今度", "今度の") and ahead == 0:
        ahead = 7
    return today + timedelta(days=ahead)


def parse_date(text: str, *, today: date) -> date | None:
    for word in FIRST_YEAR_WORDS:
        text = text.replace(word, "元年")
    before, after = split_correction(kanji_numerals(width(text)))
    month = re.search(r"\d{1,2}月", before)
    if month and "月" not in after and re.search(r"\d日", after):
        text = month.group(0) + after  # 12月3日じゃなくて4日: the month still holds
    text = _THIRTIETH_MISHEARD_RE.sub("30日", clean(text))
    for word, number in _DAY_WORDS.items():
        text = text.replace(word, f"{number}日")
    if match := _FULL_RE.search(text):
        year = _year_of(match)
        if (match.group("era") or match.group("western")) and year is None:
            return None
        value = _month_day(year, int(match.group("month")), int(match.group("day")), today)
        if value is not None and match.group("era") and not BY_NAME[match.group("era")].contains(value):
            return None  # 平成40年: that era had ended
        return value
    if match := _SLASH_RE.search(text):
        year = int(match.group("western")) if match.group("western") else None
        return _month_day(year, int(match.group("month")), int(match.group("day")), today)
    if match := _NEXT_MONTH_RE.search(text):
        months = {"今月": 0, "来月": 1, "再来月": 2}[match.group("which")]
        return _add_months(today, months, int(match.group("day")))
    if match := _AFTER_RE.search(text):
        n, unit = int(match.group("n")), match.group("unit")
        if unit == "日":
            return today + timedelta(days=n)
        if unit == "週間":
            return today + timedelta(weeks=n)
        return _add_months(today, n, today.day)
    if "1週間後" in text or "来週の今日" in text:
        return today + timedelta(weeks=1)
    if match := _WEEKDAY_RE.search(text):
        return _weekday(match.group("week"), WEEKDAYS.index(match.group("wd")), today)
    for word, offset in _RELATIVE:
        if word in text:
            return today + timedelta(days=offset)
    if match := _DAY_RE.search(text):
        return _bare_day(int(match.group("day")), today)
    return None
