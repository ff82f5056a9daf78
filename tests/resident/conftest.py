"""The resident site on a real, migrated store: an in-process app with a controlled clock for the
HTTP tests; live servers in threads (the usual hold time, and an 8-second one) and headless Chromium
for the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.config import Settings
from ivr.resident import ResidentOptions
from slots.db import make_engine, make_sessionmaker, upgrade
from tests.fixtures.browser import chromium
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_until
from residentkit import SHORT_HOLD_SECONDS, Clock


def resident_settings(url: str) -> Settings:
    return Settings(db=url, person_key="resident-test-person-key", session_secret="resident-test-secret")


@dataclass
class Site:
    app: object
    settings: Settings
    sessionmaker: object
    clock: Clock | None = None
    url: str = ""


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path / 'resident.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = resident_settings(url)
    clock = Clock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))  # 10:00 in Tokyo
    options = ResidentOptions.for_settings(settings, identify_per_window=5)
    app = create_app(settings, sessionmaker=factory, clock=clock, resident_options=options)
    yield Site(app, settings, factory, clock)
    engine.dispose()


@pytest.fixture
def client(site) -> Iterator[TestClient]:
    with TestClient(site.app, base_url="http://testserver") as test_client:
        yield test_client


def _serve(tmp: Path, name: str, options: dict) -> Iterator[Site]:
    url = f"sqlite:///{tmp / f'{name}.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = resident_settings(url)
    # every browser test reaches the live servers from one address: no per-client limit on booking actions
    # (tests/resident/test_resident_rate.py checks it over HTTP)
    options = {"actions_per_minute": 0, **options}
    app = create_app(settings, sessionmaker=factory, resident_options=ResidentOptions.for_settings(settings, **options))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"resident-{name}", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the resident test server started", timeout=20)
    assert server.started, "the test server thread ended before it started"
    yield Site(app, settings, factory, url=f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="session")
def live_site(tmp_path_factory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory.mktemp("resident"), "live", {})


@pytest.fixture(scope="session")
def short_hold_site(tmp_path_factory) -> Iterator[Site]:
    yield from _serve(tmp_path_factory.mktemp("resident-short"), "short", {"hold_ttl_seconds": SHORT_HOLD_SECONDS})


@pytest.fixture(scope="module")  # not per session: see tests/fixtures/browser.py
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture
def phone_page(browser):
    """`phone_page(site)` -> a page the size of a phone, Japanese locale, on the site's server."""
    contexts = []

    def opener(served: Site):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ja-JP", timezone_id="Asia/Tokyo",
                                      base_url=served.url, device_scale_factor=1, is_mobile=True, has_touch=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield opener
    for context in contexts:
        context.close()
