"""Tokens and roles (401/403) and garbage input (422 with a clear message)."""

from __future__ import annotations

import pytest

from apikit import BATCH, auth

SLOTS = {"service": "vaccine", "date_from": "2026-12-01", "date_to": "2026-12-02"}


def test_no_token_or_unknown_token_is_401(client):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic c3RhZmY6eA=="}):
        answer = client.get("/api/v1/slots", params=SLOTS, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("role", "method", "path", "body"), [
    ("operator", "POST", "/api/v1/batches", BATCH),
    ("channel", "POST", "/api/v1/batches", BATCH),
    ("operator", "POST", "/api/v1/holds", {"slot_id": 1, "ttl_seconds": 60}),
    ("operator", "DELETE", "/api/v1/holds/1", None),
    ("operator", "POST", "/api/v1/bookings", {"slot_id": 1, "ticket_number": "1234", "birthdate": "1950-01-01"}),
    ("operator", "DELETE", "/api/v1/bookings/12345678", None),
    ("channel", "GET", "/api/v1/bookings", None),
    ("channel", "GET", "/api/v1/calls", None),
    ("channel", "GET", "/api/v1/queues", None),
])
def test_wrong_role_is_403(client, role, method, path, body):
    answer = client.request(method, path, json=body, headers=auth(role))
    assert answer.status_code == 403
    assert role in answer.json()["detail"]


@pytest.mark.parametrize(("change", "needle"), [
    ({"times": ["9-12"]}, "HH:MM-HH:MM"),
    ({"times": []}, "times"),
    ({"date_to": "2026-11-30"}, "date_to is before date_from"),
    ({"every_minutes": 0}, "every_minutes"),
    ({"capacity": "many"}, "capacity"),
    ({"service": ""}, "service"),
    ({"colour": "red"}, "colour"),
    ({"times": ["10:00-09:00"]}, "ends before it starts"),
    ({"times": ["09:00-11:00", "10:00-12:00"]}, "overlap"),
    ({"opens_at": "tomorrow"}, "opens_at"),
])
def test_bad_batches_are_422_and_say_why(client, change, needle):
    answer = client.post("/api/v1/batches", json={**BATCH, **change}, headers=auth("staff"))
    assert answer.status_code == 422
    assert needle in answer.text


def test_garbage_bodies_are_422(client):
    for payload in (b"not json", b"[1, 2]", b'{"slot_id": "one"}', b"\xff\xfe"):
        answer = client.post("/api/v1/holds", content=payload, headers={**auth("channel"),
                                                                       "Content-Type": "application/json"})
        assert answer.status_code == 422, payload
        assert "detail" in answer.json()


@pytest.mark.parametrize("params", [
    {"date_from": "2026-12-01", "date_to": "2026-12-02"},
    {**SLOTS, "date_from": "12/01"},
    {**SLOTS, "date_to": "2026-11-01"},
    {**SLOTS, "date_to": "2028-12-01"},
    {**SLOTS, "available": "perhaps"},
])
def test_bad_slot_queries_are_422(client, params):
    assert client.get("/api/v1/slots", params=params, headers=auth("staff")).status_code == 422


@pytest.mark.parametrize("body", [
    {"slot_id": 1, "hold_id": 1, "ticket_number": "12345678", "birthdate": "1950-01-01"},
    {"ticket_number": "12345678", "birthdate": "1950-01-01"},
    {"slot_id": 1, "ticket_number": "abcdefgh", "birthdate": "1950-01-01"},
    {"slot_id": 1, "ticket_number": "12345678", "birthdate": "1950-02-30"},
    {"slot_id": 1, "ticket_number": "12345678", "birthdate": "2999-01-01"},
    {"slot_id": 1, "ticket_number": "12345678"},
])
def test_bad_bookings_are_422_and_never_echo_the_ticket(client, released, body):
    answer = client.post("/api/v1/bookings", json=body, headers=auth("channel"))
    assert answer.status_code == 422
    assert body.get("ticket_number", "@@") not in answer.text
    assert "1950-01-01" not in answer.text


def test_bad_codes_and_holds(client):
    assert client.get("/api/v1/bookings/abc", headers=auth("staff")).status_code == 422
    for method in ("get", "delete"):
        answer = getattr(client, method)("/api/v1/bookings/00000000", headers=auth("staff"))
        assert (answer.status_code, answer.json()["reason"]) == (404, "not_found")
    assert client.post("/api/v1/holds", json={"slot_id": 1, "ttl_seconds": 99999},
                       headers=auth("channel")).status_code == 422
    assert client.post("/api/v1/holds", json={"slot_id": 999999, "ttl_seconds": 60},
                       headers=auth("channel")).status_code == 404
