"""The residents' booking site at /yoyaku/: Japanese, mobile first, server-rendered (a little script
only for the hold's countdown), on the same store, holds and rules as the phone line (channel
`web`, so the phone's reserve of each slot is left to phone callers).

`install(app, settings, options)` mounts the pages and their static files on the app that the app
factory (`ivr.app`) builds; the pages read the store through `ivr.http.transactions`.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from ivr.config import Settings
from ivr.http.transactions import DatabaseUnavailable
from ivr.resident.options import ResidentOptions
from ivr.resident.routes import router
from ivr.resident.site import PREFIX, ResidentError, ResidentSite, error_page

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

__all__ = ["PREFIX", "ResidentOptions", "install", "unavailable_page"]


def _secret(settings: Settings) -> str:
    if settings.session_secret is not None and settings.session_secret.get_secret_value():
        return settings.session_secret.get_secret_value()
    return secrets.token_hex(32)  # the dashboard refuses to start without one in production


def install(app: FastAPI, settings: Settings, options: ResidentOptions | None = None) -> ResidentSite:
    ctx = ResidentSite.build(settings, options or ResidentOptions.for_settings(settings), _secret(settings))
    app.state.resident = ctx
    app.include_router(router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="resident-static")
    app.add_exception_handler(ResidentError, error_page)
    return ctx


async def unavailable_page(request: Request, error: DatabaseUnavailable):
    logger.warning("%s %s: database unavailable", request.method, request.url.path)
    problem = ResidentError(503, "いま 予約が できません",
                            "いま 予約の システムが つかえません。しばらく してから もう一度 ためしてください。",
                            retry_after=5)
    return await error_page(request, problem)
