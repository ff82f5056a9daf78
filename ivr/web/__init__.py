"""The operator dashboard and staff console: server-rendered pages under the API's app.

`install(app, settings)` mounts the pages and the static files on the app that the app factory
(`ivr.app`) builds; the pages read the same store (`app.state.sessionmaker`), event bus (`app.state.bus`),
live-call projection (`app.state.live`) and AMI client (`app.state.ami`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivr.config import ConfigError, Settings
from ivr.http import MACHINE_PATHS
from ivr.http.transactions import DatabaseUnavailable
from ivr.web.auth import Authenticator, AuthError, LoginThrottle, SessionCodec
from ivr.web.deps import WebContext, render
from ivr.web.routes import admin, bookings, callbacks, live, queue, session, slots, today
from ivr.web.users import UserFile

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SESSION_MAX_AGE = 10 * 3600  # one shift
DEFAULT_USERS_FILE = Path("var/web-users.json")
ROUTERS = (session.router, live.router, queue.router, callbacks.router, today.router, slots.router, bookings.router,
           admin.router)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def session_secret(settings: Settings) -> str:
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return settings.session_secret.get_secret_value()
    if settings.production:
        raise ConfigError("MADOGUCHI_SESSION_SECRET is required in production mode")
    logger.warning("no MADOGUCHI_SESSION_SECRET: web sessions end when this process stops")
    return secrets.token_hex(32)


def install(
    app: FastAPI,
    settings: Settings,
    *,
    users_file: Path = DEFAULT_USERS_FILE,
    session_max_age: int = SESSION_MAX_AGE,
) -> WebContext:
    """Mount the dashboard on `app`: pages, static files, the web context and error pages."""
    ctx = WebContext(
        settings=settings,
        codec=SessionCodec(session_secret(settings), session_max_age),
        auth=Authenticator(UserFile(users_file), settings.tokens()),
        throttle=LoginThrottle(settings.login_max_failures, timedelta(seconds=settings.login_window_seconds)),
        proxies=settings.proxy_networks(),
        secure_cookies=settings.production,
    )
    app.state.web = ctx
    live = getattr(app.state, "live", None)
    if live is not None:  # keep each transferred caller's handover summary for the queue page
        live.on_change(lambda _call, event: ctx.handovers.apply(event))
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="web-static")
    app.add_exception_handler(AuthError, _auth_error)

    app.add_middleware(SecurityHeaders)
    return ctx


class SecurityHeaders:
    """Pages get SECURITY_HEADERS (and `Cache-Control: no-store` but for static files); machine paths
    (the API, /healthz, /metrics) pass through untouched. Pure ASGI: Starlette's `BaseHTTPMiddleware`
    ran every API request through a task group and a streamed copy of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(MACHINE_PATHS):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _auth_error(request: Request, error: AuthError):
    if error.status == 401:
        return session.login_page(request, request.app.state.web, error=error.message, status_code=401)
    return render(request, "error.html", {"heading": "権限がありません", "message": error.message}, error.status)


async def unavailable_page(request: Request, error: DatabaseUnavailable):
    """The dashboard's answer to `DatabaseUnavailable` (the app factory routes page requests here)."""
    logger.warning("%s %s: database unavailable", request.method, request.url.path)
    message = "データベースに接続できません。しばらくしてから、ページを読み込み直してください。"
    response = render(request, "error.html", {"heading": "一時的に利用できません", "message": message}, 503)
    response.headers["Retry-After"] = "5"
    return response
