"""How the line reads dates, times, numbers and codes aloud (text for the synthesizer).

Open JTalk reads Arabic digit runs as one number ("12345678" -> 千二百三十四万…), which is wrong for
booking codes and ticket numbers; these helpers write exactly what residents expect to hear.
"""

from __future__ import annotations

from datetime import date, time

WEEKDAYS = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")
DIGITS = "〇一二三四五六七八九"
# Digit-by-digit readings on the phone: ゼロ for 0, long vowels for 2 and 5 so they are not missed.
DIGIT_KANA = ("ゼロ", "イチ", "ニー", "サン", "ヨン", "ゴー", "ロク", "ナナ", "ハチ", "キュウ")
_UNITS = ((10**8, "億"), (10**4, "万"), (1000, "千"), (100, "百"), (10, "十"))


class ReadingError(ValueError):
    """A value that cannot be read aloud (negative number, non-digit code)."""


def kanji_number(n: int) -> str:
    """12 -> 十二, 2026 -> 二千二十六, 0 -> 〇 (the reading Open JTalk voices naturally)."""
    if n < 0:
        raise ReadingError(f"cannot read a negative number: {n}")
    if n == 0:
        return DIGITS[0]
    out = []
    for unit, name in _UNITS:
        count, n = divmod(n, unit)
        if count:
            if unit >= 10**4:
                out.append(kanji_number(count) + name)
            else:
                out.append(("" if count == 1 else DIGITS[count]) + name)
    if n:
        out.append(DIGITS[n])
    return "".join(out)


def date_reading(day: date, *, weekday: bool = True, year: bool = False) -> str:
    """date(2026, 12, 3) -> 十二月三日 木曜日."""
    text = f"{kanji_number(day.month)}月{kanji_number(day.day)}日"
    if year:
        text = f"{kanji_number(day.year)}年{text}"
    return f"{text} {WEEKDAYS[day.weekday()]}" if weekday else text


def time_reading(moment: time) -> str:
    """14:30 -> 午後二時半, 9:05 -> 午前九時五分, 12:00 -> 正午, 0:15 -> 午前零時十五分."""
    hour, minute = moment.hour, moment.minute
    if (hour, minute) == (12, 0):
        return "正午"
    half = "午前" if hour < 12 else "午後"
    hour12 = hour % 12
    text = f"{half}{kanji_number(hour12) if hour12 else '零'}時"
    if minute == 30:
        return text + "半"
    return text + (f"{kanji_number(minute)}分" if minute else "")


def digits_reading(code: str, *, group: int = 4) -> str:
    """Read a code digit by digit in katakana, with a pause between groups: 1234 5678."""
    digits = "".join(ch for ch in code if not ch.isspace() and ch != "-")
    if not digits.isdigit() or not digits.isascii():
        raise ReadingError("a code must contain only the digits 0-9")
    words = [DIGIT_KANA[int(ch)] for ch in digits]
    groups = [" ".join(words[i : i + group]) for i in range(0, len(words), group)] if group else [" ".join(words)]
    return "、".join(groups)
