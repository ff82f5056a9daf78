"""Batches and slots through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from apikit import BATCH, auth

SLOTS = {"service": "vaccine", "date_from": "2026-12-01", "date_to": "2026-12-02"}


def test_release_is_idempotent_and_lists_slots_in_local_time(client):
    first = client.post("/api/v1/batches", json=BATCH, headers=auth("staff"))
    assert first.status_code == 201
    assert first.json()["created"] == 8 and first.json()["skipped"] == 0
    again = client.post("/api/v1/batches", json=BATCH, headers=auth("admin"))
    assert again.status_code == 201
    assert again.json() == {**first.json(), "created": 0, "skipped": 8}

    items = client.get("/api/v1/slots", params=SLOTS, headers=auth("operator")).json()["items"]
    assert len(items) == 8
    assert items[0]["start"] == "2026-12-01T09:00:00+09:00" and items[0]["end"] == "2026-12-01T09:30:00+09:00"
    assert items[-1]["start"] == "2026-12-02T13:30:00+09:00"
    assert {k: items[0][k] for k in ("service", "site", "capacity", "booked", "held", "available")} == {
        "service": "vaccine", "site": "市役所", "capacity": 2, "booked": 0, "held": 0, "available": 2,
    }
    one_day = client.get("/api/v1/slots", params={**SLOTS, "date_to": "2026-12-01"}, headers=auth("channel"))
    assert len(one_day.json()["items"]) == 4


def test_opens_at_with_and_without_offset_mean_the_same_instant(client):
    naive = {**BATCH, "opens_at": "2026-11-30T09:00:00"}
    aware = {**BATCH, "opens_at": "2026-11-30T00:00:00Z"}
    created = client.post("/api/v1/batches", json=naive, headers=auth("staff")).json()
    same = client.post("/api/v1/batches", json=aware, headers=auth("staff")).json()
    assert same["batch_id"] == created["batch_id"] and same["created"] == 0
    slot = client.get("/api/v1/slots", params=SLOTS, headers=auth("staff")).json()["items"][0]
    assert slot["opens_at"] == "2026-11-30T09:00:00+09:00"


def test_preview_creates_nothing(client):
    preview = client.post("/api/v1/batches/preview", json=BATCH, headers=auth("staff"))
    assert preview.status_code == 200
    assert len(preview.json()["items"]) == 8
    assert preview.json()["items"][0] == {"start": "2026-12-01T09:00:00+09:00", "end": "2026-12-01T09:30:00+09:00"}
    assert client.get("/api/v1/slots", params=SLOTS, headers=auth("staff")).json() == {"items": [], "openings": []}


def test_available_filter_and_site(client, released):
    slot = released[0]
    for n in range(2):
        body = {"slot_id": slot["id"], "ticket_number": f"12345678{n}", "birthdate": "1950-01-01"}
        assert client.post("/api/v1/bookings", json=body, headers=auth("channel")).status_code == 201
    open_ones = client.get("/api/v1/slots", params={**SLOTS, "available": "true"}, headers=auth("staff"))
    assert slot["id"] not in [s["id"] for s in open_ones.json()["items"]]
    assert len(open_ones.json()["items"]) == 7
    elsewhere = client.get("/api/v1/slots", params={**SLOTS, "site": "保健センター"}, headers=auth("staff"))
    assert elsewhere.json() == {"items": [], "openings": []}
    one = client.get(f"/api/v1/slots/{slot['id']}", headers=auth("staff")).json()
    assert (one["booked"], one["available"]) == (2, 0)


def test_close_slot_is_staff_only(client, released):
    slot = released[0]
    assert client.post(f"/api/v1/slots/{slot['id']}/close", headers=auth("operator")).status_code == 403
    closed = client.post(f"/api/v1/slots/{slot['id']}/close", headers=auth("staff"))
    assert closed.status_code == 200 and closed.json()["closed"] is True
    hold = client.post("/api/v1/holds", json={"slot_id": slot["id"], "ttl_seconds": 60}, headers=auth("channel"))
    assert hold.status_code == 409 and hold.json()["reason"] == "slot_closed"
    assert client.post("/api/v1/slots/999999/close", headers=auth("staff")).status_code == 404


def test_availability_says_when_slots_not_open_yet_open(client, clock):
    later = {**BATCH, "opens_at": "2026-11-25T13:30:00", "date_from": "2026-12-02"}  # local time: 午後1時30分
    first = {**BATCH, "date_to": "2026-12-01"}
    for batch in (first, later):
        assert client.post("/api/v1/batches", json=batch, headers=auth("staff")).status_code == 201
    open_ones = client.get("/api/v1/slots", params={**SLOTS, "available": "true"}, headers=auth("channel")).json()
    assert {s["start"][:10] for s in open_ones["items"]} == {"2026-12-01"}
    assert open_ones["openings"] == [{
        "opens_at": "2026-11-25T13:30:00+09:00", "slots": 4, "first_start": "2026-12-02T09:00:00+09:00",
        "notice": "11月25日（水）午後1時30分から 予約できます",
    }]
    refused = client.post("/api/v1/holds", json={"slot_id": client.get("/api/v1/slots", params=SLOTS, headers=auth(
        "channel")).json()["items"][-1]["id"], "ttl_seconds": 60}, headers=auth("channel"))
    assert refused.status_code == 409 and refused.json()["notice"] == "11月25日（水）午後1時30分から 予約できます"
    clock.advance(days=1, hours=3, minutes=30)  # 13:30 on the 25th in Tokyo: open
    now_open = client.get("/api/v1/slots", params={**SLOTS, "available": "true"}, headers=auth("channel")).json()
    assert len(now_open["items"]) == 8 and now_open["openings"] == []
    clock.advance(seconds=-1)
    assert len(client.get("/api/v1/slots", params={**SLOTS, "available": "true"},
                          headers=auth("channel")).json()["items"]) == 4
