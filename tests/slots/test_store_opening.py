"""Opening time, on SQLite and PostgreSQL: at a batch's `opens_at` many holders race for few places.

What the store guarantees, and what these tests hold it to:
- never more holds than places: a hold is one conditional UPDATE (`booked + held < capacity` and the
  slot open at the request's `now`), so however many arrive at the opening instant, at most
  `capacity` win (PostgreSQL: the second UPDATE waits for the first's row lock and re-checks;
  SQLite: writers queue on `BEGIN IMMEDIATE`);
- nothing before the opening: a request whose `now` is before `opens_at` is refused with NotOpenYet
  and takes nothing, whatever the order it reaches the database in;
- places come back: a hold that expires (its TTL) gives its place to the next holder;
- arrival order, as far as it is defined: places go to the transactions that commit first. Among
  requests that overlap in time there is no other order to keep (the store keeps no queue); a request
  that arrived after another one had its answer never takes a place that the earlier one was refused.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.errors import HoldExpired, NotOpenYet, SlotFull
from slots.models import Hold, Slot
from slots.views import HoldView
from slotkit import NOW, crowd, person

OPENS = NOW + timedelta(hours=1)
TTL = 30


@pytest.fixture
def racing(db_url):
    """A sessionmaker whose every transaction has its own connection."""
    engine = make_engine(db_url, pool="null")
    yield make_sessionmaker(engine)
    engine.dispose()


def outcome(result) -> str:
    return "held" if isinstance(result, HoldView) else type(result).__name__


def counters(Session, slot_id: int) -> tuple[int, int, int]:  # noqa: N803 - a sessionmaker
    """(held, booked, live holds) of the slot, as the database has them."""
    with Session() as session:
        row = session.get(Slot, slot_id)
        live = session.execute(select(func.count()).select_from(Hold)
                               .where(Hold.slot_id == slot_id, Hold.state == "live")).scalar_one()
        return row.held, row.booked, live


def holders(Session, slot_id: int, now):  # noqa: N803
    return lambda i: run_in_transaction(Session, store.hold, slot_id, ttl_seconds=TTL, channel="web", now=now)


def test_at_the_opening_instant_at_most_capacity_hold_and_the_early_are_refused(racing, slots_of):
    slot = slots_of(capacity=5, opens_at=OPENS)[0]
    early, on_time = holders(racing, slot.id, OPENS - timedelta(milliseconds=1)), holders(racing, slot.id, OPENS)
    results = crowd(120, lambda i: (early if i % 2 else on_time)(i))
    assert Counter(outcome(r) for r in results[1::2]) == {"NotOpenYet": 60}
    assert all(r.opens_at == OPENS for r in results[1::2])
    assert Counter(outcome(r) for r in results[0::2]) == {"held": 5, "SlotFull": 55}
    assert len({r.id for r in results if isinstance(r, HoldView)}) == 5
    assert counters(racing, slot.id) == (5, 0, 5)


def test_an_expired_hold_gives_its_place_back_to_the_next_holder(racing, slots_of):
    slot = slots_of(capacity=3, opens_at=OPENS)[0]
    first = crowd(40, holders(racing, slot.id, OPENS))
    assert Counter(outcome(r) for r in first) == {"held": 3, "SlotFull": 37}
    before_expiry = crowd(10, holders(racing, slot.id, OPENS + timedelta(seconds=TTL - 1)))
    assert Counter(outcome(r) for r in before_expiry) == {"SlotFull": 10}

    at_expiry = OPENS + timedelta(seconds=TTL)
    second = crowd(40, holders(racing, slot.id, at_expiry))
    assert Counter(outcome(r) for r in second) == {"held": 3, "SlotFull": 37}
    assert counters(racing, slot.id) == (3, 0, 3)
    expired = next(r for r in first if isinstance(r, HoldView))
    with pytest.raises(HoldExpired):  # its place went to a later holder: it cannot be confirmed
        run_in_transaction(racing, store.confirm, expired.id, person(1), channel="web", now=at_expiry)
    fresh = next(r for r in second if isinstance(r, HoldView))
    booked = run_in_transaction(racing, store.confirm, fresh.id, person(2), channel="web", now=at_expiry)
    assert booked.slot_id == slot.id and counters(racing, slot.id) == (2, 1, 2)


def test_a_later_arrival_never_takes_a_place_an_earlier_one_was_refused(racing, slots_of):
    """Waves: each starts once the one before has its answers. Within a wave the first committed
    win; across waves, arrival order holds."""
    slot = slots_of(capacity=5, opens_at=OPENS)[0]
    waves = [crowd(n, holders(racing, slot.id, OPENS + timedelta(seconds=k))) for k, n in enumerate((3, 20, 10))]
    assert [Counter(outcome(r) for r in wave) for wave in waves] == [
        {"held": 3}, {"held": 2, "SlotFull": 18}, {"SlotFull": 10}]
    late = OPENS + timedelta(seconds=3)
    with pytest.raises(SlotFull):
        holders(racing, slot.id, late)(0)
    assert counters(racing, slot.id) == (5, 0, 5)


def test_requests_one_after_another_are_served_in_arrival_order(tx, slots_of):
    slot = slots_of(capacity=3, opens_at=OPENS)[0]
    answers = []
    for i in range(6):
        try:
            answers.append(tx(store.hold, slot.id, ttl_seconds=TTL, channel="web", now=OPENS + timedelta(seconds=i)).id)
        except (SlotFull, NotOpenYet) as refused:
            answers.append(refused.reason)
    assert [type(a).__name__ for a in answers] == ["int"] * 3 + ["str"] * 3
    assert answers[3:] == ["slot_full"] * 3
