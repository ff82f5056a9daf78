"""A hold or booking request whose COMMIT reached the database but whose connection dropped is
retried by the store's transaction runner; its request key makes the retry return the first result."""

from __future__ import annotations

import pytest

from apikit import auth
from tests.fixtures.databases import dropped_commits

PERSON = {"ticket_number": "0123456789", "birthdate": "1950-04-01"}


@pytest.fixture
def drop_next_commit(client):
    """The next COMMIT of the app's store reaches the database, then fails like a dropped connection."""
    with dropped_commits(client.app.state.sessionmaker) as drop:
        yield drop


def slot_state(client, slot):
    seen = client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()
    return seen["booked"], seen["held"]


def test_a_hold_and_its_confirm_survive_a_dropped_commit_once_each(client, released, drop_next_commit):
    slot = released[0]
    drop_next_commit()
    hold = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 120}, headers=auth("channel"))
    assert hold.status_code == 201 and slot_state(client, slot) == (0, 1)
    drop_next_commit()
    booking = client.post("/api/v1/bookings", json={"hold_id": hold.json()["id"], **PERSON}, headers=auth("channel"))
    assert booking.status_code == 201, booking.json()
    assert slot_state(client, slot) == (1, 0)


def test_a_direct_booking_survives_a_dropped_commit_once(client, released, drop_next_commit):
    slot = released[1]
    drop_next_commit()
    booking = client.post("/api/v1/bookings", json={"slot_id": slot["id"], **PERSON}, headers=auth("channel"))
    assert booking.status_code == 201, booking.json()
    assert slot_state(client, slot) == (1, 0)
