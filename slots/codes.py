"""Booking codes: 8 random digits, read aloud one by one; never derived from anything else."""

from __future__ import annotations

import secrets

CODE_LENGTH = 8


def new_code() -> str:
    """A uniformly random code that does not start with 0 (it survives spreadsheets intact)."""
    return str(10 ** (CODE_LENGTH - 1) + secrets.randbelow(9 * 10 ** (CODE_LENGTH - 1)))


def is_code(text: str) -> bool:
    return len(text) == CODE_LENGTH and text.isascii() and text.isdigit()
