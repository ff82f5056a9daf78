"""The health of the service's parts, for `GET /healthz`.

Each part has a probe returning one of the states below. A part that is `disabled` (not
configured in this process, e.g. `ivr serve` without the AudioSocket server yet) is reported but
does not count; `ok` counts as up; anything else (`down`, `not_started`, `connecting`) makes the
service unhealthy (503). The database probe is built in; the composition root passes the others.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

OK, DOWN, DISABLED, NOT_STARTED, CONNECTING = "ok", "down", "disabled", "not_started", "connecting"
DB_TIMEOUT_SECONDS = 3.0

Probe = Callable[[], str | Awaitable[str]]


def disabled() -> str:
    return DISABLED


def ami_probe(ami: object) -> Probe:
    """`ok` while the AMI client is logged in, else `connecting` (it keeps retrying)."""
    return lambda: OK if getattr(ami, "connected", False) else CONNECTING


def _ping(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        session.execute(text("SELECT 1"))


async def db_state(factory: sessionmaker[Session] | None) -> str:
    if factory is None:
        return NOT_STARTED
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, factory), DB_TIMEOUT_SECONDS)
    except Exception as error:  # any failure to answer is "down"; the reason goes to the log once
        logger.warning("health: database does not answer (%s)", type(error).__name__)
        return DOWN
    return OK


async def check(factory: sessionmaker[Session] | None, probes: Mapping[str, Probe]) -> dict[str, str]:
    """Every part's state: `db` first, then the probes in order."""
    states = {"db": await db_state(factory)}
    for name, probe in probes.items():
        try:
            state = probe()
            states[name] = await state if inspect.isawaitable(state) else state
        except Exception as error:
            logger.warning("health: probe %s failed (%s)", name, type(error).__name__)
            states[name] = DOWN
    return states


def healthy(states: Mapping[str, str]) -> bool:
    return all(state in (OK, DISABLED) for state in states.values())
