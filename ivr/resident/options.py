"""What the resident site is set up with: the service it books, hold time and abuse limits."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config import Settings


@dataclass(frozen=True)
class ResidentOptions:
    service: str = "vaccine"
    service_label: str = "ワクチン接種"
    hold_ttl_seconds: int = 300
    session_minutes: int = 30  # a resident's visit; then they identify again
    requests_per_minute: int = 120  # every page and form, per client address
    actions_per_minute: int = 20  # identify, hold and confirm together, per client address (0: no limit)
    identify_per_window: int = 10  # ticket + birth date tries per client address ...
    identify_window_seconds: int = 600  # ... within this window
    months_ahead: int = 6  # how far the calendar goes

    @classmethod
    def for_settings(cls, settings: Settings, **overrides) -> ResidentOptions:
        """The phone's hold time (the same hold) and MADOGUCHI_WEB_RATE_PER_MINUTE unless a test or
        deployment overrides them."""
        return cls(**{"hold_ttl_seconds": settings.hold_ttl_seconds,
                      "actions_per_minute": settings.web_rate_per_minute, **overrides})
