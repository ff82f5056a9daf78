"""The per-client rate limit on POST /api/v1/holds (MADOGUCHI_WEB_RATE_API_PER_MINUTE) over HTTP,
on SQLite and PostgreSQL: 429 `rate_limited` with Retry-After, X-Forwarded-For believed only from
MADOGUCHI_TRUSTED_PROXIES, 0 for no limit (bench/web.py books from one address)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from apikit import BATCH, auth, make_settings
from ivr.app import create_app

PROXY = "10.0.0.5"


@pytest.fixture
def make_client(db_url, clock, bus) -> Iterator:
    """`make_client(peer, **settings)` -> a client from address `peer`, the BATCH released, its slot ids."""
    clients = []

    def build(peer: str = "192.0.2.7", **changes):
        client = TestClient(create_app(make_settings(db_url, **changes), clock=clock, bus=bus), client=(peer, 50000))
        clients.append(client.__enter__())
        assert client.post("/api/v1/batches", json={**BATCH, "capacity": 20}, headers=auth("staff")).status_code == 201
        slots = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                    "date_to": "2026-12-02"}, headers=auth("channel")).json()["items"]
        return client, [s["id"] for s in slots]

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def hold(client, slot_id, **headers):
    return client.post("/api/v1/holds", json={"slot_id": slot_id, "ttl_seconds": 60},
                       headers={**auth("channel"), **headers})


def test_holds_beyond_the_limit_answer_429_with_retry_after(make_client, clock):
    client, slots = make_client(web_rate_api_per_minute=3)
    assert [hold(client, slots[0]).status_code for _ in range(3)] == [201] * 3
    limited = hold(client, slots[1])
    assert limited.status_code == 429 and limited.json()["reason"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    held = client.get(f"/api/v1/slots/{slots[1]}", headers=auth("staff")).json()["held"]
    assert held == 0  # refused before the store
    assert client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01", "date_to": "2026-12-01"},
                      headers=auth("channel")).status_code == 200  # reading availability is not limited
    clock.advance(seconds=60)
    assert hold(client, slots[1]).status_code == 201


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_client):
    direct, slots = make_client("192.0.2.7", web_rate_api_per_minute=2, trusted_proxies=PROXY)
    spoofed = [hold(direct, slots[0], **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)]
    assert spoofed == [201, 201, 429]
    proxied, slots = make_client(PROXY, web_rate_api_per_minute=2, trusted_proxies=PROXY)
    for resident in ("203.0.113.1", "203.0.113.2"):
        assert [hold(proxied, slots[1], **{"X-Forwarded-For": resident}).status_code for _ in range(3)] == [201, 201, 429]


def test_a_limit_of_zero_is_no_limit(make_client):
    client, slots = make_client(web_rate_api_per_minute=0, channel_max_holds=100)
    assert {hold(client, slots[i % len(slots)]).status_code for i in range(40)} == {201}
