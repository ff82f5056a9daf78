"""API fixtures: the app on a real, migrated store (SQLite and PostgreSQL) with a controlled clock.

PostgreSQL: the session creates its own database (`madoguchi_api_<random>`) on 127.0.0.1:5432,
migrates it, truncates it before every test and drops it at the end.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ivr.api.app import create_app
from ivr.events import EventBus
from slots.db import make_engine, upgrade
from slots.models import Base
from apikit import BATCH, Clock, auth, make_settings

POSTGRES_URL = os.environ.get("MADOGUCHI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")



@pytest.fixture(scope="session")
def api_postgres() -> Iterator[str]:
    admin = make_url(POSTGRES_URL)
    name = f"madoguchi_api_{secrets.token_hex(4)}"
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


@pytest.fixture(scope="session")
def api_sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("api-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "api.db"
        shutil.copyfile(request.getfixturevalue("api_sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("api_postgres")
    engine = make_engine(url, pool="null")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "alembic_version")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # 10:00 in Tokyo


@pytest.fixture
def settings(db_url):
    return make_settings(db_url)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def client(settings, clock, bus) -> Iterator[TestClient]:
    """The app as `ivr serve` builds it: the lifespan makes the engine from `settings.db`."""
    with TestClient(create_app(settings, clock=clock, bus=bus)) as test_client:
        yield test_client


@pytest.fixture
def released(client) -> list[dict]:
    """The BATCH released (8 slots of capacity 2); its slots in order."""
    assert client.post("/api/v1/batches", json=BATCH, headers=auth("staff")).status_code == 201
    answer = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                 "date_to": "2026-12-02"}, headers=auth("channel"))
    return answer.json()["items"]
