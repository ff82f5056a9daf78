"""PostgreSQL restarted under the service (a private server; the shared one is never touched).

The HTTP API answers 503 `db_unavailable` while the database is down and 200 again once it is
back, without a restart. A call whose store action meets the outage is apologised to and handed
to an operator; nothing is half-written (its hold is swept when its TTL passes, no booking is
made), and the next call on the same process books normally.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from dialogs.engine import Engine
from ivr.app import create_app
from ivr.config import Settings
from ivr.store_calls import DialogStore
from ivr.events import EventBus
from ivr.listen_hints import hints_for
from ivr.session import APOLOGY_TRANSFER, CallSession, SessionDeps, Timing
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.outcomes import CallOutcome
from tests.fixtures.private_postgres import private_postgres
from tests.session.test_session import (
    DAY, KEYS_TO_HOLD, SCRIPT, TODAY, Caller, FakeAmi, FakeBargeIn, FakeConn, FakeRecognizer, FakeSynth,
)

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

STAFF = "s" * 32
NOW = datetime(2026, 11, 24, 1, tzinfo=UTC)


@pytest.fixture
def pg():
    with private_postgres() as server:
        yield server


def test_the_api_answers_503_while_the_database_is_down_and_recovers_without_a_restart(pg):
    settings = Settings(db=pg.url, api_tokens=f"staff:{STAFF}", person_key="pg-restart-key", timezone="Asia/Tokyo")
    query = {"service": "vaccine", "date_from": "2026-12-01", "date_to": "2026-12-02"}
    headers = {"Authorization": f"Bearer {STAFF}"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/slots", params=query, headers=headers).status_code == 200
        assert client.get("/healthz").status_code == 200
        pg.stop()
        down = client.get("/api/v1/slots", params=query, headers=headers)
        assert down.status_code == 503 and down.json()["reason"] == "db_unavailable" and down.headers["Retry-After"]
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["db"] != "ok"
        pg.start()
        assert client.get("/api/v1/slots", params=query, headers=headers).status_code == 200
        assert client.get("/healthz").status_code == 200


def _call(factory, settings, answers, *, before_store=None):
    """One call through CallSession with the real engine, script and DialogStore (stand-in audio)."""
    bus, conn, recognizer, synth, ami = EventBus(), FakeConn(), FakeRecognizer(), FakeSynth(), FakeAmi()
    dialog_store = DialogStore(factory, settings, clock=lambda: NOW)

    def execute(call, *, call_id, channel):
        if before_store is not None:
            before_store(call)
        return dialog_store.execute(call, call_id=call_id, channel=channel)

    deps = SessionDeps(
        recognizer=recognizer, synthesizer=synth, engine_factory=lambda today: Engine(SCRIPT, today=today),
        store=execute, bus=bus, endpointer_factory=Caller(conn, recognizer, answers).listening,
        barge_in_factory=FakeBargeIn, hints_factory=hints_for, today=lambda: TODAY, ami=ami,
        timing=Timing(reprompt_silence=0.3, digit_timeout=0.3, max_call=60),
    )

    async def main():
        bus.bind(asyncio.get_running_loop())
        return await CallSession(conn, deps).run()

    return asyncio.run(main()), synth, ami, conn


def test_a_call_whose_confirmation_meets_the_outage_is_apologised_to_and_handed_over_then_the_next_books(pg):
    settings = Settings(db=pg.url, person_key="pg-restart-key", timezone="Asia/Tokyo")
    engine = make_engine(pg.url)
    factory = make_sessionmaker(engine)
    try:
        batch = BatchSpec(service="vaccine", site="市民会館", date_from=DAY, date_to=DAY, times=("10:00-11:00",),
                          every_minutes=30, capacity=1)
        run_in_transaction(factory, store.release_batch, batch, actor="test", now=NOW - timedelta(days=4))

        def stop_before_confirm(call) -> None:
            if call.op == "confirm":
                pg.stop()  # the database goes away between the hold and the booking

        outcome, synth, ami, conn = _call(factory, settings, [*KEYS_TO_HOLD, ("keys", "1")],
                                          before_store=stop_before_confirm)
        assert outcome == CallOutcome.TRANSFERRED
        said = "".join(synth.said)  # prompts are rendered in pieces
        assert SCRIPT.messages["error"] in said or APOLOGY_TRANSFER in said, synth.said[-6:]
        assert ami.vars == [("PJSIP/trunk-0001", "IVR_NEXT", "operator")] * 2 and conn.hung_up

        pg.start()
        day = datetime.combine(DAY, datetime.min.time(), settings.tz)
        seen = run_in_transaction(factory, store.list_slots, "vaccine", day, day + timedelta(days=1), now=NOW)
        assert sum(s.booked for s in seen) == 0, "no booking was half-made"
        later = NOW + timedelta(seconds=settings.hold_ttl_seconds + 1)
        swept = run_in_transaction(factory, store.list_slots, "vaccine", day, day + timedelta(days=1), now=later)
        assert all(s.held == 0 for s in swept), "the hold the outage kept is free again after its TTL"

        outcome, *_ = _call(factory, settings, [*KEYS_TO_HOLD, ("keys", "1")])
        assert outcome == CallOutcome.BOOKED, "the same process serves the next call once the database is back"
    finally:
        engine.dispose()
