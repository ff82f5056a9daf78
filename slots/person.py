"""A resident as the store knows them: keyed hashes of the ticket number, never the number."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from datetime import date

from slots.errors import InvalidInput

TICKET_MIN, TICKET_MAX = 4, 20


def normalize_ticket(ticket_number: str) -> str:
    """Full-width digits, spaces and hyphens tolerated; anything else is an error."""
    text = unicodedata.normalize("NFKC", str(ticket_number))
    digits = "".join(ch for ch in text if ch not in " -\u30fc\u2010\u2212")
    if not digits.isdigit() or not TICKET_MIN <= len(digits) <= TICKET_MAX or not digits.isascii():
        raise InvalidInput(f"a ticket number is {TICKET_MIN} to {TICKET_MAX} digits")
    return digits


@dataclass(frozen=True)
class Person:
    """`key_hash` identifies the resident per service; `check_hash` also binds the birth date."""

    key_hash: str
    check_hash: str
    masked: str

    def __repr__(self) -> str:  # keep hashes out of logs and tracebacks
        return f"Person(masked={self.masked!r})"

    @classmethod
    def from_ticket(cls, key: bytes, ticket_number: str, birthdate: date) -> Person:
        if not key:
            raise InvalidInput("the person key is empty")
        if not isinstance(birthdate, date):
            raise InvalidInput("birthdate must be a date")
        ticket = normalize_ticket(ticket_number)
        key_hash = hmac.new(key, b"ticket:" + ticket.encode(), hashlib.sha256).hexdigest()
        check = f"check:{ticket}:{birthdate.isoformat()}".encode()
        check_hash = hmac.new(key, check, hashlib.sha256).hexdigest()
        return cls(key_hash, check_hash, "*" * (len(ticket) - 4) + ticket[-4:])

    def matches(self, key_hash: str, check_hash: str) -> bool:
        return hmac.compare_digest(self.key_hash, key_hash) and hmac.compare_digest(self.check_hash, check_hash)
