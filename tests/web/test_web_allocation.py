"""The dashboard's release form sets the phone reserve (shown in the preview) and the grid shows it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app
from slots.db import make_engine, make_sessionmaker, upgrade
from webkit import PASSWORD, make_users, web_settings


@pytest.fixture
def client(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    engine = make_engine(url)
    app = create_app(web_settings(url), sessionmaker=make_sessionmaker(engine))
    app.state.web.auth.users = make_users(tmp_path / "users.json")
    with TestClient(app) as test_client:
        yield test_client
    engine.dispose()


def staff_csrf(client: TestClient) -> str:
    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"login_csrf": token, "username": "staff1", "password": PASSWORD})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/slots?service=接種").text).group(1)


def batch_form(csrf: str, **extra) -> dict:
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone().date().isoformat()
    return {"csrf": csrf, "service": "接種", "site": "本庁舎", "date_from": day, "date_to": day,
            "times": "09:00-10:00", "every_minutes": "30", "capacity": "10", "opens_at": "", **extra}


def test_the_release_preview_and_grid_show_the_phone_reserve(client):
    csrf = staff_csrf(client)
    form = batch_form(csrf, phone_reserved_percent="30", phone_reserved_hours="12")
    preview = client.post("/slots/preview", data=form)
    assert preview.status_code == 200
    assert "各枠の定員10人のうち3人分（30%）を、枠の開始12時間前まで電話受付用に確保します" in preview.text
    assert 'name="phone_reserved_percent" value="30"' in preview.text
    done = client.post("/slots/release", data=form, follow_redirects=False)
    assert done.status_code == 303
    grid = client.get(done.headers["location"]).text
    assert grid.count("電話 0/3") == 2


def test_a_bad_reserve_is_a_japanese_form_error(client):
    csrf = staff_csrf(client)
    bad = client.post("/slots/preview", data=batch_form(csrf, phone_reserved_percent="150"))
    assert bad.status_code == 422 and "電話用に確保する割合は0〜100の整数" in bad.text
    plain = client.post("/slots/preview", data=batch_form(csrf))
    assert "なし（すべての枠をWeb・電話で共通に受け付けます）" in plain.text
