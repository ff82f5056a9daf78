"""A hold or a booking whose COMMIT succeeded is never made twice when the connection drops during
COMMIT and `run_in_transaction` retries: each attempt carries a request key, stored with the hold or
booking (unique), and a retry with the same key returns the first result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from slots import store
from slots.db import run_in_transaction
from slots.errors import InvalidInput
from slots.models import AuditEntry, Booking, Hold
from slotkit import NOW, person
from tests.fixtures.databases import dropped_commits


@pytest.fixture
def commit_then_drop(Session):
    """The next COMMIT reaches the database, then fails as a dropped connection would."""
    with dropped_commits(Session) as drop:
        yield drop


def count(tx, model, **where):
    def run(session):
        return session.execute(select(func.count()).select_from(model).filter_by(**where)).scalar_one()
    return tx(run)


def test_a_hold_retried_after_its_commit_is_not_taken_twice(tx, Session, slots_of, commit_then_drop):
    slot = slots_of(capacity=2)[0]
    commit_then_drop()
    hold = run_in_transaction(Session, store.hold, slot.id, ttl_seconds=300, channel="phone", now=NOW,
                              request_key="call-1/hold-1", backoff=0)
    assert count(tx, Hold) == 1 and count(tx, AuditEntry, action="hold") == 1
    assert tx(store.get_slot, slot.id, now=NOW).held == 1
    again = tx(store.hold, slot.id, ttl_seconds=300, channel="phone", now=NOW + timedelta(seconds=5),
               request_key="call-1/hold-1")
    assert again == hold
    other = tx(store.hold, slot.id, ttl_seconds=300, channel="phone", now=NOW, request_key="call-1/hold-2")
    assert other.id != hold.id and tx(store.get_slot, slot.id, now=NOW).held == 2


def test_a_confirm_retried_after_its_commit_returns_the_first_booking(tx, Session, slots_of, commit_then_drop):
    slot = slots_of(capacity=2)[0]
    hold = tx(store.hold, slot.id, ttl_seconds=300, channel="phone", now=NOW, request_key="h")
    commit_then_drop()
    booking = run_in_transaction(Session, store.confirm, hold.id, person(1), channel="phone", now=NOW,
                                 request_key="call-1/confirm-1", backoff=0)
    assert booking.status == "confirmed" and count(tx, Booking) == 1
    again = tx(store.confirm, hold.id, person(1), channel="phone", now=NOW, request_key="call-1/confirm-1")
    assert again == booking
    seen = tx(store.get_slot, slot.id, now=NOW)
    assert (seen.booked, seen.held) == (1, 0)


def test_a_direct_booking_retried_after_its_commit_is_made_once(tx, Session, slots_of, commit_then_drop):
    slot = slots_of(capacity=2)[0]
    commit_then_drop()
    booking = run_in_transaction(Session, store.book, slot.id, person(2), channel="web", now=NOW,
                                 request_key="web-req-1", backoff=0)
    assert count(tx, Booking) == 1 and tx(store.get_slot, slot.id, now=NOW).booked == 1
    assert tx(store.book, slot.id, person(2), channel="web", now=NOW, request_key="web-req-1") == booking


def test_a_request_key_is_not_reused_for_another_request(tx, slots_of):
    first, second = slots_of(capacity=2)[:2]
    hold = tx(store.hold, first.id, ttl_seconds=300, channel="phone", now=NOW, request_key="k1")
    with pytest.raises(InvalidInput, match="request key"):
        tx(store.hold, second.id, ttl_seconds=300, channel="phone", now=NOW, request_key="k1")
    tx(store.confirm, hold.id, person(3), channel="phone", now=NOW, request_key="k2")
    other = tx(store.hold, second.id, ttl_seconds=300, channel="phone", now=NOW, request_key="k3")
    with pytest.raises(InvalidInput, match="request key"):
        tx(store.confirm, other.id, person(4), channel="phone", now=NOW, request_key="k2")
    with pytest.raises(InvalidInput, match="request key"):
        tx(store.hold, first.id, ttl_seconds=300, channel="phone", now=NOW, request_key="x" * 65)
