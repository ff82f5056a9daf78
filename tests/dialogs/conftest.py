"""Dialog tests against the real store: a migrated SQLite file or a private PostgreSQL database."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from slots.db import make_engine, upgrade
from slots.models import Base
from tests.conftest import POSTGRES_URL


@pytest.fixture(scope="session")
def dialog_postgres() -> Iterator[str]:
    admin = make_url(POSTGRES_URL)
    name = f"madoguchi_dialogs_{secrets.token_hex(4)}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dialogs.db'}"
        upgrade(url)
        return url
    url = request.getfixturevalue("dialog_postgres")
    engine = make_engine(url, pool="null")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "alembic_version")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url
