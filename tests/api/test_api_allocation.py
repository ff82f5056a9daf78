"""The phone reserve through the API: set at release, shown on slots, enforced for other channels."""

from __future__ import annotations

from apikit import BATCH, auth

SLOTS = {"service": "vaccine", "date_from": "2026-12-01", "date_to": "2026-12-01"}


def test_a_batch_with_a_phone_reserve_keeps_it_from_other_channels(client):
    body = {**BATCH, "phone_reserved_percent": 50, "phone_reserved_hours": 48}
    created = client.post("/api/v1/batches", json=body, headers=auth("staff"))
    assert created.status_code == 201 and created.json()["created"] == 8
    slot = client.get("/api/v1/slots", params=SLOTS, headers=auth("staff")).json()["items"][0]
    assert (slot["phone_reserved"], slot["phone_taken"]) == (1, 0)
    assert slot["phone_reserved_until"] == "2026-11-29T09:00:00+09:00"
    first = {"slot_id": slot["id"], "ticket_number": "123456781", "birthdate": "1950-01-01"}
    assert client.post("/api/v1/bookings", json=first, headers=auth("chat")).status_code == 201
    second = client.post("/api/v1/bookings", json={**first, "ticket_number": "123456782"}, headers=auth("chat"))
    assert second.status_code == 409 and second.json()["reason"] == "slot_full"


def test_a_bad_reserve_is_422(client):
    for field, value in (("phone_reserved_percent", 101), ("phone_reserved_hours", -1)):
        response = client.post("/api/v1/batches", json={**BATCH, field: value}, headers=auth("staff"))
        assert response.status_code == 422, field


def test_a_channel_token_sees_the_places_free_for_its_channel(client):
    """Capacity 2, 50 % for the phone: after one chat booking the slot is full for chat (the other
    place is the phone's) and `available=true` leaves it out for chat; staff still see one place."""
    body = {**BATCH, "phone_reserved_percent": 50, "phone_reserved_hours": 48}
    assert client.post("/api/v1/batches", json=body, headers=auth("staff")).status_code == 201
    before = client.get("/api/v1/slots", params=SLOTS, headers=auth("chat")).json()["items"][0]
    assert (before["capacity"], before["available"]) == (2, 1)  # the phone's place is not chat's
    booking = {"slot_id": before["id"], "ticket_number": "123456781", "birthdate": "1950-01-01"}
    assert client.post("/api/v1/bookings", json=booking, headers=auth("chat")).status_code == 201
    for_chat = client.get("/api/v1/slots", params={**SLOTS, "available": "true"}, headers=auth("chat")).json()
    for_staff = client.get("/api/v1/slots", params={**SLOTS, "available": "true"}, headers=auth("staff")).json()
    assert before["id"] not in [s["id"] for s in for_chat["items"]]
    assert [s["available"] for s in for_staff["items"] if s["id"] == before["id"]] == [1]
