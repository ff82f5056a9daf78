"""Aware UTC at the store's edges, naive UTC in the columns."""

from __future__ import annotations

from datetime import UTC, datetime

from slots.errors import InvalidInput


def to_db(value: datetime, name: str = "datetime") -> datetime:
    """An aware datetime as the naive UTC value stored in a column."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be a timezone-aware datetime, got {value!r}")
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01 in Tokyo is before year 1 in UTC
        raise InvalidInput(f"{name} is out of range") from None


def from_db(value: datetime | None) -> datetime | None:
    """A stored naive UTC value as an aware UTC datetime."""
    return None if value is None else value.replace(tzinfo=UTC)
