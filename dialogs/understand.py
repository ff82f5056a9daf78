"""What an answer means for the question asked: speech or keys -> a value, or None.

Speech is read twice per n-best hypothesis: as the recognizer spelled it, and by its sound (the
kana reading, spelled again with kanji numerals: 十字 -> じゅじ -> 十時). When the step has a closed
set (the times offered, the open dates), a parsed value inside the set wins over one outside it,
and an answer that parses to nothing is matched against the readings of the set by mora
similarity. Whatever is not read straight from the top hypothesis is `certain=False`: the engine
confirms it with the caller before acting on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from dialogs import normalize as nlu
from dialogs.normalize import keys
from dialogs.normalize.kana import spell
from dialogs.normalize.reading import fold, folded_reading, reading, similarity
from dialogs.normalize.text import clean, strip_fillers, strip_trailers, width
from dialogs.readings import date_reading, kanji, time_reading
from dialogs.script import Step

CLOSED_SET_THRESHOLD = 0.75
_DISPUTABLE = ("digits", "birthdate")  # no closed set to check against: hypotheses that disagree are asked
CLOSED_SET_MARGIN = 0.1
_RELATIVE_DAYS = ((1, "あした"), (2, "あさって"), (3, "しあさって"))  # as said: g2p reads 明後日 みょうごにち
_WEEKDAY_NAMES = "月火水木金土日"
_NUMBER_LEAD = re.compile(r"^.*?(?:番号|ばんごう|バンゴウ)[はわ]?[、\s]*")


@dataclass(frozen=True)
class Heard:
    value: object
    certain: bool = True


@dataclass(frozen=True)
class Expected:
    """A step's closed set: each value with the phrases a caller may say for it, and how any value
    of that kind is said (to weigh a clear answer outside the set against the set)."""

    forms: tuple[tuple[Hashable, tuple[str, ...]], ...]
    spoken: Callable[[Any], tuple[str, ...]] = field(default=lambda value: (), compare=False)

    def __contains__(self, value: object) -> bool:
        return any(value == v for v, _ in self.forms)

    def __bool__(self) -> bool:
        return bool(self.forms)


def offered_times(times: Sequence[time]) -> Expected:
    """The times offered for a day, as callers say them: 午前十時, 十時, 十時半."""
    return Expected(tuple((at, _time_forms(at)) for at in sorted(set(times))), _time_forms)


def _time_forms(at: time) -> tuple[str, ...]:
    bare = time_reading(at).removeprefix("午前").removeprefix("午後")
    return tuple(dict.fromkeys((time_reading(at), bare)))


def open_dates(days: Sequence[date], *, today: date) -> Expected:
    """Open dates as callers say them: 十二月三日, 三日, 水曜日, and あした / あさって / しあさって nearby."""
    def said(day: date) -> tuple[str, ...]:
        words = [date_reading(day, weekday=False), f"{kanji(day.day)}日", f"{_WEEKDAY_NAMES[day.weekday()]}曜日"]
        return (*words, *(word for offset, word in _RELATIVE_DAYS if day == today + timedelta(days=offset)))

    return Expected(tuple((day, said(day)) for day in sorted(set(days))), said)


def interpret(step: Step, nbest: Sequence[str], *, today: date, expected: Expected | None = None) -> Heard | None:
    """The value the caller gave for `step`, read from every hypothesis by spelling and by sound.

    Certain only when it comes from the top hypothesis, inside the closed set if there is one, and
    (for numbers and birth dates, which have no set to check against) no other hypothesis reads
    differently. A value below the top one counts only inside the closed set.
    """
    found = [(value, rank) for rank, text in enumerate(nbest)
             for candidate in dict.fromkeys((text, *_by_sound(step, text)))
             if (value := from_speech(step, candidate, today=today)) is not None]
    top = [value for value, rank in found if rank == 0]
    if expected:
        if top_inside := [value for value in top if value in expected]:
            return Heard(top_inside[0])  # by spelling or by sound
        if flipped := [value for value in map(_other_half_of_day, top) if value in expected]:
            return Heard(flipped[0], certain=False)  # 午前 and 午後 sound alike on a phone line
        inside = [value for value, _ in found if value in expected]
        near = closest(expected, nbest, rival=top[0] if top else None)
        if near is not None or inside:
            return Heard(near if near is not None else inside[0], certain=False)
        if top:
            return Heard(top[0])  # a clear answer outside the set: the dialog offers what is open
        return None
    if top:
        disputed = step.ask in _DISPUTABLE and any(value != top[0] for value, _ in found)
        return Heard(top[0], certain=not disputed)
    return Heard(found[0][0], certain=False) if found else None


def _other_half_of_day(value: object) -> object:
    """The same time on the other side of noon (午前4時 <-> 午後4時); any other value as it is."""
    if not isinstance(value, time):
        return value
    return value.replace(hour=(value.hour + 12) % 24)


def closest(expected: Expected, nbest: Sequence[str], *, rival: object | None = None) -> object | None:
    """The member of the closed set whose reading is nearest to what was heard, when clearly so
    (and nearer than `rival`, a value outside the set that the answer also reads as).

    The whole answer, politeness taken off, is compared: a near miss of a value said alone
    (しあげさって for しあさって), never a stretch of a longer sentence that happens to sound alike.
    """
    cores = [core for core in (_core(fold(_sound(text))) for text in nbest) if core]
    # the answer, or one of its phrases joined by の (さっての午前十時: a clipped あさって with a time)
    heard = list(dict.fromkeys([*cores, *(p for core in cores for p in core.split("の") if len(p) >= 2)]))
    if not heard:
        return None

    def score(phrases: Sequence[str]) -> float:
        return max((similarity(folded_reading(p), h, within=False) for p in phrases for h in heard), default=0.0)

    scores = [(score(phrases), value) for value, phrases in expected.forms]
    if rival is not None:
        scores.append((score(expected.spoken(rival)), rival))
    scores.sort(key=lambda s: s[0], reverse=True)
    best, value = scores[0]
    if best < CLOSED_SET_THRESHOLD or value == rival:
        return None
    if len(scores) > 1 and best - scores[1][0] < CLOSED_SET_MARGIN:
        return None
    return value


def time_mentioned(text: str) -> Heard | None:
    """A time said along with a date (「あさっての十時」), by spelling or by sound, or (doubtful) the
    time of day that the words after the date's の sound nearest to (あさっての中時 -> 十時)."""
    if (said := nlu.parse_time(text) or nlu.parse_time(spell(fold(_sound(text))))) is not None:
        return Heard(said)
    after = _core(fold(_sound(text))).rpartition("の")[2]
    near = closest(_TIMES_OF_DAY, (after,)) if after else None
    return Heard(near, certain=False) if near is not None else None


_TIMES_OF_DAY = offered_times([time(hour, minute) for hour in range(7, 21) for minute in (0, 30)])
# Folded politeness around a value: 「…でお願いします」「…がいいです」「…にします」.
_POLITE_ENDINGS = tuple(sorted((fold(e) for e in (
    "でおねがいします", "でおねがいいたします", "おねがいします", "おねがいいたします", "でございます", "がいいです",
    "でいいです", "にしてください", "にします", "でしょうか", "です", "で", "に", "ね", "よ", "じゃあ",
)), key=len, reverse=True))
_LONG_POLITE_ENDINGS = tuple(e for e in _POLITE_ENDINGS if len(e) >= 6)
MISHEARD_ENDING_SIMILARITY = 0.85  # one mora in seven that shares its vowel (め/ね)
_POLITE_STARTS = tuple(fold(s) for s in ("じゃあ", "それでは", "それじゃ", "では"))


def _core(folded: str) -> str:
    folded = _strip_misheard_ending(strip_trailers(folded, _POLITE_ENDINGS))
    for start in _POLITE_STARTS:
        if folded.startswith(start) and len(folded) > len(start):
            return folded[len(start):]
    return folded


def _strip_misheard_ending(folded: str) -> str:
    """Off with a long polite ending heard one mora wrong (でおめがいします for でおねがいします)."""
    for ending in _LONG_POLITE_ENDINGS:
        tail = folded[-len(ending):]
        if len(folded) > len(ending) and similarity(ending, tail, within=False) >= MISHEARD_ENDING_SIMILARITY:
            return folded[: -len(ending)]
    return folded


def _sound(text: str) -> str:
    return reading(strip_fillers(width(text)))


def _by_sound(step: Step, text: str) -> tuple[str, ...]:
    """The hypothesis re-spelled from its reading, in the form the step's parser reads."""
    if step.ask in ("date", "time", "birthdate"):
        return (spell(fold(_sound(text))),)
    if step.ask == "digits":  # the number alone: せっしゅけんばんごう would read as し and ご
        return (reading(_NUMBER_LEAD.sub("", strip_fillers(width(text))), digit_by_digit=True),)
    if step.ask == "yesno":
        return (_sound(text),)
    return ()  # choices are matched by reading already


def from_speech(step: Step, text: str, *, today: date) -> object | None:
    kind = step.ask
    if kind == "digits":
        value = nlu.parse_digits(text, length=step.length)
        return value if value is not None and (step.length is None or len(value) == step.length) else None
    if kind == "date":
        return _not_past(nlu.parse_date(text, today=today), today)
    if kind == "time":
        return nlu.parse_time(text)
    if kind == "birthdate":
        return nlu.parse_birthdate(text, today=today)
    if kind == "yesno":
        return nlu.parse_yesno(text)
    if kind == "choice":
        match = nlu.match_choice(text, {o.key: o.words for o in step.options})
        return match.key if match else said_key(step, text)
    return text.strip() or None


def said_key(step: Step, text: str) -> str | None:
    """A menu answered with the key's number said aloud: 「1番」, 「いち」, 「2です」."""
    short = clean(text).removesuffix("番")
    said = nlu.parse_digits(short) if len(short) <= 4 else None
    if said is None or len(said) != 1:
        return None
    return next((o.key for o in step.options if o.dtmf == said), None)


def from_keys(step: Step, pressed: str, *, today: date, yes: str = "1", no: str = "2") -> object | None:
    kind = step.ask
    if kind in ("digits", "text"):
        ok = pressed.isdigit() and (step.length is None or len(pressed) == step.length)
        return pressed if ok else None
    if kind == "date":
        return _not_past(keys.key_date(pressed, today=today), today)
    if kind == "time":
        return keys.key_time(pressed)
    if kind == "birthdate":
        return keys.key_birthdate(pressed, today=today)
    if kind == "yesno":
        return keys.key_yesno(pressed, yes=yes, no=no)
    if kind == "choice":
        return next((o.key for o in step.options if o.dtmf == pressed), None)
    return None


def _not_past(value: date | None, today: date) -> date | None:
    return value if value is not None and value >= today else None
