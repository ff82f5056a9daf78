"""Masking of personal data shown to staff; imports nothing from the project, so any layer may use it."""

from __future__ import annotations

import re


def mask_phone(number: str | None) -> str:
    """The digits of a phone number, all but the last four hidden: "090-1234-5678" -> "*******5678".

    Nothing else of the caller ID is kept (no separators, no name); "" when it has no digits.
    """
    digits = re.sub(r"\D", "", number or "")
    return "*" * max(len(digits) - 4, 0) + digits[-4:]
