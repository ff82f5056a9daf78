"""What an answer means for the question asked: speech or keys -> a value, or None."""

from __future__ import annotations

from datetime import date

from dialogs import normalize as nlu
from dialogs.normalize import keys
from dialogs.normalize.text import clean
from dialogs.script import Step


def from_speech(step: Step, text: str, *, today: date) -> object | None:
    kind = step.ask
    if kind == "digits":
        value = nlu.parse_digits(text, length=step.length)
        return value if value is not None and len(value) == step.length else None
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
