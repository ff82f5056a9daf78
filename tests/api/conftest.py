"""API fixtures: the app on a real, migrated store (SQLite and PostgreSQL) with a controlled clock.

PostgreSQL: the session creates its own database (`madoguchi_api_<random>`, tests.fixtures.databases),
migrates it, truncates it before every test and drops it at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.events import EventBus
from tests.fixtures.databases import empty_database, migrated_sqlite, scratch_postgres
from apikit import BATCH, Clock, auth, make_settings


@pytest.fixture(scope="session")
def api_postgres() -> Iterator[str]:
    with scratch_postgres("madoguchi_api") as url:
        yield url


@pytest.fixture(scope="session")
def api_sqlite_template(tmp_path_factory) -> str:
    return migrated_sqlite(tmp_path_factory.mktemp("api-template"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database of each kind."""
    return empty_database(request, tmp_path, sqlite_template="api_sqlite_template", postgres="api_postgres")


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
