"""How values are read back to callers: 十二月三日 水曜日, 午後二時半, codes digit by digit."""

from __future__ import annotations

from datetime import date, time

_DIGITS = "〇一二三四五六七八九"
_WEEKDAYS = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
# Telephone style: long vowels on the short digits so each one is heard clearly.
_SPOKEN_DIGITS = ("ゼロ", "イチ", "ニー", "サン", "ヨン", "ゴー", "ロク", "ナナ", "ハチ", "キュー")


def kanji(number: int) -> str:
    """A whole number in kanji numerals: 12 -> 十二, 2026 -> 二千二十六, 305000 -> 三十万五千, 0 -> 零."""
    if number < 0:
        raise ValueError(f"cannot read a negative number: {number}")
    if number == 0:
        return "零"
    out = []
    for unit, mark in ((10**8, "億"), (10**4, "万")):
        count, number = divmod(number, unit)
        if count:
            out.append(kanji(count) + mark)
    for unit, mark in ((1000, "千"), (100, "百"), (10, "十")):
        digit, number = divmod(number, unit)
        if digit:
            out.append(("" if digit == 1 else _DIGITS[digit]) + mark)
    if number:
        out.append(_DIGITS[number])
    return "".join(out)


def date_reading(day: date, *, weekday: bool = True) -> str:
    text = f"{kanji(day.month)}月{kanji(day.day)}日"
    return f"{text} {_WEEKDAYS[day.weekday()]}" if weekday else text


def time_reading(at: time) -> str:
    if at.hour == 12 and at.minute == 0:
        return "正午"
    period = "午前" if at.hour < 12 else "午後"
    hour = at.hour if at.hour <= 12 else at.hour - 12
    text = f"{period}{kanji(hour)}時"
    if at.minute == 30:
        return text + "半"
    return text + (f"{kanji(at.minute)}分" if at.minute else "")


def digits_reading(digits: str) -> str:
    """One digit at a time, with a pause between: イチ、ニー、サン."""
    return "、".join(_SPOKEN_DIGITS[int(ch)] for ch in digits if ch.isdigit())


def masked(digits: str, visible: int = 4) -> str:
    """`******7890`: the tail only, for operators and logs."""
    return "*" * max(0, len(digits) - visible) + digits[-visible:]


def birthdate_reading(day: date) -> str:
    from dialogs.normalize.eras import era_of

    era = era_of(day)
    year = day.year - era.start.year + 1
    return f"{era.name}{'元' if year == 1 else kanji(year)}年{kanji(day.month)}月{kanji(day.day)}日"
