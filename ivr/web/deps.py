"""Dependencies of the web pages: the web context, the session, role checks, templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from ivr.config import Settings
from ivr.web.auth import COOKIE, Authenticator, AuthError, LoginThrottle, SessionCodec, WebSession, check_csrf
from ivr.web.handovers import Handovers

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

NAV = (
    ("live", "/live", "通話中", "operator"),
    ("queue", "/queue", "オペレーター待ち", "operator"),
    ("callbacks", "/callbacks", "折り返し依頼", "operator"),
    ("today", "/today", "本日の実績", "staff"),
    ("slots", "/slots", "予約枠", "staff"),
    ("bookings", "/bookings", "予約検索", "operator"),
    ("admin", "/admin", "管理", "admin"),
)


@dataclass
class WebContext:
    """What the pages need, built once by `ivr.web.install`; the app's state supplies the rest."""

    settings: Settings
    codec: SessionCodec
    auth: Authenticator
    handovers: Handovers = field(default_factory=Handovers)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    proxies: tuple[IPv4Network | IPv6Network, ...] = ()  # MADOGUCHI_TRUSTED_PROXIES: whose X-Forwarded-For counts
    stream_seconds: float = 5.0  # how long one live-calls stream lasts before the browser reconnects
    secure_cookies: bool = False


def web(request: Request) -> WebContext:
    return request.app.state.web


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def current_session(request: Request, ctx: WebContext = Depends(web)) -> WebSession:
    session = ctx.codec.read(request.cookies.get(COOKIE), now=now_utc())
    if session is None or not ctx.auth.still_valid(session):
        raise AuthError(401, "ログインしてください。")
    request.state.web_session = session
    return session


def require(role: str):
    def dependency(session: WebSession = Depends(current_session)) -> WebSession:
        if not session.allows(role):
            raise AuthError(403, "この画面を使う権限がありません。")
        return session

    return dependency


async def csrf_form(request: Request, session: WebSession = Depends(current_session)) -> dict[str, str]:
    """The submitted form, after checking its CSRF token against the session."""
    form = await request.form()
    check_csrf(session, form.get("csrf"))  # type: ignore[arg-type]
    return {k: v for k, v in form.items() if isinstance(v, str)}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200):
    session: WebSession | None = getattr(request.state, "web_session", None)
    ctx: WebContext = request.app.state.web
    base = {
        "session": session,
        "nav": [n for n in NAV if session and session.allows(n[3])],
        "tz": ctx.settings.tz,
    }
    return TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def state(request: Request, name: str) -> Any:
    """An object the API's app factory put on `app.state` (sessionmaker, bus, live, ami)."""
    return getattr(request.app.state, name, None)
