"""Web sessions: a signed, expiring cookie; CSRF tokens bound to the session; role checks.

A session is a signed JSON payload (itsdangerous) holding who logged in, the role, a random CSRF
token and an expiry time. It is checked on every request against the users file or the
configured role tokens, so removing a user or a token ends their sessions at once. Logins with a
role token keep only a fingerprint of the token in the cookie, never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from itsdangerous import BadSignature, URLSafeSerializer

from ivr.web.users import ROLE_RANK, UserFile

COOKIE = "madoguchi_session"


@dataclass(frozen=True)
class WebSession:
    subject: str  # "u:<username>" or "t:<token fingerprint>"
    role: str
    csrf: str
    expires: datetime

    @property
    def display_name(self) -> str:
        kind, _, name = self.subject.partition(":")
        return name if kind == "u" else f"トークン（{self.role}）"

    def allows(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[role]


class AuthError(Exception):
    """No valid session (401) or the wrong role (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def token_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class SessionCodec:
    """Signs and checks session cookies; `now` is passed in so expiry is testable."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt="madoguchi-web-session")
        self.max_age = max_age_seconds

    def issue(self, subject: str, role: str, *, now: datetime) -> tuple[str, WebSession]:
        session = WebSession(subject, role, secrets.token_urlsafe(24), now + timedelta(seconds=self.max_age))
        payload = {"s": subject, "r": role, "c": session.csrf, "e": int(session.expires.timestamp())}
        return self._serializer.dumps(payload), session

    def read(self, cookie: str | None, *, now: datetime) -> WebSession | None:
        if not cookie:
            return None
        try:
            payload = self._serializer.loads(cookie)
            expires = datetime.fromtimestamp(int(payload["e"]), timezone.utc)
            session = WebSession(str(payload["s"]), str(payload["r"]), str(payload["c"]), expires)
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        return session if expires > now else None


class Authenticator:
    """Logs people in by username/password or by a role token, and re-validates sessions."""

    def __init__(self, users: UserFile, tokens: dict[str, str]) -> None:
        self.users = users
        # token -> role, only the roles that may use the web page
        self._tokens = {token_fingerprint(t): r for t, r in tokens.items() if r in ROLE_RANK}

    def login_password(self, username: str, password: str) -> tuple[str, str] | None:
        user = self.users.authenticate(username, password)
        return (f"u:{user.username}", user.role) if user else None

    def login_token(self, token: str) -> tuple[str, str] | None:
        fingerprint = token_fingerprint(token.strip())
        for known, role in self._tokens.items():
            if hmac.compare_digest(known, fingerprint):
                return f"t:{known}", role
        return None

    def still_valid(self, session: WebSession) -> bool:
        kind, _, name = session.subject.partition(":")
        if kind == "t":
            return self._tokens.get(name) == session.role
        user = self.users.get(name) if kind == "u" else None
        return user is not None and user.role == session.role


def check_csrf(session: WebSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(session.csrf, submitted):
        raise AuthError(403, "フォームの有効期限が切れました。ページを読み込み直してから、もう一度お試しください。")


class LoginThrottle:
    """Refuses logins for a key (an account or a client address) after too many failures within
    a window; `retry_after` says for how long."""

    def __init__(self, max_failures: int = 5, window: timedelta = timedelta(minutes=5)) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, list[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def blocked(self, key: str, *, now: datetime) -> bool:
        return self.retry_after(key, now=now) > 0

    def retry_after(self, key: str, *, now: datetime) -> int:
        """Whole seconds until `key` may try again; 0 when it may now."""
        recent = self._recent(key, now)
        if len(recent) < self.max_failures:
            return 0
        unblocks = recent[len(recent) - self.max_failures] + self.window
        return max(1, math.ceil((unblocks - now).total_seconds()))

    def failed(self, key: str, *, now: datetime) -> None:
        self._failures.setdefault(key, []).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses or names
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
