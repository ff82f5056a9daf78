"""Live calls, operator queues, metrics and health through the API (events injected on the bus)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from apikit import auth, make_settings
from ivr.app import create_app
from ivr.events import CallEnded, CallStarted, HoldPlaced, StepEntered, TurnFailed, UtteranceRecognized
from ivr.operator_queues import QueueView
from telephony.ami.protocol import AmiMessage
from tests.fixtures.waiting import wait_until


def calls(client):
    return client.get("/api/v1/calls", headers=auth("operator")).json()["items"]


def test_a_call_appears_with_its_state_and_disappears_when_it_ends(client, bus, clock):
    started = clock.now - timedelta(seconds=42)
    bus.publish(CallStarted("c-1", caller="090-****-5678", channel="PJSIP/trunk-1", at=started))
    bus.publish(StepEntered("c-1", "ask_date", at=started))
    bus.publish(UtteranceRecognized("c-1", "明日の午前", 0.91, step="ask_date", at=started))
    bus.publish(HoldPlaced("c-1", hold_id=5, slot_id=9, at=started))
    [call] = wait_until(lambda: [c for c in calls(client) if c["hold_placed"]])
    assert call["id"] == "c-1" and call["step"] == "ask_date" and call["caller"] == "090-****-5678"
    assert call["last_utterance"] == "明日の午前" and call["confidence"] == pytest.approx(0.91)
    assert call["elapsed_seconds"] == pytest.approx(42.0)
    assert call["started"] == "2026-11-24T09:59:18+09:00"
    assert call["needs_help"] is False and call["slot_id"] == 9

    bus.publish(TurnFailed("c-1", "ask_date", failures=2))
    wait_until(lambda: calls(client)[0]["needs_help"])
    bus.publish(CallEnded("c-1", outcome="transferred", duration_seconds=50.0))
    wait_until(lambda: calls(client) == [])


def test_metrics_follow_the_bus_and_the_api(client, bus, released):
    bus.publish(CallStarted("c-2"))
    bus.publish(UtteranceRecognized("c-2", "はい", 0.8, decode_seconds=0.25))
    wait_until(lambda: "madoguchi_calls_active 1.0" in client.get("/metrics").text)
    bus.publish(CallEnded("c-2", outcome="booked", duration_seconds=75.0))
    booked = 'madoguchi_calls_total{outcome="booked"} 1.0'
    text = wait_until(lambda: next((t for t in [client.get("/metrics").text] if booked in t), ""))
    assert "madoguchi_calls_active 0.0" in text
    assert "madoguchi_utterances_total 1.0" in text

    body = {"slot_id": released[0]["id"], "ticket_number": "11112222", "birthdate": "1970-01-01"}
    assert client.post("/api/v1/bookings", json=body, headers=auth("channel")).status_code == 201
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'madoguchi_bookings_total{channel="web",service="vaccine"} 1.0' in answer.text
    assert 'madoguchi_recognition_latency_seconds_bucket{le="0.2"} 0.0' in answer.text
    assert 'madoguchi_recognition_latency_seconds_bucket{le="0.3"} 1.0' in answer.text
    assert "madoguchi_recognition_latency_seconds_count 1.0" in answer.text
    assert "madoguchi_queue_waiting" in answer.text


class AmiStandIn:
    """An AMI client as the API sees it: `connected` and the IVR's real queue view."""

    def __init__(self, connected: bool) -> None:
        self.connected = connected
        self.queues = QueueView(clock=lambda: 1000.0)
        for headers in (
            {"Event": "QueueMember", "Queue": "operators", "StateInterface": "PJSIP/op1", "Status": "1"},
            {"Event": "QueueMember", "Queue": "operators", "StateInterface": "PJSIP/op2", "Status": "2"},
            {"Event": "QueueCallerJoin", "Queue": "operators", "Channel": "PJSIP/t-2", "Position": "1",
             "CallerIDNum": "09012341234", "Wait": "12"},
        ):
            self.queues.apply(AmiMessage(tuple(headers.items())))


def test_queues_come_from_the_ami_view(settings, clock):
    app = create_app(settings, clock=clock, ami=AmiStandIn(connected=True))
    with TestClient(app) as client:
        [queue] = client.get("/api/v1/queues", headers=auth("staff")).json()["items"]
        assert queue.pop("asterisk") == app.state.nodes.asterisk  # which Asterisk (with several nodes)
        assert queue == {"name": "operators", "logged_in": 2, "available": 1, "longest_wait": 12.0,
                         "callers": [{"position": 1, "caller": "*******1234", "channel": "PJSIP/t-2",
                                      "wait_seconds": 12.0}]}
        assert 'madoguchi_queue_waiting{queue="operators"} 1.0' in client.get("/metrics").text
        assert client.get("/healthz").json()["ami"] == "ok"


def test_queues_are_empty_without_ami(client):
    assert client.get("/api/v1/queues", headers=auth("operator")).json() == {"items": []}


def test_healthz_reports_each_part(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "db": "ok", "audiosocket": "disabled", "ami": "disabled"}


def test_a_configured_part_that_is_not_up_makes_healthz_503(settings, clock):
    probes = {"audiosocket": lambda: "not_started"}
    with TestClient(create_app(settings, clock=clock, probes=probes, ami=AmiStandIn(connected=False))) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "unavailable", "db": "ok", "audiosocket": "not_started",
                                 "ami": "connecting"}


def test_a_database_that_does_not_answer_is_503_not_a_crash(clock):
    settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with TestClient(create_app(settings, clock=clock)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["db"] == "down"
        answer = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                     "date_to": "2026-12-01"}, headers=auth("staff"))
        assert answer.status_code == 503
        assert answer.json()["reason"] == "db_unavailable" and answer.headers["retry-after"]


@pytest.mark.postgres
def test_dropped_connections_are_survived(api_postgres, clock):
    """PostgreSQL restarts or kills our sessions: the next request still answers."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(api_postgres)
    with TestClient(create_app(make_settings(api_postgres), clock=clock)) as client:
        assert client.get("/healthz").status_code == 200
        dsn = url.set(drivername="postgresql", database="test").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid()", (url.database,)).fetchone()[0]
        assert killed >= 1
        answer = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                     "date_to": "2026-12-01"}, headers=auth("staff"))
        assert answer.status_code == 200


def test_openapi_documents_every_route_with_a_summary(client):
    spec = client.get("/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert len(operations) >= 14
    assert all(op.get("summary") for op in operations)
    assert "/api/v1/bookings/{code}" in spec["paths"] and "/healthz" in spec["paths"]
