"""What every resident page needs: the options, the visit cookie, the limits, rendering, errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ivr.config import Settings
from ivr.http import clock
from ivr.http.clients import RateLimit, client_of
from ivr.resident.options import ResidentOptions
from ivr.resident.visit import COOKIE, Visit, VisitCodec

logger = logging.getLogger(__name__)

PREFIX = "/yoyaku"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class ResidentError(Exception):
    """A page that explains, in plain Japanese, why the resident cannot go on (and what to do)."""

    def __init__(self, status: int, heading: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(heading)
        self.status, self.heading, self.message, self.retry_after = status, heading, message, retry_after


@dataclass
class ResidentSite:
    settings: Settings
    options: ResidentOptions
    codec: VisitCodec
    requests: RateLimit
    identify: RateLimit
    actions: RateLimit  # identify, hold and confirm: what takes places (MADOGUCHI_WEB_RATE_PER_MINUTE)
    proxies: tuple = ()  # MADOGUCHI_TRUSTED_PROXIES: whose X-Forwarded-For counts
    secure_cookies: bool = False

    @classmethod
    def build(cls, settings: Settings, options: ResidentOptions, secret: str) -> ResidentSite:
        return cls(settings, options, VisitCodec(secret, options.session_minutes),
                   RateLimit(options.requests_per_minute, timedelta(minutes=1)),
                   RateLimit(options.identify_per_window, timedelta(seconds=options.identify_window_seconds)),
                   RateLimit(options.actions_per_minute, timedelta(minutes=1)),
                   proxies=settings.proxy_networks(), secure_cookies=settings.production)


def site(request: Request) -> ResidentSite:
    return request.app.state.resident


def client(request: Request) -> str:
    return client_of(request, site(request).proxies)


TOO_MANY = ("少し 待ってください", "アクセスが 多すぎます。{seconds}秒ほど 待ってから、もう一度 ためしてください。")
TOO_MANY_ACTIONS = ("少し 待ってください",
                    "短い あいだに 予約の 操作が 多すぎました。{seconds}秒ほど 待ってから、もう一度 ためしてください。")


def check_rate(request: Request, limit: RateLimit, words: tuple[str, str] = TOO_MANY) -> None:
    """A 429 page in plain Japanese, with Retry-After, once the client is over `limit`."""
    wait = limit.take(client(request), clock.now(request))
    if wait:
        logger.info("resident site: rate limit for a client (%s %s)", request.method, request.url.path)
        heading, message = words
        raise ResidentError(429, heading, message.format(seconds=wait), retry_after=wait)


def visit_of(request: Request) -> Visit:
    """The resident's visit, or a new one (the cookie is written with the answer)."""
    ctx = site(request)
    now = clock.now(request)
    return ctx.codec.load(request.cookies.get(COOKIE), now) or ctx.codec.new(now)


async def checked_form(request: Request, visit: Visit) -> dict[str, str]:
    form = await request.form()
    if not visit.csrf_ok(form.get("csrf") if isinstance(form.get("csrf"), str) else None):
        raise ResidentError(403, "もう一度 はじめから おねがいします",
                            "画面を ひらいてから 時間が たちました。はじめの 画面から もう一度 やりなおしてください。")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def keep(request: Request, response: Response, visit: Visit | None) -> Response:
    """Write (or, for None, clear) the visit cookie on `response`."""
    if visit is None:
        response.delete_cookie(COOKIE, path=PREFIX)
        return response
    max_age = max(1, int((visit.expires - clock.now(request)).total_seconds()))
    response.set_cookie(COOKIE, site(request).codec.dump(visit), max_age=max_age, path=PREFIX, httponly=True,
                        samesite="strict", secure=site(request).secure_cookies)
    return response


def render(request: Request, visit: Visit | None, name: str, context: dict[str, Any], status_code: int = 200):
    ctx = site(request)
    base = {"visit": visit, "service_label": ctx.options.service_label, "prefix": PREFIX,
            "hold_minutes": max(1, ctx.options.hold_ttl_seconds // 60)}
    response = TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    return keep(request, response, visit)


def redirect(request: Request, visit: Visit | None, path: str) -> Response:
    return keep(request, RedirectResponse(PREFIX + path, status_code=303), visit)


async def error_page(request: Request, error: ResidentError):
    response = TEMPLATES.TemplateResponse(
        request, "error.html", {"visit": None, "heading": error.heading, "message": error.message, "prefix": PREFIX,
                                "service_label": site(request).options.service_label},
        status_code=error.status)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response
