"""PostgreSQL restarted while holds and bookings are in flight (a private server, stopped and started
under four writer threads): every attempt ends with its result (run_in_transaction rides out the
outage), nothing is half-written (the slots' counters equal their live holds and bookings) and no
retry of a COMMIT that did go through made a second hold or booking.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.models import Booking, Hold, Slot
from tests.fixtures.private_postgres import private_postgres
from slotkit import EVER, NOW, person, spec

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

WORKERS, PER_WORKER = 4, 12


def test_holds_and_bookings_in_flight_survive_a_restart_whole():
    with private_postgres() as pg:
        engine = make_engine(pg.url)
        factory = make_sessionmaker(engine)
        try:
            run_in_transaction(factory, store.release_batch, spec(capacity=WORKERS, days=4, times=("09:00-12:00",)),
                               actor="test", now=NOW)
            slots = run_in_transaction(factory, store.list_slots, "vaccine", *EVER, now=NOW)
            results: list[tuple[str, object]] = []
            lock, started = threading.Lock(), threading.Barrier(WORKERS + 1)

            def worker(w: int) -> None:
                started.wait()
                for i in range(PER_WORKER):
                    n = w * PER_WORKER + i
                    slot = slots[n % len(slots)]
                    now = NOW + timedelta(seconds=n)
                    try:
                        held = run_in_transaction(factory, store.hold, slot.id, ttl_seconds=600, channel="phone",
                                                  now=now, request_key=uuid.uuid4().hex)
                        booking = run_in_transaction(factory, store.confirm, held.id, person(n), channel="phone",
                                                     now=now, request_key=uuid.uuid4().hex)
                        outcome: tuple[str, object] = ("booked", (held.id, booking.code))
                    except Exception as error:  # noqa: BLE001 - counted and shown below
                        outcome = ("failed", f"{type(error).__name__}: {str(error)[:200]}")
                    with lock:
                        results.append(outcome)
                    time.sleep(0.05)

            threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
            for thread in threads:
                thread.start()
            started.wait()
            time.sleep(0.3)  # writers are busy
            down = time.monotonic()
            pg.stop("fast")  # sessions are terminated mid-transaction, new connections refused
            time.sleep(0.5)
            pg.start()
            outage = time.monotonic() - down
            for thread in threads:
                thread.join(120)

            failed = [detail for kind, detail in results if kind == "failed"]
            assert len(results) == WORKERS * PER_WORKER
            assert not failed, f"lost across a {outage:.1f} s outage: {failed}"
            with factory() as session:
                codes = set(session.scalars(select(Booking.code).where(Booking.status == "confirmed")))
                assert codes == {code for _, (_, code) in results}, "a booking no caller was told of, or one lost"
                hold_rows = session.scalar(select(func.count()).select_from(Hold))
                assert hold_rows == len(results), "a retried hold was made twice"
                for slot in session.scalars(select(Slot)):
                    live = session.scalar(select(func.count()).select_from(Hold).where(
                        Hold.slot_id == slot.id, Hold.state == "live"))
                    confirmed = session.scalar(select(func.count()).select_from(Booking).where(
                        Booking.slot_id == slot.id, Booking.status == "confirmed"))
                    assert (slot.held, slot.booked) == (live, confirmed), f"slot {slot.id} counters are half-written"
        finally:
            engine.dispose()
