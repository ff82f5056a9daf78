"""The checks a hold and a confirm make before they take a place, read in one statement each: a
channel's live holds against `max_live`, a request key's earlier result, an expired hold on the slot
to sweep first, a confirm of another channel's hold, a person's active booking."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slots import store
from slots.errors import AlreadyBooked, InvalidInput, NotFound, SlotFull, TooManyHolds
from slotkit import NOW, person


def test_a_channel_holds_at_most_max_live_places(tx, slots_of):
    slot = slots_of(capacity=5)[0]
    first = tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW, max_live=2, request_key="a")
    tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW, max_live=2, request_key="b")
    with pytest.raises(TooManyHolds):
        tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW, max_live=2, request_key="c")
    # a retry of an attempt that made its hold gets it back, limit or not; another channel is not counted
    assert tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW, max_live=2, request_key="a") == first
    tx(store.hold, slot.id, ttl_seconds=60, channel="chat", now=NOW, max_live=2)
    # expired holds no longer count, even before they are swept
    later = NOW + timedelta(seconds=61)
    tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=later, max_live=2)
    assert tx(store.get_slot, slot.id, now=later).held == 1  # the three expired holds were swept


def test_a_request_key_used_for_another_slot_is_refused(tx, slots_of):
    one, two = slots_of(capacity=2)[:2]
    tx(store.hold, one.id, ttl_seconds=60, channel="web", now=NOW, request_key="k")
    with pytest.raises(InvalidInput):
        tx(store.hold, two.id, ttl_seconds=60, channel="web", now=NOW, request_key="k")


def test_an_expired_hold_gives_its_place_to_the_next_hold_on_its_slot(tx, slots_of):
    slot = slots_of(capacity=1)[0]
    tx(store.hold, slot.id, ttl_seconds=60, channel="phone", now=NOW)
    with pytest.raises(SlotFull):
        tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW + timedelta(seconds=30))
    later = NOW + timedelta(seconds=61)
    tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=later)
    seen = tx(store.get_slot, slot.id, now=later)
    assert (seen.held, seen.phone_taken) == (1, 0)


def test_a_confirm_of_another_channels_hold_is_not_found_and_takes_nothing(tx, slots_of):
    slot = slots_of(capacity=2)[0]
    hold = tx(store.hold, slot.id, ttl_seconds=60, channel="web", now=NOW)
    with pytest.raises(NotFound):
        tx(store.confirm, hold.id, person(1), channel="chat", now=NOW, own_hold_only=True)
    with pytest.raises(NotFound):
        tx(store.confirm, hold.id + 99, person(1), channel="web", now=NOW, own_hold_only=True)
    booking = tx(store.confirm, hold.id, person(1), channel="web", now=NOW, own_hold_only=True)
    assert booking.slot_id == slot.id and tx(store.get_slot, slot.id, now=NOW).booked == 1


def test_a_confirm_for_a_person_booked_already_is_refused(tx, slots_of):
    one, two = slots_of(capacity=2)[:2]
    tx(store.confirm, tx(store.hold, one.id, ttl_seconds=60, channel="web", now=NOW).id, person(1), channel="web",
       now=NOW)
    second = tx(store.hold, two.id, ttl_seconds=60, channel="web", now=NOW)
    with pytest.raises(AlreadyBooked):
        tx(store.confirm, second.id, person(1), channel="web", now=NOW)
    assert tx(store.get_slot, two.id, now=NOW).held == 1  # the hold stays until it is released or expires
