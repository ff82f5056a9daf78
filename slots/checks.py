"""Input checks of the store operations: bounded names and hold lifetimes, refused as `InvalidInput`
before the database would refuse them less clearly."""

from __future__ import annotations

from slots.errors import InvalidInput

MAX_TTL_SECONDS = 3600


def check_ttl(ttl_seconds: int) -> None:
    if not isinstance(ttl_seconds, int) or not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")


def check_name(value: str, what: str = "channel", limit: int = 32) -> str:
    """A channel (32) or actor (64) name: non-empty, bounded; the column would refuse it later."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInput(f"{what} must be a non-empty name of at most {limit} characters")
    return value


def check_request_key(value: str) -> str:
    """A caller's key for one attempt at a hold or booking (at most 64 characters)."""
    return check_name(value, "request key", 64)
