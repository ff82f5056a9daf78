"""The per-client limit on the resident site's booking actions (identify, hold, confirm) over HTTP:
MADOGUCHI_WEB_RATE_PER_MINUTE, a 429 page in plain Japanese with Retry-After, X-Forwarded-For
believed only from MADOGUCHI_TRUSTED_PROXIES, and 0 for no limit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.config import Settings
from slots.db import make_engine, make_sessionmaker, upgrade
from residentkit import Clock, csrf_of, identity_form, release

DAY = date(2026, 12, 1)
PROXY = "10.0.0.5"


@pytest.fixture
def make_site(tmp_path) -> Iterator:
    engines = []

    def build(**settings):
        url = f"sqlite:///{tmp_path / f'rate{len(engines)}.db'}"
        upgrade(url)
        engine = make_engine(url)
        engines.append(engine)
        factory = make_sessionmaker(engine)
        configured = Settings(db=url, person_key="resident-test-person-key", session_secret="resident-test-secret",
                              **settings)
        clock = Clock(datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
        release(factory, DAY, capacity=50, now=clock.now)
        return create_app(configured, sessionmaker=factory, clock=clock), clock

    yield build
    for engine in engines:
        engine.dispose()


def identify(client, **headers):
    csrf = csrf_of(client.get("/yoyaku/", headers=headers).text)
    return client.post("/yoyaku/", data=identity_form(csrf), headers=headers, follow_redirects=False)


def hold(client, **headers):
    page = client.get(f"/yoyaku/day/{DAY.isoformat()}", headers=headers).text
    slot_id = re.search(r'name="slot_id" value="(\d+)"', page).group(1)
    return client.post("/yoyaku/hold", data={"csrf": csrf_of(page), "slot_id": slot_id, "day": DAY.isoformat()},
                       headers=headers, follow_redirects=False)


def test_booking_actions_beyond_the_limit_get_a_plain_japanese_429_then_pass_again(make_site):
    app, clock = make_site(web_rate_per_minute=4)
    with TestClient(app) as client:
        assert identify(client).status_code == 303
        assert [hold(client).status_code for _ in range(3)] == [303, 303, 303]
        limited = hold(client)
        assert limited.status_code == 429 and 0 < int(limited.headers["Retry-After"]) <= 60
        assert "予約の 操作が 多すぎました" in limited.text and "秒ほど 待ってから" in limited.text
        review = client.get("/yoyaku/confirm")  # pages stay open: only the actions are counted
        assert review.status_code == 200
        refused = client.post("/yoyaku/confirm", data={"csrf": csrf_of(review.text)}, follow_redirects=False)
        assert refused.status_code == 429
        assert identify(client).status_code == 429
        clock.advance(60)
        assert client.post("/yoyaku/confirm", data={"csrf": csrf_of(review.text)},
                           follow_redirects=False).headers["location"] == "/yoyaku/booking?done=booked"


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_site):
    app, _ = make_site(web_rate_per_minute=2, trusted_proxies=PROXY)
    with TestClient(app, client=("192.0.2.7", 50000)) as direct:  # not a proxy: its X-Forwarded-For is ignored
        assert [identify(direct, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)] == [303, 303, 429]
    with TestClient(app, client=(PROXY, 50000)) as proxy:  # residents behind the trusted proxy: one budget each
        for resident in ("203.0.113.1", "203.0.113.2"):
            assert [identify(proxy, **{"X-Forwarded-For": resident}).status_code for _ in range(3)] == [303, 303, 429]


def test_a_limit_of_zero_is_no_limit(make_site):
    app, _ = make_site(web_rate_per_minute=0)
    with TestClient(app) as client:
        assert identify(client).status_code == 303
        assert {hold(client).status_code for _ in range(25)} == {303}
