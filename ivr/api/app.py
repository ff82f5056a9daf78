"""The app factory: `create_app(settings, ...)` with a lifespan that builds what it is not given.

Given nothing but settings, the lifespan builds the engine and sessionmaker (from `settings.db`)
and an event bus, and disposes of them on shutdown. The composition root (`ivr serve`) or a test
passes its own sessionmaker, bus, live projection, AMI client or health probes instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy.orm import Session, sessionmaker as SessionMaker

from ivr import web
from ivr.api import errors
from ivr.api import status as parts
from ivr.api.routes import batches, bookings, callbacks, calls, health, holds, slots
from ivr.api.routes import metrics as metrics_routes
from ivr.config import Settings
from ivr.events import EventBus
from ivr.live import LiveCalls, start_following
from ivr.metrics import Metrics
from slots.db import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DESCRIPTION = """Madoguchi's staff and channel API. Authenticate with `Authorization: Bearer TOKEN`
(tokens and their roles from `MADOGUCHI_API_TOKENS`). Datetimes are ISO 8601 with the
municipality's offset; inputs without an offset are read in the municipality's zone. Conflicts
answer 409 with a machine-readable `reason` (`slot_full` with `alternatives`, `hold_expired`,
`already_booked`, `not_open_yet`, `slot_closed`); a database outage answers 503."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_probes(ami: Any | None) -> dict[str, parts.Probe]:
    """AudioSocket is `disabled` until the composition root passes a probe for its server."""
    return {"audiosocket": parts.disabled, "ami": parts.ami_probe(ami) if ami is not None else parts.disabled}


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    engine = None
    if state.sessionmaker is None:
        engine = make_engine(state.settings.db)
        state.sessionmaker = make_sessionmaker(engine)
    if state.bus is None:
        state.bus = EventBus()
    follower = start_following(state.bus, state.live.apply, state.metrics.observe)
    try:
        yield
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        if engine is not None:
            engine.dispose()
            state.sessionmaker = None


def create_app(
    settings: Settings,
    *,
    sessionmaker: SessionMaker[Session] | None = None,
    bus: EventBus | None = None,
    live: LiveCalls | None = None,
    ami: Any | None = None,
    probes: Mapping[str, parts.Probe] | None = None,
    clock: Callable[[], datetime] | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The HTTP API. `probes` add to or replace the health parts (`audiosocket`, `ami`)."""
    app = FastAPI(title="Madoguchi", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    state = app.state
    state.settings = settings
    state.tokens = settings.tokens()  # a malformed MADOGUCHI_API_TOKENS fails here, at start
    if not state.tokens:
        logger.warning("no MADOGUCHI_API_TOKENS: every /api/v1 call will answer 401")
    state.sessionmaker = sessionmaker
    state.bus = bus
    state.live = live if live is not None else LiveCalls()
    state.ami = ami
    state.clock = clock or _utcnow
    state.metrics = metrics or Metrics(ami.queues.snapshot if ami is not None else None)
    state.probes = {**default_probes(ami), **(probes or {})}
    errors.install(app)

    api = APIRouter(prefix=API_PREFIX)
    for module in (batches, slots, holds, bookings, calls, callbacks):
        api.include_router(module.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(metrics_routes.router)
    web.install(app, settings)  # the dashboard's pages and static files (ivr/web)
    return app
