"""Japanese normalizers: turn what a caller said (as a recognizer writes it) into values.

Every parser returns `None` when nothing recognisable was said; none of them guesses.
"""

from __future__ import annotations

from datetime import date

from dialogs.normalize.birthdate import parse_birthdate
from dialogs.normalize.choice import ChoiceMatch, match_choice
from dialogs.normalize.date import parse_date
from dialogs.normalize.digits import parse_digits
from dialogs.normalize.intents import parse_intent
from dialogs.normalize.time import parse_time
from dialogs.normalize.yesno import parse_yesno

KINDS = ("date", "time", "digits", "yesno", "birthdate")

__all__ = [
    "KINDS",
    "ChoiceMatch",
    "match_choice",
    "parse",
    "parse_birthdate",
    "parse_date",
    "parse_digits",
    "parse_intent",
    "parse_time",
    "parse_yesno",
]


def parse(kind: str, text: str, *, today: date):
    """Dispatch on the input kind; `today` anchors relative dates and validates birth dates."""
    if kind == "date":
        return parse_date(text, today=today)
    if kind == "time":
        return parse_time(text)
    if kind == "digits":
        return parse_digits(text)
    if kind == "yesno":
        return parse_yesno(text)
    if kind == "birthdate":
        return parse_birthdate(text, today=today)
    raise ValueError(f"unknown input kind {kind!r} (one of {', '.join(KINDS)})")
