"""What the commands on the database share: the --db option, one engine per command with clear errors
for an unusable database, and date options read and written in the municipality's zone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, datetime

import click
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from slots.db import make_engine, make_sessionmaker
from slots.errors import StoreError

DB_OPTION = click.option("--db", "db_url", metavar="URL",
                         help="Database URL (default: MADOGUCHI_DB or sqlite:///var/madoguchi.db).")
DATE = click.DateTime(formats=["%Y-%m-%d"])


@contextlib.contextmanager
def store_session(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The store's sessionmaker; store and database errors become one clear line, exit status 1."""
    engine = make_engine(settings.db)
    try:
        yield make_sessionmaker(engine)
    except StoreError as error:
        raise click.ClickException(f"{error.reason}: {error}") from None
    except DBAPIError as error:
        hint = "is it reachable, and migrated (`ivr db upgrade --db URL`)?"
        raise click.ClickException(f"the database refused ({type(error.orig).__name__}); {hint}") from None
    finally:
        engine.dispose()


def as_date(value: datetime | date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def local_iso(value: datetime | None, settings: Settings) -> str:
    return "" if value is None else value.astimezone(settings.tz).isoformat()
