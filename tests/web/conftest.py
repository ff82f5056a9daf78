"""A live server (the API's app factory with the dashboard) on a free port, and a headless browser.

The server runs uvicorn in a thread of the test process, so tests publish events straight into
its bus (`EventBus.publish` is thread-safe) and seed its store through the same sessionmaker.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from ivr.api.app import create_app
from ivr.config import Settings
from ivr.events import EventBus
from ivr.web.users import UserFile
from slots.db import make_engine, make_sessionmaker, upgrade
from webkit import PASSWORD, TOKENS, FakeAmi, make_users, web_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class LiveServer:
    url: str
    app: object
    settings: Settings
    sessionmaker: object
    bus: EventBus
    ami: FakeAmi
    users: UserFile


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", app, settings, factory, bus, ami, users)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (Debian packages chromium, chromium-driver)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


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
