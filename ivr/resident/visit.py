"""A resident's visit: a signed, expiring cookie holding the CSRF token, the verified person (keyed
hashes only, never the ticket number or birth date), the place held for them and, while they
change a booking, its code."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from itsdangerous import BadSignature, URLSafeSerializer

from slots.person import Person

COOKIE = "madoguchi_yoyaku"


@dataclass(frozen=True)
class Visit:
    csrf: str
    expires: datetime
    person: Person | None = None
    hold_id: int | None = None
    slot_id: int | None = None
    hold_expires: datetime | None = None
    changing: str | None = None  # the booking code being moved to another time

    def with_hold(self, hold_id: int, slot_id: int, expires: datetime) -> Visit:
        return replace(self, hold_id=hold_id, slot_id=slot_id, hold_expires=expires)

    def without_hold(self) -> Visit:
        return replace(self, hold_id=None, slot_id=None, hold_expires=None)

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf, submitted)


class VisitCodec:
    def __init__(self, secret: str, minutes: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt="madoguchi-resident-visit")
        self.minutes = minutes

    def new(self, now: datetime) -> Visit:
        return Visit(secrets.token_urlsafe(24), now + timedelta(minutes=self.minutes))

    def dump(self, visit: Visit) -> str:
        payload: dict = {"c": visit.csrf, "e": int(visit.expires.timestamp())}
        if visit.person is not None:
            payload["p"] = [visit.person.key_hash, visit.person.check_hash, visit.person.masked]
        if visit.hold_id is not None:
            payload["h"] = [visit.hold_id, visit.slot_id, visit.hold_expires.timestamp()]
        if visit.changing is not None:
            payload["g"] = visit.changing
        return self._serializer.dumps(payload)

    def load(self, cookie: str | None, now: datetime) -> Visit | None:
        if not cookie:
            return None
        try:
            payload = self._serializer.loads(cookie)
            visit = Visit(str(payload["c"]), _instant(payload["e"]))
            if "p" in payload:
                visit = replace(visit, person=Person(*(str(part) for part in payload["p"])))
            if "h" in payload:
                hold_id, slot_id, expires = payload["h"]
                visit = visit.with_hold(int(hold_id), int(slot_id), _instant(expires))
            if "g" in payload:
                visit = replace(visit, changing=str(payload["g"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return visit if visit.expires > now else None


def _instant(stamp) -> datetime:
    return datetime.fromtimestamp(float(stamp), timezone.utc)
