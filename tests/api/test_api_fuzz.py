"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis): no input, valid or not, with any
role's token, makes it answer 5xx. Runs on SQLite and PostgreSQL (ids past 64 bits, NUL bytes in
strings and dates out of range reach the database differently), on a store with a released batch so
that generated ids sometimes hit real slots.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from ivr.app import create_app
from ivr.events import EventBus
from slots.db import make_engine, make_sessionmaker
from apikit import BATCH, Clock, TOKENS, auth, make_settings

ROLES = ("staff", "channel", "operator")


@pytest.fixture
def api_schema(db_url, clock: Clock) -> Iterator[schemathesis.BaseSchema]:
    engine = make_engine(db_url)
    app = create_app(make_settings(db_url), sessionmaker=make_sessionmaker(engine), bus=EventBus(), clock=clock)
    with TestClient(app) as client:
        assert client.post("/api/v1/batches", json=BATCH, headers=auth("staff")).status_code == 201
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        engine.dispose()


def _no_server_error(case) -> None:
    for role in ROLES:
        response = case.call(headers={"Authorization": f"Bearer {TOKENS[role]}"})
        assert response.status_code < 500, (role, case.as_curl_command(), response.text[:300])
    response = case.call(headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code < 500, ("bad token", case.as_curl_command(), response.text[:300])


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_fuzz_no_input_makes_the_api_answer_a_server_error(api_schema, mode):
    """Every operation: schema-valid inputs (positive) and inputs that break the schema (negative)."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)  # the same cases every run: CI is not where new ones are found
        def fuzz(case) -> None:
            _no_server_error(case)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing to break: an operation without inputs
        except Exception as error:  # noqa: BLE001 - an app exception reaches us through the test client
            failures.append(f"{operation.label}: {type(error).__name__}: {str(error)[:2000]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "/api/v1/slots?service=vaccine&date_from=0001-01-01&date_to=0001-01-02", None),
    ("GET", "/api/v1/slots?service=vaccine&date_from=9999-12-31&date_to=9999-12-31", None),
    ("GET", "/api/v1/callbacks?date=9999-12-31", None),
    ("GET", f"/api/v1/callbacks?offset={2 ** 63}", None),
    ("GET", f"/api/v1/slots/{2 ** 31}", None),
    ("POST", f"/api/v1/slots/{2 ** 64}/close", None),
    ("POST", "/api/v1/holds", {"slot_id": 2 ** 31, "ttl_seconds": 60}),
    ("POST", f"/api/v1/callbacks/{2 ** 63}", {"status": "done"}),
])
def test_what_the_fuzzer_found_is_a_client_error(client, method, url, body):
    """Dates that leave the calendar in UTC and ids past the columns' range: 4xx, never 500."""
    response = client.request(method, url, json=body, headers=auth("staff"))
    assert 400 <= response.status_code < 500, response.text
    assert "0001-01-01" not in response.text  # the input is not echoed
