"""The HTTP app factory: the API (`ivr.api`), the dashboard (`ivr.web`) and the residents' booking
site (`ivr.resident`) with its chat (`ivr.chat`) on one app.

`create_app(settings, ...)` puts the shared objects on `app.state`, installs both, and answers
`DatabaseUnavailable` as each of them does (JSON under the API's paths, a page elsewhere). Given
nothing but settings, the lifespan builds the engine and sessionmaker (from `settings.db`)
and an event bus, and disposes of them on shutdown. The composition root (`ivr serve`) or a test
passes its own sessionmaker, bus, live projection, AMI client, health probes or `ivr.nodes.Nodes`
(this node's name and the other nodes on the same database) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker as SessionMaker

from ivr import api, chat, resident, web
from ivr.api import errors
from ivr.api import status as parts
from ivr.config import Settings
from ivr.events import EventBus
from ivr.http import MACHINE_PATHS
from ivr.http.body_limit import BodyLimit
from ivr.http.transactions import DatabaseUnavailable
from ivr.live import LiveCalls, start_following
from ivr.metrics import Metrics
from ivr.nodes import Nodes, asterisk_label, node_name
from slots.db import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)


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
        await state.chat.rooms.close_all()  # open chats give their held places back
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
    nodes: Nodes | None = None,
    resident_options: resident.ResidentOptions | None = None,
) -> FastAPI:
    """The HTTP app (API, dashboard and the residents' booking site). `probes` add to or replace the
    health parts (`audiosocket`, `ami`)."""
    app = FastAPI(title="Madoguchi", version="0.1.0", description=api.DESCRIPTION, lifespan=lifespan)
    state = app.state
    state.settings = settings
    state.sessionmaker = sessionmaker
    state.bus = bus
    state.nodes = nodes if nodes is not None else local_node(settings)
    state.live = live if live is not None else LiveCalls(node=state.nodes.name)
    state.ami = ami
    state.clock = clock or _utcnow
    state.metrics = metrics or Metrics(ami.queues.snapshot if ami is not None else None)
    state.probes = {**default_probes(ami), **(probes or {})}
    api.install(app, settings)  # the API's routes, tokens and error answers (ivr/api)
    web.install(app, settings)  # the dashboard's pages and static files (ivr/web)
    resident.install(app, settings, resident_options)  # the residents' booking pages at /yoyaku/ (ivr/resident)
    chat.install(app, settings)  # the same dialog script as text at /chat/ (ivr/chat)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # added last: the outermost
    return app


def local_node(settings: Settings, hostname: str | None = None) -> Nodes:
    """This node as the settings name it (MADOGUCHI_NODE_NAME, MADOGUCHI_ASTERISK_NAME, or derived)."""
    hostname = hostname or socket.gethostname()
    return Nodes(node_name(settings.node_name, settings.http, hostname),
                 asterisk_label(settings.asterisk_name, settings.ami, hostname))


async def _unavailable(request: Request, error: Exception):
    """A database outage: the API's JSON 503 under its paths, the dashboard's page elsewhere."""
    if request.url.path.startswith(MACHINE_PATHS):
        return await errors.on_db_error(request, error)
    assert isinstance(error, DatabaseUnavailable)
    if request.url.path.startswith(resident.PREFIX):
        return await resident.unavailable_page(request, error)
    return await web.unavailable_page(request, error)
