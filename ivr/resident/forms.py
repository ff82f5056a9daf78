"""The resident's identification form: ticket number and birth date, with plain Japanese errors.
Pure: no I/O."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from slots.errors import InvalidInput
from slots.person import normalize_ticket

OLDEST_YEAR = 1900


class FormErrors(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors))  # field names only: the values are personal data
        self.errors = errors


@dataclass(frozen=True)
class Identity:
    ticket: str
    birthdate: date

    def __repr__(self) -> str:
        return "Identity(…)"


def _number(form: Mapping[str, str], name: str) -> int | None:
    text = unicodedata.normalize("NFKC", form.get(name) or "").strip()
    return int(text) if text.isdigit() and len(text) <= 4 else None


def parse_identity(form: Mapping[str, str], *, today: date) -> Identity:
    errors: dict[str, str] = {}
    ticket = ""
    try:
        ticket = normalize_ticket(form.get("ticket") or "")
    except InvalidInput:
        errors["ticket"] = "接種券の 番号を 数字で 入れてください。"
    year, month, day = _number(form, "year"), _number(form, "month"), _number(form, "day")
    birthdate = None
    if year is not None and month is not None and day is not None:
        try:
            birthdate = date(year, month, day)
        except ValueError:
            birthdate = None
    if birthdate is None or not OLDEST_YEAR <= birthdate.year or birthdate > today:
        errors["birth"] = "生年月日を 正しく 入れてください。（例: 1950年 4月 1日）"
    if errors:
        raise FormErrors(errors)
    return Identity(ticket, birthdate)
