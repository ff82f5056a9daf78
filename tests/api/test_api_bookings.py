"""Holds and bookings through the API: conflicts answer 409 with a machine-readable reason."""

from __future__ import annotations

import json

from apikit import BATCH, auth

PERSON = {"ticket_number": "0123456789", "birthdate": "1950-04-01"}
BOOKING_KEYS = {"code", "status", "service", "site", "slot_id", "start", "end", "channel", "created_at"}


def book(client, slot_id, n=0, role="channel", **extra):
    body = {"slot_id": slot_id, "ticket_number": f"55500000{n:02d}", "birthdate": "1960-01-01", **extra}
    return client.post("/api/v1/bookings", json=body, headers=auth(role))


def test_booking_a_slot_and_reading_it_back(client, released, clock):
    slot = released[2]
    answer = client.post("/api/v1/bookings", json={"slot_id": slot["id"], **PERSON}, headers=auth("channel"))
    assert answer.status_code == 201
    booking = answer.json()
    assert set(booking) == BOOKING_KEYS
    assert booking["code"].isdigit() and booking["status"] == "confirmed"
    assert (booking["slot_id"], booking["start"], booking["end"]) == (slot["id"], slot["start"], slot["end"])
    assert booking["channel"] == "web" and booking["created_at"] == "2026-11-24T10:00:00+09:00"
    for role in ("channel", "operator", "staff"):
        assert client.get(f"/api/v1/bookings/{booking['code']}", headers=auth(role)).json() == booking
    listed = client.get("/api/v1/bookings", params={"service": "vaccine", "date": "2026-12-01"},
                        headers=auth("staff")).json()
    assert listed == {"items": [booking], "next_offset": None}
    assert client.get("/api/v1/bookings", params={"date": "2026-12-02"}, headers=auth("staff")).json()["items"] == []
    # Nothing but the random code may contain the ticket's digits or the birth year.
    others = json.dumps([{k: v for k, v in b.items() if k != "code"} for b in (booking, *listed["items"])])
    assert "0123456789" not in others and "1950" not in others and "6789" not in others


def test_hold_then_confirm(client, released, clock):
    slot = released[0]
    hold = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 120}, headers=auth("channel"))
    assert hold.status_code == 201
    assert hold.json()["slot_id"] == slot["id"] and hold.json()["expires_at"] == "2026-11-24T10:02:00+09:00"
    held = client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()
    assert (held["held"], held["available"]) == (1, 1)
    booking = client.post("/api/v1/bookings", json={"hold_id": hold.json()["id"], **PERSON}, headers=auth("channel"))
    assert booking.status_code == 201 and booking.json()["channel"] == "web"  # the hold's own channel confirms
    after = client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()
    assert (after["booked"], after["held"], after["available"]) == (1, 0, 1)


def test_released_hold_gives_the_place_back_and_release_is_idempotent(client, released):
    slot = released[0]
    hold = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 60}, headers=auth("channel"))
    for _ in range(2):
        assert client.delete(f"/api/v1/holds/{hold.json()['id']}", headers=auth("channel")).status_code == 204
    assert client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()["available"] == 2


def test_full_slot_is_409_with_the_nearest_alternatives(client, released):
    slot = released[1]  # 12-01 09:30
    assert book(client, slot["id"], 1).status_code == 201
    assert client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 60},
                       headers=auth("channel")).status_code == 201
    full = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 60}, headers=auth("channel"))
    assert full.status_code == 409
    body = full.json()
    assert body["reason"] == "slot_full" and body["detail"]["reason"] == "slot_full"
    starts = [s["start"] for s in body["alternatives"]]
    assert starts == ["2026-12-01T09:00:00+09:00", "2026-12-01T13:00:00+09:00", "2026-12-01T13:30:00+09:00"]
    assert all(s["available"] > 0 for s in body["alternatives"])
    booked = book(client, slot["id"], 2)
    assert booked.status_code == 409 and booked.json()["reason"] == "slot_full"
    assert len(booked.json()["alternatives"]) == 3


def test_one_active_booking_per_person_and_service(client, released):
    assert book(client, released[0]["id"], 7).status_code == 201
    again = book(client, released[5]["id"], 7)
    assert again.status_code == 409 and again.json()["reason"] == "already_booked"


def test_a_ticket_number_alone_does_not_reveal_a_booking(client, released):
    """The same ticket with another birth date is answered like a fresh ticket: no already_booked."""
    assert book(client, released[0]["id"], 8).status_code == 201
    stranger = book(client, released[5]["id"], 8, birthdate="1977-07-07")
    assert stranger.status_code == 201, stranger.json()


def test_expired_hold_whose_place_was_taken_is_409(client, released, clock):
    slot = released[0]
    hold = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 30}, headers=auth("channel"))
    clock.advance(seconds=31)
    assert book(client, slot["id"], 1).status_code == 201
    assert book(client, slot["id"], 2).status_code == 201
    late = client.post("/api/v1/bookings", json={"hold_id": hold.json()["id"], **PERSON}, headers=auth("channel"))
    assert late.status_code == 409 and late.json()["reason"] == "hold_expired"


def test_not_open_yet_is_409_until_opens_at(client, clock):
    batch = {**BATCH, "opens_at": "2026-11-25T09:00:00+09:00"}
    assert client.post("/api/v1/batches", json=batch, headers=auth("staff")).status_code == 201
    slots = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                "date_to": "2026-12-01"}, headers=auth("staff")).json()["items"]
    early = client.post("/api/v1/holds", json={"slot_id": slots[0]["id"], "ttl_seconds": 60}, headers=auth("channel"))
    assert early.status_code == 409 and early.json()["reason"] == "not_open_yet"
    clock.advance(days=1)
    assert book(client, slots[0]["id"]).status_code == 201


def test_cancel_frees_the_place_and_is_idempotent(client, released):
    slot = released[3]
    code = book(client, slot["id"]).json()["code"]
    for _ in range(2):
        cancelled = client.request("DELETE", f"/api/v1/bookings/{code}", headers=auth("channel"),
                                   json={"ticket_number": "5550000000", "birthdate": "1960-01-01"})
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["code"] == code
    assert client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()["available"] == 2
    assert book(client, slot["id"]).status_code == 201  # the same person may book again


def test_codes_differ_and_are_digits(client, released):
    codes = [book(client, released[i // 2]["id"], i).json()["code"] for i in range(6)]
    assert len(set(codes)) == 6 and all(c.isdigit() and len(c) == 8 for c in codes)


def test_concurrent_bookers_through_the_api_get_exactly_the_capacity(client):
    from concurrent.futures import ThreadPoolExecutor

    batch = {**BATCH, "date_to": "2026-12-01", "times": ["09:00-09:30"], "capacity": 5}
    assert client.post("/api/v1/batches", json=batch, headers=auth("staff")).json()["created"] == 1
    [slot] = client.get("/api/v1/slots", params={"service": "vaccine", "date_from": "2026-12-01",
                                                 "date_to": "2026-12-01"}, headers=auth("staff")).json()["items"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda n: book(client, slot["id"], n), range(40)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 5 + [409] * 35
    assert {a.json()["reason"] for a in answers if a.status_code == 409} == {"slot_full"}
    after = client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()
    assert (after["booked"], after["available"]) == (5, 0)


def test_operators_list_bookings_with_masked_codes_staff_in_full(client, released):
    code = book(client, released[0]["id"]).json()["code"]
    day = {"date": "2026-12-01"}
    staff = client.get("/api/v1/bookings", params=day, headers=auth("staff")).json()["items"]
    operator = client.get("/api/v1/bookings", params=day, headers=auth("operator")).json()["items"]
    assert [b["code"] for b in staff] == [code]
    assert [b["code"] for b in operator] == ["*" * (len(code) - 3) + code[-3:]]
    assert code not in json.dumps(operator)


def test_listing_bookings_needs_a_date_or_a_range(client, released):
    book(client, released[0]["id"])
    for params in ({}, {"service": "vaccine"}, {"date_from": "2026-12-01"}, {"date_to": "2026-12-01"}):
        answer = client.get("/api/v1/bookings", params=params, headers=auth("staff"))
        assert answer.status_code == 422, params
        assert "date" in json.dumps(answer.json()["detail"])
    too_long = {"date_from": "2026-01-01", "date_to": "2026-12-31"}
    assert client.get("/api/v1/bookings", params=too_long, headers=auth("staff")).status_code == 422
    backwards = {"date_from": "2026-12-02", "date_to": "2026-12-01"}
    assert client.get("/api/v1/bookings", params=backwards, headers=auth("staff")).status_code == 422


def test_listing_bookings_pages_through_a_range(client, released):
    codes = {book(client, slot["id"], n).json()["code"] for n, slot in enumerate(released[:5])}
    span = {"date_from": "2026-12-01", "date_to": "2026-12-02", "limit": 2}
    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = client.get("/api/v1/bookings", params={**span, "offset": offset}, headers=auth("staff")).json()
        assert len(page["items"]) <= 2
        seen += [b["code"] for b in page["items"]]
        offset, pages = page["next_offset"], pages + 1
    assert sorted(seen) == sorted(codes) and pages == 3
    assert client.get("/api/v1/bookings", params={**span, "limit": 0}, headers=auth("staff")).status_code == 422
