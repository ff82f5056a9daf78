"""FastAPI dependencies: settings, the store's sessionmaker, the clock, and role checks.

Everything comes from `app.state` (set by the app factory), never from module globals.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.live import LiveCalls
from ivr.metrics import Metrics
from slots.db import run_in_transaction

ANY_ROLE = ("staff", "operator", "channel", "admin")
_bearer = HTTPBearer(auto_error=False, description="a token from MADOGUCHI_API_TOKENS")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def get_live(request: Request) -> LiveCalls:
    return request.app.state.live


def get_now(request: Request) -> datetime:
    """The current time (aware); tests replace the app's clock."""
    return request.app.state.clock()


class Store:
    """The store's sessionmaker bound for a request: `store.run(fn, *args, **kw)` is one transaction."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return run_in_transaction(self.factory, fn, *args, **kw)


def get_store(request: Request) -> Store:
    factory = request.app.state.sessionmaker
    if factory is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is not ready yet")
    return Store(factory)


def role_of(tokens: dict[str, str], token: str) -> str | None:
    """The role of `token`, compared in constant time against every configured token."""
    found = None
    for known, role in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def require(*roles: str) -> Callable[..., str]:
    """A dependency answering 401 without a valid token and 403 for a role not in `roles`.

    `admin` may do everything `staff` may.
    """
    allowed = set(roles) | ({"admin"} if "staff" in roles else set())

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str:
        role = role_of(request.app.state.tokens, credentials.credentials) if credentials else None
        if role is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"the {role} role may not do this")
        return role

    return dependency


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
NowDep = Annotated[datetime, Depends(get_now)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
LiveDep = Annotated[LiveCalls, Depends(get_live)]
AnyRole = Annotated[str, Depends(require(*ANY_ROLE))]
Staff = Annotated[str, Depends(require("staff"))]
StaffOrOperator = Annotated[str, Depends(require("staff", "operator"))]
ChannelOrStaff = Annotated[str, Depends(require("channel", "staff"))]
