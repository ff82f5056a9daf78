"""Times of day callers say: 午前/午後/朝/夕方/正午, 半, N分, 24-hour forms."""

from __future__ import annotations

import re
from datetime import time

from dialogs.normalize.text import clean

_AM = ("午前", "朝", "あさ", "ごぜん", "AM", "am")
_PM = ("午後", "夕方", "ゆうがた", "夜", "よる", "ごご", "PM", "pm", "昼過ぎ", "お昼過ぎ")
_NOON = ("正午", "しょうご")
_RUN_ON_RE = re.compile(r"(?<!\d)(?P<h>\d{1,2})(?P<m>[0-5]\d)分")
_COLON_RE = re.compile(r"(?<!\d)(?P<h>\d{1,2}):(?P<m>\d{2})(?!\d)")
# 「10時半」 heard as 10時間 (Whisper base on 8 kHz calls, じはん as じかん): asked for a time, a caller
# names no duration, unless the words after it make one (2時間後, 2時間以内, 2時間待って)
_MISHEARD_HALF_RE = re.compile(
    r"(?P<h>\d{1,2})時(?:間|かん)(?!\d|後|ご|前|まえ|以内|いない|以上|いじょう|待|ま|かか|経|た)")
_HOUR_RE = re.compile(r"(?P<h>\d{1,2})時(?!間)(?:(?P<half>半)|(?P<m>\d{1,2})分|(?P<cho>ちょうど))?")  # 2時間 is a duration


def _apply_period(hour: int, text: str) -> int | None:
    """`text`: what was said before the hour (午後2時; a 午後 after it belongs to another time)."""
    if any(word in text for word in _PM):
        if hour > 12:
            return hour
        return hour + 12 if hour < 12 else 12
    if any(word in text for word in _AM):
        return 0 if hour == 12 else hour
    if 1 <= hour <= 7:  # a bare 2時 means the afternoon: callers mean opening hours
        return hour + 12
    return hour


def parse_time(text: str) -> time | None:
    text = _MISHEARD_HALF_RE.sub(r"\g<h>時半", clean(text))
    if any(word in text for word in _NOON) and "時" not in text:
        return time(12, 0)
    if match := _COLON_RE.search(text):
        hour, minute = int(match.group("h")), int(match.group("m"))
        hour = _apply_period(hour, text[: match.start()]) if hour <= 12 else hour
    elif match := _RUN_ON_RE.search(text):  # 十一時四十五分 written as 1145分
        hour, minute = _apply_period(int(match.group("h")), text[: match.start()]), int(match.group("m"))
    elif match := _HOUR_RE.search(text):
        hour = _apply_period(int(match.group("h")), text[: match.start()])
        minute = 30 if match.group("half") else int(match.group("m") or 0)
    else:
        return None
    if hour is None or not (0 <= hour < 24 and 0 <= minute < 60):
        return None
    return time(hour, minute)
