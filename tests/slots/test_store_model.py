"""Property test: random sequences of store operations agree with a tiny in-memory model.

Each Hypothesis example uses its own service name, so examples share the test's database without
seeing each other's slots, and every step compares each slot's counters with the model.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from slots import store
from slots.db import run_in_transaction
from slots.errors import AlreadyBooked, HoldExpired, SlotFull
from slotkit import NOW, person, spec

CAPACITIES = (1, 2, 2)
PEOPLE = 5
EXAMPLES = {"sqlite": 30, "postgresql": 12}
_services = itertools.count()


def store_machine(Session):
    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.service = f"prop{next(_services)}"
            self.t = 0
            for n, capacity in enumerate(CAPACITIES):  # one slot per batch: 09:00, 10:00, 11:00
                batch = spec(capacity, service=self.service, times=(f"{9 + n:02d}:00-{9 + n:02d}:30",))
                self.tx(store.release_batch, batch, actor="staff")
            found = self.tx(store.list_slots, self.service, NOW, NOW + timedelta(days=30))
            assert [s.capacity for s in found] == list(CAPACITIES)
            self.slot_ids = [s.id for s in found]
            self.holds: list[dict] = []  # {id, slot, expires, state}
            self.bookings: list[dict] = []  # {code, slot, person, status}

        def now(self):
            return NOW + timedelta(seconds=self.t)

        def tx(self, fn, *args, **kw):
            return run_in_transaction(Session, fn, *args, now=self.now(), **kw)

        # --- the model ---
        def expire(self, slot=None):
            for h in self.holds:
                if h["state"] == "live" and h["expires"] <= self.t and slot in (None, h["slot"]):
                    h["state"] = "expired"

        def used(self, slot):
            booked = sum(b["slot"] == slot and b["status"] == "confirmed" for b in self.bookings)
            held = sum(h["slot"] == slot and h["state"] == "live" for h in self.holds)
            return booked, held

        def free(self, slot):
            return sum(self.used(slot)) < CAPACITIES[slot]

        def has_booking(self, who):
            return any(b["person"] == who and b["status"] == "confirmed" for b in self.bookings)

        # --- the rules ---
        @rule(seconds=st.integers(0, 40))
        def advance(self, seconds):
            self.t += seconds

        @rule(slot=st.integers(0, len(CAPACITIES) - 1), ttl=st.integers(1, 60))
        def hold(self, slot, ttl):
            self.expire(slot)
            try:
                got = self.tx(store.hold, self.slot_ids[slot], ttl_seconds=ttl, channel="phone")
            except SlotFull:
                assert not self.free(slot)
                return
            assert self.free(slot)
            self.holds.append({"id": got.id, "slot": slot, "expires": self.t + ttl, "state": "live"})

        @rule(data=st.data())
        def release(self, data):
            if self.holds:
                h = data.draw(st.sampled_from(self.holds))
                self.tx(store.release_hold, h["id"])
                if h["state"] == "live":
                    h["state"] = "released"

        @rule(data=st.data(), who=st.integers(0, PEOPLE - 1))
        def confirm(self, data, who):
            if not self.holds:
                return
            h = data.draw(st.sampled_from(self.holds))
            if self.has_booking(who):
                expected = AlreadyBooked
            elif h["state"] == "live" and h["expires"] > self.t:
                expected = None
            else:
                self.expire(h["slot"])
                expected = None if h["state"] == "expired" and self.free(h["slot"]) else HoldExpired
            try:
                booking = self.tx(store.confirm, h["id"], person(who), channel="phone")
            except (AlreadyBooked, HoldExpired) as error:
                assert type(error) is expected
                return
            assert expected is None
            h["state"] = "consumed"
            self.bookings.append({"code": booking.code, "slot": h["slot"], "person": who, "status": "confirmed"})

        @rule(slot=st.integers(0, len(CAPACITIES) - 1), who=st.integers(0, PEOPLE - 1))
        def book(self, slot, who):
            self.expire(slot)
            expected = AlreadyBooked if self.has_booking(who) else (None if self.free(slot) else SlotFull)
            try:
                booking = self.tx(store.book, self.slot_ids[slot], person(who), channel="web")
            except (AlreadyBooked, SlotFull) as error:
                assert type(error) is expected
                return
            assert expected is None
            self.bookings.append({"code": booking.code, "slot": slot, "person": who, "status": "confirmed"})

        @rule(data=st.data())
        def cancel(self, data):
            if self.bookings:
                b = data.draw(st.sampled_from(self.bookings))
                assert self.tx(store.cancel, b["code"], channel="web").status == "cancelled"
                b["status"] = "cancelled"

        @rule(data=st.data(), slot=st.integers(0, len(CAPACITIES) - 1))
        def reschedule(self, data, slot):
            live = [b for b in self.bookings if b["status"] == "confirmed"]
            if not live:
                return
            b = data.draw(st.sampled_from(live))
            self.expire(slot)
            expected = None if slot == b["slot"] or self.free(slot) else SlotFull
            try:
                moved = self.tx(store.reschedule, b["code"], self.slot_ids[slot], channel="phone")
            except SlotFull:
                assert expected is SlotFull
                return
            assert expected is None and moved.slot_id == self.slot_ids[slot]
            b["slot"] = slot

        @invariant()
        def counters_agree(self):
            self.expire()
            for slot, slot_id in enumerate(self.slot_ids):
                view = self.tx(store.get_slot, slot_id)
                assert (view.booked, view.held) == self.used(slot)
                assert view.available == CAPACITIES[slot] - sum(self.used(slot))

    return StoreMachine


def test_store_agrees_with_the_model(Session, engine):
    examples = EXAMPLES[engine.dialect.name]
    run_state_machine_as_test(store_machine(Session), settings=settings(
        max_examples=examples, stateful_step_count=20, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    ))
