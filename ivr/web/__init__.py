"""The operator dashboard and staff console: server-rendered pages under the API's app.

`install(app, settings)` mounts the pages and the static files on the app the API's factory
builds; the pages read the same store (`app.state.sessionmaker`), event bus (`app.state.bus`),
live-call projection (`app.state.live`) and AMI client (`app.state.ami`).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from ivr.config import ConfigError, Settings
from ivr.web.auth import Authenticator, AuthError, SessionCodec
from ivr.web.deps import WebContext, render
from ivr.web.routes import admin, bookings, live, queue, session, slots, today
from ivr.web.store import StoreUnavailable
from ivr.web.users import UserFile

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SESSION_MAX_AGE = 10 * 3600  # one shift
DEFAULT_USERS_FILE = Path("var/web-users.json")
ROUTERS = (session.router, live.router, queue.router, today.router, slots.router, bookings.router, admin.router)
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
    app.add_exception_handler(StoreUnavailable, _unavailable)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if not request.url.path.startswith(("/api/", "/metrics", "/healthz")):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if not request.url.path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    return ctx


async def _auth_error(request: Request, error: AuthError):
    if error.status == 401:
        return session.login_page(request, request.app.state.web, error=error.message, status_code=401)
    return render(request, "error.html", {"heading": "権限がありません", "message": error.message}, error.status)


async def _unavailable(request: Request, error: StoreUnavailable):
    logger.warning("%s %s: database unavailable", request.method, request.url.path)
    message = "データベースに接続できません。しばらくしてから、ページを読み込み直してください。"
    response = render(request, "error.html", {"heading": "一時的に利用できません", "message": message}, 503)
    response.headers["Retry-After"] = "5"
    return response
