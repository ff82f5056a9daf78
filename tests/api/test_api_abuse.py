"""Least privilege for API tokens: fixed channel labels, owned holds, capped TTLs and hold counts,
cancelling with the resident's identity, and a request body limit enforced before the body is read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from apikit import auth, make_settings
from ivr.app import create_app

IDENTITY = {"ticket_number": "5550000001", "birthdate": "1960-01-01"}


@pytest.fixture
def make_client(db_url, clock, bus) -> Iterator:
    """A client on an app built with settings changed by the test."""
    clients = []

    def build(**changes) -> TestClient:
        client = TestClient(create_app(make_settings(db_url, **changes), clock=clock, bus=bus))
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def hold(client, slot_id, who="channel", ttl=60):
    return client.post("/api/v1/holds", json={"slot_id": slot_id, "ttl_seconds": ttl}, headers=auth(who))


def slot_state(client, slot_id) -> tuple[int, int]:
    slot = client.get(f"/api/v1/slots/{slot_id}", headers=auth("staff")).json()
    return slot["held"], slot["booked"]


def test_the_channel_label_is_fixed_by_the_token(client, released):
    chat = client.post("/api/v1/bookings", json={"slot_id": released[0]["id"], **IDENTITY}, headers=auth("chat"))
    assert chat.status_code == 201 and chat.json()["channel"] == "chat"
    chosen = client.post("/api/v1/holds", json={"slot_id": released[1]["id"], "ttl_seconds": 60, "channel": "phone"},
                         headers=auth("channel"))
    assert chosen.status_code == 403 and "token" in chosen.json()["detail"]
    same = client.post("/api/v1/holds", json={"slot_id": released[1]["id"], "ttl_seconds": 60, "channel": "chat"},
                       headers=auth("chat"))
    assert same.status_code == 201  # naming the token's own label is harmless
    metrics = client.get("/metrics").text
    assert 'madoguchi_holds_total{channel="chat"} 1.0' in metrics
    assert 'channel="phone"' not in metrics


def test_holds_belong_to_the_channel_that_placed_them(client, released):
    slot = released[0]["id"]
    placed = hold(client, slot, "chat")
    assert placed.status_code == 201
    hold_id = placed.json()["id"]
    for who in ("channel", "staff"):
        release = client.delete(f"/api/v1/holds/{hold_id}", headers=auth(who))
        assert release.status_code == 404 and release.json()["reason"] == "not_found"
        confirm = client.post("/api/v1/bookings", json={"hold_id": hold_id, **IDENTITY}, headers=auth(who))
        assert confirm.status_code == 404 and confirm.json()["reason"] == "not_found"
    assert slot_state(client, slot) == (1, 0)  # still held for the chat channel
    mine = client.post("/api/v1/bookings", json={"hold_id": hold_id, **IDENTITY}, headers=auth("chat"))
    assert mine.status_code == 201 and mine.json()["channel"] == "chat"
    assert slot_state(client, slot) == (0, 1)


def test_hold_ids_are_unguessable(client, released):
    first, second = (hold(client, released[i]["id"]).json()["id"] for i in (0, 1))
    assert isinstance(first, str) and isinstance(second, str) and len(first) >= 20
    assert not first.isdigit() and first != second
    number = first.split(".")[0]
    for forged in (number, f"{number}.AAAAAAAAAAAAAAAAAAAAAA", second[:-2] + "xx", "1", f"{number}.{'é' * 22}",
                   "１." + first.split(".")[1], "9" * 40 + ".x"):
        answer = client.delete(f"/api/v1/holds/{forged}", headers=auth("channel"))
        assert answer.status_code == 404, forged
    assert slot_state(client, released[0]["id"])[0] == 1
    assert client.delete(f"/api/v1/holds/{first}", headers=auth("channel")).status_code == 204
    assert slot_state(client, released[0]["id"])[0] == 0


def test_hold_ttl_is_capped_at_fifteen_minutes(client, released):
    assert hold(client, released[0]["id"], ttl=900).status_code == 201
    beyond = hold(client, released[1]["id"], ttl=901)
    assert beyond.status_code == 422 and "900" in beyond.text and "ttl_seconds" in beyond.text


def test_a_channels_live_holds_are_limited(make_client, clock):
    from apikit import BATCH

    client = make_client(channel_max_holds=2)
    assert client.post("/api/v1/batches", json=BATCH, headers=auth("staff")).status_code == 201
    slots = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                "date_to": "2026-12-02"}, headers=auth("staff")).json()["items"]
    ids = [hold(client, slots[i]["id"], ttl=60).json()["id"] for i in range(2)]
    refused = hold(client, slots[2]["id"])
    assert refused.status_code == 429
    body = refused.json()
    assert body["reason"] == "too_many_holds" and "2" in body["detail"]["message"]
    assert hold(client, slots[2]["id"], "chat").status_code == 201  # another channel has its own count
    assert client.delete(f"/api/v1/holds/{ids[0]}", headers=auth("channel")).status_code == 204
    assert hold(client, slots[3]["id"]).status_code == 201
    assert hold(client, slots[4]["id"]).status_code == 429
    clock.advance(seconds=61)  # the first hold expired
    assert hold(client, slots[4]["id"]).status_code == 201


def test_a_channel_cancels_only_with_ticket_and_birthdate(client, released):
    slot = released[3]["id"]
    code = client.post("/api/v1/bookings", json={"slot_id": slot, **IDENTITY}, headers=auth("channel")).json()["code"]
    bare = client.delete(f"/api/v1/bookings/{code}", headers=auth("channel"))
    assert bare.status_code == 422 and "ticket_number" in bare.text and "birthdate" in bare.text
    wrong = client.request("DELETE", f"/api/v1/bookings/{code}", headers=auth("chat"),
                           json={**IDENTITY, "birthdate": "1960-01-02"})
    unknown = client.request("DELETE", "/api/v1/bookings/99999999", headers=auth("chat"), json=IDENTITY)
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())  # nothing to tell them apart
    assert wrong.status_code == 404 and IDENTITY["ticket_number"] not in wrong.text
    assert slot_state(client, slot) == (0, 1)
    done = client.request("DELETE", f"/api/v1/bookings/{code}", headers=auth("chat"), json=IDENTITY)
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert slot_state(client, slot) == (0, 0)


def test_staff_may_still_cancel_by_code(client, released):
    code = client.post("/api/v1/bookings", json={"slot_id": released[0]["id"], **IDENTITY},
                       headers=auth("channel")).json()["code"]
    answer = client.delete(f"/api/v1/bookings/{code}", headers=auth("staff"))
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(make_client):
    client = make_client(max_body_bytes=4096)
    big = b'{"slot_id": 1, "ttl_seconds": 60, "call_id": "' + b"x" * 8000 + b'"}'
    answer = client.post("/api/v1/holds", content=big, headers={**auth("channel"), "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "4096" in answer.json()["detail"]
    login = client.post("/login", data={"username": "u" * 5000, "password": "p"})
    assert login.status_code == 413


def test_a_streamed_body_over_the_limit_is_413(make_client):
    client = make_client(max_body_bytes=4096)

    def chunks():
        yield b'{"slot_id": 1, "ttl_seconds": 60, "call_id": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    answer = client.post("/api/v1/holds", content=chunks(),
                         headers={**auth("channel"), "Content-Type": "application/json"})
    assert answer.status_code == 413 and "4096" in answer.json()["detail"]
    small = client.post("/api/v1/holds", json={"slot_id": 999999, "ttl_seconds": 60}, headers=auth("channel"))
    assert small.status_code == 404  # bodies under the limit pass


def test_a_retried_hold_at_the_limit_returns_the_first_one(db_url, clock, released):
    """`Store.run` retries after a dropped COMMIT with the same request key: the hold that attempt
    made counts toward the limit, yet the retry must get it back rather than a 429."""
    from ivr.api import hold_access
    from slots.db import make_engine, make_sessionmaker, run_in_transaction
    from slots.errors import TooManyHolds

    engine = make_engine(db_url)
    try:
        factory = make_sessionmaker(engine)
        place = lambda key: run_in_transaction(  # noqa: E731
            factory, hold_access.place, released[0]["id"], channel="web", limit=1, ttl_seconds=60, now=clock.now,
            request_key=key)
        first = place("k" * 32)
        assert place("k" * 32) == first
        with pytest.raises(TooManyHolds):
            place("j" * 32)
    finally:
        engine.dispose()
