"""Birth dates in Western or era years (明治 to 令和, 元年), validated against the era tables.

An era word the recognizer misspelled (Whisper base on the phone: 早が, 少が, 動画 for 昭和) is read
from the rest: the era whose years can hold the date, when only one can (昭和40年 is the only
40th year), else the one it sounds like.
"""

from __future__ import annotations

import re
from datetime import date

from dialogs.normalize.eras import BY_NAME, ERA_PATTERN, ERAS, FIRST_YEAR_WORDS, Era
from dialogs.normalize.reading import fold, reading, similarity
from dialogs.normalize.text import clean, width

_ERA_DATE = r"(?P<year>\d{1,2}|元)年(?P<month>\d{1,2})月(?P<day>\d{1,2})日"  # after the era word
_ERA_RE = re.compile(rf"(?P<era>{ERA_PATTERN}){_ERA_DATE}")
_MISHEARD_ERA_RE = re.compile(rf"(?P<word>[^\d\s年月日]{{1,4}}){_ERA_DATE}")
OLDEST_AGE = 110  # an era is inferred only for a caller younger than this (明治40年 is 1907)
ERA_SOUND_SIMILARITY = 0.6  # a misspelled era word sounds like this era (しょうが for しょうわ: 0.83) ...
ERA_SOUND_MARGIN = 0.2  # ... clearly more than like any other era the date fits
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
        year = _era_year(match)
        if year < 1:
            return None
        value = _make(era.to_western(year), int(match.group("month")), int(match.group("day")))
        if value is None or not era.contains(value):
            return None  # 平成35年, 昭和64年2月: no such day in that era
    elif match := _MISHEARD_ERA_RE.search(text):
        value = _in_misheard_era(match, today)
    elif (
        (match := _WESTERN_RE.search(text))
        or (match := _WESTERN_SEP_RE.search(text))
        or (match := _COMPACT_RE.search(text))
    ):
        value = _make(int(match.group("year")), int(match.group("month")), int(match.group("day")))
    if value is None or value > today or value.year < 1868:
        return None
    return value


def _in_misheard_era(match: re.Match[str], today: date) -> date | None:
    """The date of 「<unknown word>40年5月6日」 in the one era it fits for a living person, or the one
    its word sounds like."""
    year, month, day = _era_year(match), int(match.group("month")), int(match.group("day"))
    fits: list[tuple[Era, date]] = []
    for era in ERAS:
        value = _make(era.to_western(year), month, day) if year >= 1 else None
        if value is not None and era.contains(value) and value <= today and today.year - value.year <= OLDEST_AGE:
            fits.append((era, value))
    if len(fits) == 1:
        return fits[0][1]
    heard = fold(reading(match.group("word")))
    ranked = sorted(((similarity(fold(era.reading), heard), value) for era, value in fits), key=lambda r: -r[0])
    if ranked and ranked[0][0] >= ERA_SOUND_SIMILARITY and (len(ranked) == 1 or ranked[0][0] - ranked[1][0] >= ERA_SOUND_MARGIN):
        return ranked[0][1]
    return None


def _era_year(match: re.Match[str]) -> int:
    return 1 if match.group("year") == "元" else int(match.group("year"))
