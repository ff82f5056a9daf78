"""The HTTP API: one router per resource under `routes/`; `install(app, settings)` mounts them.

The app factory (`ivr.app`) builds the app and the objects on its state; this package adds the
API's tokens, hold ids, routes and error answers.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, FastAPI

from ivr.api import errors, hold_access
from ivr.api.deps import ClientLimit
from ivr.api.routes import batches, bookings, callbacks, calls, health, holds, metrics, slots
from ivr.config import Settings
from ivr.http.clients import RateLimit

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DESCRIPTION = """Madoguchi's staff and channel API. Authenticate with `Authorization: Bearer TOKEN`
(tokens and their roles from `MADOGUCHI_API_TOKENS`). Datetimes are ISO 8601 with the
municipality's offset; inputs without an offset are read in the municipality's zone. Conflicts
answer 409 with a machine-readable `reason` (`slot_full` with `alternatives`, `hold_expired`,
`already_booked`, `not_open_yet`, `slot_closed`); a database outage answers 503. A channel token's
label (`channel:LABEL:token`) is what its holds and bookings record; a hold belongs to it (another
token gets 404). Too many live holds for one channel answer 429 `too_many_holds`, too many holds
from one client address within a minute 429 `rate_limited` with Retry-After; a request body
over the configured limit answers 413."""


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the API on `app`: its tokens and hold ids on the app's state, its routes, its errors."""
    state = app.state
    state.credentials = settings.credentials()  # a malformed or short MADOGUCHI_API_TOKENS fails here, at start
    state.tokens = {token: credential.role for token, credential in state.credentials.items()}
    if not state.tokens:
        logger.warning("no MADOGUCHI_API_TOKENS: every %s call will answer 401", API_PREFIX)
    state.hold_ids = hold_access.HoldIds.for_settings(settings)
    state.hold_rate = ClientLimit(RateLimit(settings.web_rate_api_per_minute, timedelta(minutes=1)),
                                  settings.proxy_networks())
    errors.install(app)
    router = APIRouter(prefix=API_PREFIX)
    for module in (batches, slots, holds, bookings, calls, callbacks):
        router.include_router(module.router)
    app.include_router(router)
    app.include_router(health.router)
    app.include_router(metrics.router)
