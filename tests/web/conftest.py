"""A live server (the API's app factory with the dashboard) on a free port, and a headless browser.

The server runs uvicorn in a thread of the test process, so tests publish events straight into
its bus (`EventBus.publish` is thread-safe) and seed its store through the same sessionmaker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import uvicorn

from ivr.app import create_app
from ivr.config import Settings
from ivr.events import EventBus
from ivr.web.users import UserFile
from slots.db import make_engine, make_sessionmaker, upgrade
from tests.fixtures.browser import chromium
from tests.fixtures.ports import free_port
from tests.fixtures.waiting import wait_until
from webkit import PASSWORD, TOKENS, FakeAmi, make_users, web_settings


@dataclass
class LiveServer:
    url: str
    app: object
    settings: Settings
    sessionmaker: object
    bus: EventBus
    ami: FakeAmi
    users: UserFile


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> LiveServer:
    tmp = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{tmp / 'madoguchi.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = web_settings(url)
    bus, ami = EventBus(), FakeAmi()
    app = create_app(settings, sessionmaker=factory, bus=bus, ami=ami)
    users = make_users(tmp / "users.json")
    app.state.web.auth.users = users
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the test server started", timeout=20)
    assert server.started, "the test server thread ended before it started"
    yield LiveServer(f"http://127.0.0.1:{port}", app, settings, factory, bus, ami, users)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")  # not per session: see tests/fixtures/browser.py
def browser():
    with chromium() as instance:
        yield instance


@pytest.fixture
def open_page(browser, live_server):
    """`open_page(role)` -> a page logged in with that role's password, 1366x768, Japanese locale."""
    contexts = []

    def opener(role: str | None = None, *, token: bool = False):
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP",
                                      timezone_id="Asia/Tokyo", base_url=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(5000)
        if role is not None:
            page.goto("/login")
            if token:
                page.fill("input[name=token]", TOKENS[role])
            else:
                page.fill("input[name=username]", f"{role}1")
                page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
        return page

    yield opener
    for context in contexts:
        context.close()
