"""The chat on a real, migrated SQLite store and the shipped vaccine script, with a controlled clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.config import Settings
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo
DAY = date(2026, 12, 4)


@dataclass
class Chat:
    app: object
    settings: Settings
    sessionmaker: object


@pytest.fixture
def chat(tmp_path) -> Iterator[Chat]:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    spec = BatchSpec("vaccine", "市役所", DAY, DAY, ("09:00-10:00",), 30, 2)
    run_in_transaction(factory, store.release_batch, spec, actor="test", now=NOW)
    settings = Settings(db=url, person_key="chat-test-person-key", session_secret="chat-test-secret")
    yield Chat(create_app(settings, sessionmaker=factory, clock=lambda: NOW), settings, factory)
    engine.dispose()


@pytest.fixture
def client(chat) -> Iterator[TestClient]:
    with TestClient(chat.app) as test_client:
        yield test_client
