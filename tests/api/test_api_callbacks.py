"""`/callbacks`: staff see numbers in full, operators only once they take an entry; roles and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from apikit import auth

KEYS = {"id", "phone_masked", "service", "reason", "status", "created_at"}


@pytest.fixture
def request_callback(settings, clock):
    """Leave a call-back request as a call would (the store, at the clock's time)."""
    engine = make_engine(settings.db)
    factory = make_sessionmaker(engine)

    def leave(phone="090-1234-5678", service="vaccine", reason="no_operator", **delta):
        return run_in_transaction(factory, store.request_callback, phone=phone, service=service, reason=reason,
                                  call_id="call-1", now=clock.now + timedelta(**delta), tz=settings.tz)

    yield leave
    engine.dispose()


def listed(client, role="staff", **params):
    answer = client.get("/api/v1/callbacks", params=params, headers=auth(role))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def mark(client, callback_id, status, role="operator"):
    return client.post(f"/api/v1/callbacks/{callback_id}", json={"status": status}, headers=auth(role))


def test_staff_see_the_number_operators_its_last_four_digits(client, request_callback):
    view = request_callback()
    entry = {"id": view.id, "phone_masked": "*******5678", "service": "vaccine", "reason": "no_operator",
             "status": "open", "created_at": "2026-11-24T10:00:00+09:00"}
    assert listed(client, "staff") == [{**entry, "phone": "09012345678"}]
    assert listed(client, "admin") == [{**entry, "phone": "09012345678"}]
    assert listed(client, "operator") == [entry]
    assert "1234" not in client.get("/api/v1/callbacks", headers=auth("operator")).text


def test_an_operator_who_takes_an_entry_sees_the_number(client, request_callback, clock):
    view = request_callback()
    clock.advance(minutes=5)
    taken = mark(client, view.id, "called")
    assert taken.status_code == 200
    assert taken.json()["status"] == "called" and taken.json()["phone"] == "09012345678"
    assert set(taken.json()) == KEYS | {"phone"}
    assert listed(client, "operator")[0]["phone"] == "09012345678"
    done = mark(client, view.id, "done")
    assert done.status_code == 200 and "phone" not in done.json() and done.json()["status"] == "done"
    assert "phone" not in listed(client, "operator")[0]
    assert listed(client, "staff")[0]["phone"] == "09012345678"
    again = mark(client, view.id, "done", role="staff")
    assert again.status_code == 200 and again.json()["phone"] == "09012345678"


def test_filters_by_status_and_local_day_and_pages(client, request_callback):
    # the clock is 10:00 on 2026-11-24 in Tokyo; +14h is 00:00 on the 25th there
    early = request_callback(phone="0312345001")
    late = request_callback(phone="0312345002", hours=13, minutes=59)
    next_day = request_callback(phone="0312345003", hours=14)
    assert mark(client, late.id, "called", role="staff").status_code == 200
    assert [e["id"] for e in listed(client)] == [early.id, late.id, next_day.id]
    assert [e["id"] for e in listed(client, date="2026-11-24")] == [early.id, late.id]
    assert [e["id"] for e in listed(client, date="2026-11-25")] == [next_day.id]
    assert [e["id"] for e in listed(client, status="open")] == [early.id, next_day.id]
    assert [e["id"] for e in listed(client, status="called", date="2026-11-24")] == [late.id]
    assert [e["id"] for e in listed(client, limit=1, offset=1)] == [late.id]
    assert listed(client, date="2026-11-26") == []


def test_a_second_request_the_same_day_is_the_same_entry(client, request_callback):
    first = request_callback()
    assert request_callback(phone="09012345678", reason="after_hours", hours=2).id == first.id
    assert len(listed(client)) == 1


def test_reopening_while_another_is_open_is_409(client, request_callback):
    first = request_callback()
    assert mark(client, first.id, "done").status_code == 200
    request_callback(minutes=1)
    clash = mark(client, first.id, "open", role="staff")
    assert clash.status_code == 409 and clash.json()["reason"] == "callback_already_open"


@pytest.mark.parametrize("callback_id", ["999", "0", "-1", "99999999999"])
def test_unknown_entry_is_404(client, request_callback, callback_id):
    request_callback()
    answer = client.post(f"/api/v1/callbacks/{callback_id}", json={"status": "done"}, headers=auth("staff"))
    assert answer.status_code == 404 and answer.json()["reason"] == "not_found"


@pytest.mark.parametrize("body", [{"status": "closed"}, {"status": ""}, {"status": None}, {}, {"status": "done",
                                  "phone": "0"}, [1], "done"])
def test_bad_status_is_422(client, request_callback, body):
    view = request_callback()
    answer = client.post(f"/api/v1/callbacks/{view.id}", json=body, headers=auth("operator"))
    assert answer.status_code == 422
    assert listed(client)[0]["status"] == "open"


@pytest.mark.parametrize("params", [{"status": "closed"}, {"date": "tomorrow"}, {"date": "2026-13-01"},
                                    {"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "ten"}])
def test_bad_query_is_422(client, params):
    assert client.get("/api/v1/callbacks", params=params, headers=auth("staff")).status_code == 422


def test_a_path_that_is_not_an_id_is_422(client):
    assert client.post("/api/v1/callbacks/abc", json={"status": "done"}, headers=auth("staff")).status_code == 422


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/callbacks", None),
    ("POST", "/api/v1/callbacks/1", {"status": "done"}),
])
def test_roles(client, request_callback, method, path, body):
    request_callback()
    for headers in ({}, {"Authorization": "Bearer nope"}):
        assert client.request(method, path, json=body, headers=headers).status_code == 401
    answer = client.request(method, path, json=body, headers=auth("channel"))
    assert answer.status_code == 403 and "channel" in answer.json()["detail"]
    assert listed(client)[0]["status"] == "open"


def test_openapi_documents_the_calls(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/callbacks"]["get"]["summary"] and paths["/api/v1/callbacks/{callback_id}"]["post"]["summary"]


def test_the_audit_log_keeps_who_marked_what(client, request_callback, settings):
    from sqlalchemy import select

    from slots.models import AuditEntry

    view = request_callback()
    mark(client, view.id, "called")
    engine = make_engine(settings.db)
    with Session(engine) as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "callback_status")).scalar_one()
    engine.dispose()
    assert entry.actor == "api:operator" and entry.detail["phone"] == "*******5678"


def test_a_second_operator_expecting_an_open_entry_is_told_it_was_taken(client, request_callback):
    view = request_callback()
    body = {"status": "called", "expected": "open"}
    first = client.post(f"/api/v1/callbacks/{view.id}", json=body, headers=auth("operator"))
    assert first.status_code == 200 and first.json()["phone"] == "09012345678"
    second = client.post(f"/api/v1/callbacks/{view.id}", json=body, headers=auth("operator"))
    assert second.status_code == 409
    assert (second.json()["reason"], second.json()["current"]) == ("callback_changed", "called")
    assert "0901234" not in second.text
    bad = client.post(f"/api/v1/callbacks/{view.id}", json={"status": "done", "expected": "taken"},
                      headers=auth("operator"))
    assert bad.status_code == 422
    assert listed(client)[0]["status"] == "called"


def test_metrics_count_the_open_requests_from_the_store(client, request_callback):
    assert "madoguchi_callback_requests_open 0.0" in client.get("/metrics").text
    first = request_callback()
    request_callback(phone="03-1234-5678")
    assert "madoguchi_callback_requests_open 2.0" in client.get("/metrics").text
    mark(client, first.id, "called")
    answer = client.get("/metrics")
    assert answer.status_code == 200 and "madoguchi_callback_requests_open 1.0" in answer.text
    assert answer.text.count("# TYPE madoguchi_callback_requests_open gauge") == 1
    app = client.app
    app.state.sessionmaker, kept = None, app.state.sessionmaker
    try:
        down = client.get("/metrics")
    finally:
        app.state.sessionmaker = kept
    assert down.status_code == 200 and "madoguchi_callback_requests_open" not in down.text
    assert "madoguchi_calls_active" in down.text
