"""Dashboard login under attack: throttled per account and per client address (429 with
Retry-After), X-Forwarded-For believed only from configured proxies, password hashing off the
event loop (the loop also paces call audio)."""

from __future__ import annotations

import asyncio
import re

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.config import parse_networks
from ivr.web import users as users_module
from ivr.http.clients import client_address
from slots.db import make_engine, make_sessionmaker, upgrade
from webkit import PASSWORD, make_users, web_settings

PROXY = "10.0.0.1"


@pytest.fixture
def make_app(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    engine = make_engine(url)

    def build(**changes):
        settings = web_settings(url).model_copy(update=changes)
        application = create_app(settings, sessionmaker=make_sessionmaker(engine))
        application.state.web.auth.users = make_users(tmp_path / "users.json")
        return application

    yield build
    engine.dispose()


def attempt(client: TestClient, username: str, password: str, **headers: str):
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"login_csrf": token, "username": username, "password": password},
                       headers=headers, follow_redirects=False)


def from_address(app, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


def test_an_account_is_throttled_whatever_the_address(make_app):
    app = make_app()
    for i in range(5):
        assert attempt(from_address(app, f"192.0.2.{i}"), "staff1", "wrong-password").status_code == 401
    blocked = attempt(from_address(app, "192.0.2.99"), "staff1", PASSWORD)  # even the right password
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    assert attempt(from_address(app, "192.0.2.99"), "operator1", PASSWORD).status_code == 303  # others log in


def test_an_address_is_throttled_whatever_the_account(make_app):
    app = make_app()
    client = from_address(app, "192.0.2.7")
    for name in ("staff1", "operator1", "admin1", "nobody1", "nobody2"):
        assert attempt(client, name, "wrong-password").status_code == 401
    blocked = attempt(client, "nobody3", "wrong-password")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert attempt(from_address(app, "192.0.2.8"), "operator1", PASSWORD).status_code == 303


def test_forwarded_for_is_ignored_from_an_untrusted_peer(make_app):
    app = make_app()  # no MADOGUCHI_TRUSTED_PROXIES
    client = from_address(app, "192.0.2.7")
    for i in range(5):
        assert attempt(client, f"nobody{i}", "wrong", **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code == 401
    assert attempt(client, "nobody9", "wrong", **{"X-Forwarded-For": "198.51.100.200"}).status_code == 429


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(make_app):
    app = make_app(trusted_proxies=PROXY)
    proxy = from_address(app, PROXY)
    for i in range(5):
        forwarded = {"X-Forwarded-For": f"203.0.113.66, 198.51.100.{i}"}  # the left one is the client's lie
        assert attempt(proxy, f"nobody{i}", "wrong", **forwarded).status_code == 401
    # five clients behind the proxy failed once each: a sixth is not held back by them ...
    assert attempt(proxy, "operator1", PASSWORD, **{"X-Forwarded-For": "198.51.100.50"}).status_code == 303
    # ... while one client behind it is throttled by its own failures
    for i in range(5):
        attempt(proxy, f"other{i}", "wrong", **{"X-Forwarded-For": "198.51.100.9"})
    assert attempt(proxy, "x-user", "wrong", **{"X-Forwarded-For": "198.51.100.9"}).status_code == 429


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("192.0.2.1", "198.51.100.1", "192.0.2.1"),  # not a proxy: its header is not believed
    (PROXY, "198.51.100.1", "198.51.100.1"),
    (PROXY, "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # only the hop our proxy appended counts
    (PROXY, "198.51.100.1, 10.0.0.2", "198.51.100.1"),  # a chain of trusted proxies
    (PROXY, None, PROXY),
    (PROXY, "garbage", "garbage"),
    (None, "198.51.100.1", "unknown"),
])
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, parse_networks("10.0.0.0/24")) == expected


def test_password_hashing_runs_off_the_event_loop(make_app, monkeypatch):
    on_loop = []
    real = users_module.hash_password

    def spy(password: str, salt: str) -> str:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(password, salt)

    app = make_app()  # its users are hashed here, in the test's thread
    monkeypatch.setattr(users_module, "hash_password", spy)
    assert attempt(from_address(app, "192.0.2.1"), "staff1", PASSWORD).status_code == 303
    assert attempt(from_address(app, "192.0.2.1"), "nobody", PASSWORD).status_code == 401
    assert on_loop == [False, False]
