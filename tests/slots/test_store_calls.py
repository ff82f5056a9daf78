"""Call records and their statistics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from slots import store
from slots.errors import InvalidInput
from slots.outcomes import CallOutcome
from slotkit import NOW


def call(tx, call_id, minute, seconds, outcome, last_step, transferred=False):
    start = NOW + timedelta(minutes=minute)
    return tx(store.record_call, call_id=call_id, started_at=start, ended_at=start + timedelta(seconds=seconds),
              outcome=outcome, last_step=last_step, steps=["greeting", last_step], confidences=[0.9, 0.7],
              transferred=transferred)


def test_call_stats(tx):
    call(tx, "a", 0, 100, "booked", "goodbye")
    call(tx, "b", 10, 140, "booked", "goodbye")
    call(tx, "c", 20, 30, "abandoned", "ticket")
    call(tx, "d", 70, 20, "failed", "ticket")
    call(tx, "e", 80, 50, "transferred", "menu", transferred=True)
    call(tx, "outside", 60 * 24, 50, "booked", "goodbye")
    stats = tx(store.call_stats, NOW, NOW + timedelta(hours=2))
    assert stats.total == 5
    assert stats.by_outcome == {"booked": 2, "abandoned": 1, "failed": 1, "transferred": 1}
    assert stats.per_hour == {NOW: 3, NOW + timedelta(hours=1): 2}
    assert stats.dropout_by_step == {"ticket": 2}
    assert stats.transferred == 1 and stats.avg_booking_seconds == 120.0
    empty = tx(store.call_stats, NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert (empty.total, empty.avg_booking_seconds) == (0, None)


def test_a_call_is_recorded_once_and_checked(tx):
    call(tx, "a", 0, 10, "booked", "goodbye")
    with pytest.raises(IntegrityError):
        call(tx, "a", 0, 10, "booked", "goodbye")
    with pytest.raises(InvalidInput):
        call(tx, "", 0, 10, "booked", "goodbye")
    with pytest.raises(InvalidInput):
        tx(store.record_call, call_id="z", started_at=NOW.replace(tzinfo=None), ended_at=None, outcome="booked",
           last_step=None)


@pytest.mark.parametrize("outcome", ["error", "hangup", "timeout", "x"])
def test_only_the_shared_outcomes_are_recorded(tx, outcome):
    """The session, the store and the dashboard share one CallOutcome: a drifted string is refused."""
    with pytest.raises(InvalidInput, match="outcome"):
        call(tx, "drifted", 0, 10, outcome, "ticket")


def test_a_failed_call_counts_as_a_drop_out(tx):
    call(tx, "f", 0, 10, CallOutcome.FAILED, "ticket")
    stats = tx(store.call_stats, NOW, NOW + timedelta(hours=1))
    assert stats.dropout_by_step == {"ticket": 1}
    assert stats.by_outcome == {CallOutcome.FAILED: 1} and isinstance(next(iter(stats.by_outcome)), CallOutcome)
