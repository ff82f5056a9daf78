"""FastAPI dependencies: settings, the store's transactions, the clock, and role checks.

Everything comes from `app.state` (set by the app factory), never from module globals. They are
`async def` because none of them blocks: FastAPI runs a plain `def` dependency in a worker thread,
and the hand-offs (five per request) cost more than the endpoints' own store work under load.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ivr.config import Credential, Settings
from ivr.http import clock, transactions
from ivr.http.clients import RateLimit, client_of
from ivr.http.transactions import Transactions
from ivr.live import LiveCalls
from ivr.metrics import Metrics

ANY_ROLE = ("staff", "operator", "channel", "admin")
_bearer = HTTPBearer(auto_error=False, description="a token from MADOGUCHI_API_TOKENS")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_live(request: Request) -> LiveCalls:
    return request.app.state.live


def request_key() -> str:
    """A new key for one attempt at a hold or booking: a transaction retried after a COMMIT that
    did succeed (a dropped connection) gets the first result back instead of making a second."""
    return uuid.uuid4().hex


def identify(known: dict[str, Credential], token: str) -> Credential | None:
    """The credential of `token`, compared in constant time against every configured token."""
    found = None
    for candidate, credential in known.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            found = credential
    return found


def role_of(tokens: dict[str, str], token: str) -> str | None:
    """The role of `token`, compared in constant time against every configured token."""
    found = identify({known: Credential(role, role) for known, role in tokens.items()}, token)
    return None if found is None else found.role


def authorize(*roles: str) -> Callable[..., Credential]:
    """A dependency answering 401 without a valid token and 403 for a role not in `roles`; it gives
    the token's credential (role and channel label). `admin` may do everything `staff` may."""
    allowed = set(roles) | ({"admin"} if "staff" in roles else set())

    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Credential:
        found = identify(request.app.state.credentials, credentials.credentials) if credentials else None
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if found.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {found.role} role may not do this")
        return found

    return dependency


def require(*roles: str) -> Callable[..., str]:
    """Like `authorize`, giving the role alone."""
    check = authorize(*roles)

    async def dependency(credential: Credential = Depends(check)) -> str:  # `check` is local: no Annotated
        return credential.role

    return dependency


class RateLimited(Exception):
    """The client address is over its limit; `retry_after` whole seconds until it is not."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ClientLimit:
    limit: RateLimit
    proxies: tuple  # MADOGUCHI_TRUSTED_PROXIES: whose X-Forwarded-For counts


async def hold_rate(request: Request) -> None:
    """MADOGUCHI_WEB_RATE_API_PER_MINUTE holds per client address: beyond, 429 `rate_limited`."""
    client_limit: ClientLimit = request.app.state.hold_rate
    wait = client_limit.limit.take(client_of(request, client_limit.proxies), clock.now(request))
    if wait:
        raise RateLimited(wait)


async def store_of(request: Request) -> Transactions:
    return transactions.of(request)


async def now_of(request: Request) -> datetime:
    return clock.now(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Transactions, Depends(store_of)]
NowDep = Annotated[datetime, Depends(now_of)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
LiveDep = Annotated[LiveCalls, Depends(get_live)]
AnyRole = Annotated[str, Depends(require(*ANY_ROLE))]
AnyCaller = Annotated[Credential, Depends(authorize(*ANY_ROLE))]
Staff = Annotated[str, Depends(require("staff"))]
StaffOrOperator = Annotated[str, Depends(require("staff", "operator"))]
ChannelOrStaff = Annotated[str, Depends(require("channel", "staff"))]
ChannelOrStaffCaller = Annotated[Credential, Depends(authorize("channel", "staff"))]
