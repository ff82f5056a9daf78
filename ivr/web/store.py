"""The store and clock as the pages use them: one transaction per call, the API's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ivr.api.errors import is_outage
from ivr.web.deps import now_utc, state
from slots.db import run_in_transaction


class StoreUnavailable(Exception):
    """The database does not answer; the page says so in Japanese (503)."""


def now(request: Request) -> datetime:
    clock = state(request, "clock")
    return clock() if clock is not None else now_utc()


def run(request: Request, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    factory = state(request, "sessionmaker")
    if factory is None:
        raise StoreUnavailable()
    try:
        return run_in_transaction(factory, fn, *args, **kw)
    except (DBAPIError, PoolTimeout) as error:
        if not is_outage(error):
            raise
        raise StoreUnavailable() from error
