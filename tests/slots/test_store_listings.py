"""Listings for staff pages: services, sites, and when bookings were made."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slots import store
from slots.errors import InvalidInput
from slotkit import NOW, person


def test_services_and_sites_in_name_order(tx, slots_of):
    assert tx(store.list_services) == [] and tx(store.list_sites) == []
    slots_of(service="vaccine", site="市役所")
    slots_of(service="vaccine", site="保健センター")
    slots_of(service="checkup", site="公民館")
    assert tx(store.list_services) == ["checkup", "vaccine"]
    assert tx(store.list_sites) == sorted(["市役所", "保健センター", "公民館"])
    assert tx(store.list_sites, "vaccine") == sorted(["市役所", "保健センター"])
    assert tx(store.list_sites, "nothing") == []


def test_bookings_created_between(tx, slots_of):
    first, second = slots_of(capacity=3)
    made = [NOW, NOW + timedelta(minutes=30), NOW + timedelta(hours=2)]
    codes = [tx(store.book, first.id, person(n), channel="web", now=moment).code for n, moment in enumerate(made)]
    tx(store.cancel, codes[1], channel="web", now=NOW + timedelta(hours=3))
    tx(store.book, second.id, person(9), channel="phone", now=NOW - timedelta(seconds=1))

    assert tx(store.bookings_created_between, NOW, NOW + timedelta(hours=2)) == made[:2]  # cancelled too
    assert tx(store.bookings_created_between, NOW, NOW + timedelta(days=1)) == made
    assert tx(store.bookings_created_between, NOW + timedelta(days=1), NOW + timedelta(days=2)) == []
    assert all(moment.utcoffset() == timedelta(0) for moment in tx(store.bookings_created_between, *made[::2]))


def test_bookings_created_between_wants_aware_bounds(tx):
    with pytest.raises(InvalidInput):
        tx(store.bookings_created_between, NOW.replace(tzinfo=None), NOW)
