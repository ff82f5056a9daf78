"""Birth dates in Western or era years (明治 to 令和, 元年), validated against the era tables."""

from __future__ import annotations

import re
from datetime import date

from dialogs.normalize.eras import BY_NAME, ERA_PATTERN, FIRST_YEAR_WORDS
from dialogs.normalize.text import clean, width

_ERA_RE = re.compile(
    rf"(?P<era>{ERA_PATTERN})(?P<year>\d{{1,2}}|元)年(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})日"
)
_ERA_DOT_RE = re.compile(r"(?P<era>[MTSHR])(?P<year>\d{1,2})[./-](?P<month>\d{1,2})[./-](?P<day>\d{1,2})")
_WESTERN_RE = re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?P<day>\d{1,2})日")
_WESTERN_SEP_RE = re.compile(r"(?<!\d)(?P<year>\d{4})[./-](?P<month>\d{1,2})[./-](?P<day>\d{1,2})(?!\d)")
_COMPACT_RE = re.compile(r"^(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})$")


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_birthdate(text: str, *, today: date) -> date | None:
    dotted = _ERA_DOT_RE.search(width(text).replace(" ", ""))
    for word in FIRST_YEAR_WORDS:
        text = text.replace(word, "元年")
    text = clean(text).replace("生まれ", "").replace("の", "")
    value = None
    if (match := _ERA_RE.search(text)) or (match := dotted):
        era = BY_NAME[match.group("era")]
        year = 1 if match.group("year") == "元" else int(match.group("year"))
        if year < 1:
            return None
        value = _make(era.to_western(year), int(match.group("month")), int(match.group("day")))
        if value is None or not era.contains(value):
            return None  # 平成35年, 昭和64年2月: no such day in that era
    elif (
        (match := _WESTERN_RE.search(text))
        or (match := _WESTERN_SEP_RE.search(text))
        or (match := _COMPACT_RE.search(text))
    ):
        value = _make(int(match.group("year")), int(match.group("month")), int(match.group("day")))
    if value is None or value > today or value.year < 1868:
        return None
    return value
