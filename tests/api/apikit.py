"""Helpers shared by the API tests (imported by name: tests/api is on sys.path)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr.config import Settings

# Tokens are at least 24 characters (MADOGUCHI_API_TOKENS refuses shorter ones). `chat` is a second
# channel token whose label is fixed in the configuration (`channel:chat:TOKEN`).
TOKENS = {role: f"{role}-token-0123456789abcdef" for role in ("staff", "operator", "channel", "admin", "chat")}
TOKEN_SPECS = {"staff": "staff", "operator": "operator", "channel": "channel", "admin": "admin", "chat": "channel:chat"}


class Clock:
    """A settable clock for the app (the store takes `now` from it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_settings(db: str, **kw) -> Settings:
    tokens = ",".join(f"{TOKEN_SPECS[name]}:{token}" for name, token in TOKENS.items())
    return Settings(db=db, api_tokens=tokens, person_key="api-test-person-key", timezone="Asia/Tokyo", **kw)


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


BATCH = {
    "service": "vaccine", "site": "市役所", "date_from": "2026-12-01", "date_to": "2026-12-02",
    "times": ["09:00-10:00", "13:00-14:00"], "every_minutes": 30, "capacity": 2,
}
