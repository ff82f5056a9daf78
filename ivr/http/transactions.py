"""The store as a request uses it: one transaction per `run`, an outage as `DatabaseUnavailable`.

The API answers `DatabaseUnavailable` with a JSON 503, the dashboard with a page in Japanese; the
app factory picks one by path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from slots.db import run_in_transaction


class DatabaseUnavailable(Exception):
    """No sessionmaker yet, or the database does not answer."""


def is_outage(error: BaseException) -> bool:
    """The database did not answer (connection refused or dropped, pool exhausted, locked)."""
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class Transactions:
    """The store's sessionmaker bound for a request: `run(fn, *args, **kw)` is one transaction."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return run_in_transaction(self.factory, fn, *args, **kw)
        except (DBAPIError, PoolTimeout) as error:
            if not is_outage(error):
                raise
            raise DatabaseUnavailable() from error


def of(request: Request) -> Transactions:
    """The transactions on the app's store (`app.state.sessionmaker`, set by the app factory)."""
    factory = request.app.state.sessionmaker
    if factory is None:
        raise DatabaseUnavailable()
    return Transactions(factory)
