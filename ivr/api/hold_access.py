"""Holds as API channels see them: opaque ids, owned by the channel that placed them, counted.

A hold's public id is `<number>.<mac>`: the store's row number and an HMAC of it under this
deployment's key, so ids can be neither guessed nor walked. The owner check runs in the same
transaction as the store call it guards, and a hold of another channel is answered like a hold that
does not exist (404). The functions here take a session, like the store's, and never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.config import Settings
from slots import store
from slots.errors import NotFound
from slots.models import Hold
from slots.person import Person
from slots.views import BookingView, HoldView

PUBLIC_ID = re.compile(r"([0-9]{1,18})\.([A-Za-z0-9_-]{22})", re.ASCII)


class HoldIds:
    """Turns store hold numbers into unguessable public ids and back."""

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"madoguchi api hold ids", hashlib.sha256).digest()

    @classmethod
    def for_settings(cls, settings: Settings) -> HoldIds:
        """Keyed by the person key when there is one (ids survive a restart), else per process."""
        secret = settings.person_key.get_secret_value() if settings.person_key is not None else ""
        return cls(secret.encode() if secret else secrets.token_bytes(32))

    def _mac(self, number: int) -> str:
        digest = hmac.new(self._key, str(number).encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def public(self, number: int) -> str:
        return f"{number}.{self._mac(number)}"

    def number(self, public: str) -> int:
        """The store's number of a public id; NotFound for anything this deployment did not issue."""
        match = PUBLIC_ID.fullmatch(public)
        if match is None or not hmac.compare_digest(match[2], self._mac(int(match[1]))):
            raise NotFound("no such hold")
        return int(match[1])


def _check_owner(session: Session, number: int, owner: str) -> None:
    channel = session.execute(select(Hold.channel).where(Hold.id == number)).scalar_one_or_none()
    if channel is None or channel != owner:
        raise NotFound("no such hold")


def place(session: Session, slot_id: int, *, channel: str, limit: int, now: datetime,
          request_key: str | None = None, **kw) -> HoldView:
    """`store.hold`, refused with TooManyHolds when `channel` already holds `limit` places (checked in
    the store's first statement). A retry of an attempt that made its hold (same `request_key`)
    gets that hold back, never a 429."""
    return store.hold(session, slot_id, channel=channel, now=now, request_key=request_key, max_live=limit, **kw)


def release(session: Session, number: int, *, owner: str, now: datetime) -> None:
    _check_owner(session, number, owner)
    store.release_hold(session, number, now=now, actor=owner)


def confirm(session: Session, number: int, person: Person, *, owner: str, now: datetime,
            request_key: str | None = None) -> BookingView:
    return store.confirm(session, number, person, channel=owner, now=now, request_key=request_key,
                         own_hold_only=True)
