"""The dashboard over HTTP (no browser): login CSRF, expiry, roles, CSV export, admin, API tokens."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from ivr.events import CallStarted
from ivr.web.auth import COOKIE
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade
from slots.person import Person
from webkit import PASSWORD, TOKENS, make_users, web_settings


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = web_settings(url)
    application = create_app(settings, sessionmaker=make_sessionmaker(engine))
    application.state.web.auth.users = make_users(tmp_path / "users.json")
    yield application
    engine.dispose()


def login(client: TestClient, role: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    done = client.post("/login", data={"login_csrf": token, "username": f"{role}1", "password": PASSWORD},
                       follow_redirects=False)
    assert done.status_code == 303
    return csrf_of(client.get("/live" if role != "admin" else "/admin").text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_login_form_needs_its_csrf_cookie(app):
    with TestClient(app) as client:
        refused = client.post("/login", data={"login_csrf": "forged", "username": "staff1", "password": PASSWORD})
        assert refused.status_code == 403 and "有効期限" in refused.text
        assert COOKIE not in client.cookies


def test_expired_or_forged_sessions_are_refused(app):
    codec = app.state.web.codec
    expired, _ = codec.issue("u:staff1", "staff", now=datetime.now(UTC) - timedelta(seconds=codec.max_age + 1))
    valid, _ = codec.issue("u:staff1", "staff", now=datetime.now(UTC))
    promoted, _ = codec.issue("u:staff1", "admin", now=datetime.now(UTC))  # role no longer matches the user
    with TestClient(app) as client:
        for cookie, status in ((expired, 401), (valid, 200), (promoted, 401)):
            client.cookies.set(COOKIE, cookie)
            response = client.get("/today")
            assert response.status_code == status
        client.cookies.clear()
        assert "ログイン" in client.get("/today").text


def test_logout_ends_the_session(app):
    with TestClient(app) as client:
        csrf = login(client, "operator")
        assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert client.get("/live").status_code == 401


def test_batch_form_errors_are_japanese_and_create_nothing(app):
    with TestClient(app) as client:
        csrf = login(client, "staff")
        bad = client.post("/slots/release", data={"csrf": csrf, "service": "接種", "site": "", "date_from": "x",
                                                  "date_to": "", "times": "", "every_minutes": "", "capacity": ""})
        assert bad.status_code == 422
        for message in ("会場名を入力してください", "開始日を正しい日付で", "受付時間を", "定員は1〜1000"):
            assert message in bad.text
        assert client.get("/slots?service=接種").text.count("data-slot=") == 0


def test_staff_export_csv_with_full_codes(app):
    sessionmaker = app.state.sessionmaker
    day = datetime.now(app.state.settings.tz).date() + timedelta(days=2)
    spec = BatchSpec("接種", "本庁舎", day, day, ("09:00-10:00",), 30, 2)
    now = datetime.now(UTC)
    run_in_transaction(sessionmaker, store.release_batch, spec, actor="test", now=now)
    start = datetime.combine(day, datetime.min.time(), app.state.settings.tz)
    slot = run_in_transaction(sessionmaker, store.list_slots, "接種", start, start + timedelta(days=1), now=now)[0]
    person = Person.from_ticket(app.state.settings.person_key_bytes(), "1234567890", date(1948, 1, 2))
    booking = run_in_transaction(sessionmaker, store.book, slot.id, person, channel="phone", now=now)
    with TestClient(app) as client:
        login(client, "staff")
        response = client.get(f"/bookings/export.csv?date={day.isoformat()}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert rows[0][0] == "予約番号" and rows[1][0] == booking.code and rows[1][-1] == booking.person_masked
        assert client.get("/bookings/export.csv?date=2026-99-01").status_code == 422


def test_admin_manages_users(app):
    with TestClient(app) as client:
        csrf = login(client, "admin")
        mismatch = client.post("/admin/users", data={"csrf": csrf, "username": "yamada", "role": "operator",
                                                     "password": "long-enough-1", "password2": "long-enough-2"})
        assert mismatch.status_code == 422 and "一致しません" in mismatch.text
        added = client.post("/admin/users", data={"csrf": csrf, "username": "yamada", "role": "operator",
                                                  "password": "long-enough-1", "password2": "long-enough-1"})
        assert added.status_code == 200 and "yamada" in added.text
        assert app.state.web.auth.users.get("yamada").role == "operator"
        assert client.post("/admin/users/delete", data={"csrf": csrf, "username": "admin1"}).status_code == 422
        assert client.post("/admin/users/delete", data={"csrf": csrf, "username": "yamada"}).status_code == 200
        assert app.state.web.auth.users.get("yamada") is None


def test_api_rejects_missing_or_wrong_tokens(app):
    with TestClient(app) as client:
        assert client.get("/api/v1/calls").status_code == 401
        operator = {"Authorization": f"Bearer {TOKENS['operator']}"}
        assert client.get("/api/v1/calls", headers=operator).status_code == 200
        batch = {"service": "接種", "site": "本庁舎", "date_from": "2027-01-05", "date_to": "2027-01-05",
                 "times": ["09:00-10:00"], "every_minutes": 30, "capacity": 1}
        assert client.post("/api/v1/batches", json=batch, headers=operator).status_code == 403
        # a web session is not an API credential
        login(client, "staff")
        assert client.post("/api/v1/batches", json=batch).status_code == 401


def test_pages_send_security_headers(app):
    with TestClient(app) as client:
        page = client.get("/login")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        assert client.get("/static/vendor/chart.umd.min.js").text.startswith("/*!\n * Chart.js v4")


def test_staff_moves_a_booking_to_another_slot(app):
    sessionmaker = app.state.sessionmaker
    day = datetime.now(app.state.settings.tz).date() + timedelta(days=3)
    now = datetime.now(UTC)
    run_in_transaction(sessionmaker, store.release_batch, BatchSpec("健診", "東館", day, day, ("09:00-10:00",), 30, 1),
                       actor="test", now=now)
    start = datetime.combine(day, datetime.min.time(), app.state.settings.tz)
    first, second = run_in_transaction(sessionmaker, store.list_slots, "健診", start, start + timedelta(days=1), now=now)
    person = Person.from_ticket(app.state.settings.person_key_bytes(), "5555500000", date(1950, 5, 5))
    booking = run_in_transaction(sessionmaker, store.book, first.id, person, channel="phone", now=now)
    with TestClient(app) as client:
        csrf = login(client, "staff")
        found = client.post("/bookings/search", data={"csrf": csrf, "code": booking.code})
        assert f'<option value="{second.id}">' in found.text
        assert client.post("/bookings/move", data={"csrf": csrf, "code": booking.code, "slot_id": ""}).status_code == 422
        moved = client.post("/bookings/move", data={"csrf": csrf, "code": booking.code, "slot_id": str(second.id)})
        assert moved.status_code == 200 and "予約を変更しました" in moved.text
    after = run_in_transaction(sessionmaker, store.get_booking, booking.code)
    assert after.slot_id == second.id
    slots_now = run_in_transaction(sessionmaker, store.list_slots, "健診", start, start + timedelta(days=1), now=now)
    assert [(s.booked, s.available) for s in slots_now] == [(0, 1), (1, 0)]


def test_a_database_outage_is_a_japanese_page(app, tmp_path):
    with TestClient(app) as client:
        login(client, "staff")
        broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
        app.state.sessionmaker = make_sessionmaker(broken)
        response = client.get("/today")
        assert response.status_code == 503 and "データベースに接続できません" in response.text
        broken.dispose()


def test_live_page_elapsed_time_follows_the_apps_clock(app):
    started = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    app.state.clock = lambda: started + timedelta(minutes=3, seconds=5)
    app.state.live.apply(CallStarted("clock-1", caller="*******0001", channel="PJSIP/t-1", at=started))
    with TestClient(app) as client:
        login(client, "operator")
        assert "3:05" in client.get("/live").text
