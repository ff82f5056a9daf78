"""The call-back page over HTTP: open first and oldest first, who sees numbers in full, marks with
CSRF and the status the page showed, Japanese errors, the count on the queue page."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from slots import store
from slots.db import run_in_transaction
from slots.models import AuditEntry
from test_web_http import app, csrf_of, login  # noqa: F401 - `app` is a fixture
from webkit import TOKENS


@pytest.fixture
def leave(app):  # noqa: F811 - the fixture above
    """Leave a call-back request as a call would, `minutes` ago."""
    def made(phone="090-1234-5678", service="接種", reason="no_operator", minutes=0):
        return run_in_transaction(app.state.sessionmaker, store.request_callback, phone=phone, service=service,
                                  reason=reason, call_id=None, now=datetime.now(UTC) - timedelta(minutes=minutes),
                                  tz=app.state.settings.tz)
    return made


def mark(client, csrf, view_id, status, expected):
    return client.post("/callbacks/mark", data={"csrf": csrf, "id": str(view_id), "status": status,
                                                "expected": expected})


def listed(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-callback="(\d+)" data-status="(\w+)"', html)


def status_of(app, view_id):  # noqa: F811
    views = run_in_transaction(app.state.sessionmaker, store.list_callbacks)
    return next(v.status.value for v in views if v.id == view_id)


def test_open_requests_come_first_oldest_first_with_numbers_masked_for_operators(app, leave):  # noqa: F811
    newer = leave(phone="03-1111-2222", minutes=5)
    taken = leave(phone="03-3333-4444", minutes=30)
    older = leave(phone="090-1234-5678", reason="busy", minutes=20)
    run_in_transaction(app.state.sessionmaker, store.set_callback_status, taken.id, "called", actor="t",
                       now=datetime.now(UTC))
    with TestClient(app) as client:
        login(client, "operator")
        page = client.get("/callbacks")
        assert page.status_code == 200 and '<a href="/callbacks"' in page.text
        assert listed(page.text) == [(str(older.id), "open"), (str(newer.id), "open"), (str(taken.id), "called")]
        assert "*******5678" in page.text and "09012345678" not in page.text and "0311112222" not in page.text
        assert "0333334444" in page.text  # someone took it: whoever calls must see it
        assert "回線混雑" in page.text and re.search(r'id="callbacks-open">2<', page.text)
        queue = client.get("/queue?partial=1")
        assert re.search(r"折り返し依頼（未対応）: <strong>2</strong>", queue.text)
    with TestClient(app) as client:
        login(client, "staff")
        page = client.get("/callbacks")
        assert "09012345678" in page.text and "0311112222" in page.text


def test_an_operator_takes_an_entry_and_then_sees_the_number(app, leave, caplog):  # noqa: F811
    view = leave()
    with TestClient(app) as client, caplog.at_level(logging.INFO):
        csrf = login(client, "operator")
        taken = mark(client, csrf, view.id, "called", "open")
        assert taken.status_code == 200 and "折り返し中にしました" in taken.text
        assert 'href="tel:09012345678"' in taken.text
        done = mark(client, csrf, view.id, "done", "called")
        assert done.status_code == 200 and "完了にしました" in done.text and listed(done.text) == []
        finished = client.get("/callbacks?show=done")
        assert listed(finished.text) == [(str(view.id), "done")] and "09012345678" not in finished.text
    assert "09012345678" not in caplog.text and "5678" not in caplog.text
    with app.state.sessionmaker() as session:
        actors = session.execute(select(AuditEntry.actor).where(AuditEntry.action == "callback_status")).scalars()
        assert list(actors) == ["web:operator1", "web:operator1"]


def test_a_second_operator_is_told_someone_else_took_it(app, leave):  # noqa: F811
    view = leave()
    with TestClient(app) as first, TestClient(app) as second:
        mine, theirs = login(first, "operator"), login(second, "operator")
        assert mark(first, mine, view.id, "called", "open").status_code == 200
        late = mark(second, theirs, view.id, "called", "open")
        assert late.status_code == 409 and "ほかの担当者が先に「折り返し中」にしました" in late.text
        assert mark(second, theirs, view.id, "done", "open").status_code == 409
    assert status_of(app, view.id) == "called"


def test_reopening_while_another_is_open_is_refused_in_japanese(app, leave):  # noqa: F811
    first = leave(minutes=10)
    with TestClient(app) as client:
        csrf = login(client, "staff")
        assert mark(client, csrf, first.id, "done", "open").status_code == 200
        leave()
        refused = mark(client, csrf, first.id, "open", "done")
        assert refused.status_code == 409 and "未対応に戻せません" in refused.text
    assert status_of(app, first.id) == "done"


@pytest.mark.parametrize(("fields", "status"), [
    ({"id": "abc", "status": "done", "expected": "open"}, 422),
    ({"id": "", "status": "done", "expected": "open"}, 422),
    ({"id": "１", "status": "done", "expected": "open"}, 422),
    ({"id": "99999999999999", "status": "done", "expected": "open"}, 422),
    ({"status": "done", "expected": "open"}, 422),
    ({"id": "{id}", "status": "closed", "expected": "open"}, 422),
    ({"id": "{id}", "status": "done"}, 422),
    ({"id": "{id}", "status": "done", "expected": "OPEN"}, 422),
    ({"id": "999999", "status": "done", "expected": "open"}, 404),
    ({"id": "0", "status": "done", "expected": "open"}, 404),
])
def test_garbage_marks_are_clear_errors_and_change_nothing(app, leave, fields, status):  # noqa: F811
    view = leave()
    with TestClient(app) as client:
        csrf = login(client, "operator")
        data = {k: v.replace("{id}", str(view.id)) for k, v in fields.items()}
        answer = client.post("/callbacks/mark", data={"csrf": csrf, **data})
        assert answer.status_code == status and 'class="flash bad"' in answer.text
    assert status_of(app, view.id) == "open"


@pytest.mark.parametrize("query", ["show=all", "show=done&date=2026-13-01", "show=done&date=tomorrow"])
def test_bad_filters_are_422_in_japanese(app, query):  # noqa: F811
    with TestClient(app) as client:
        login(client, "operator")
        answer = client.get(f"/callbacks?{query}")
        assert answer.status_code == 422 and 'role="alert"' in answer.text


def test_marks_need_the_sessions_csrf_token_and_a_login(app, leave):  # noqa: F811
    view = leave()
    with TestClient(app) as client:
        assert client.get("/callbacks").status_code == 401
        assert mark(client, "x", view.id, "called", "open").status_code == 401
        login(client, "operator")
        for csrf in ("forged", ""):
            assert mark(client, csrf, view.id, "called", "open").status_code == 403
        assert client.post("/callbacks/mark", data={"id": str(view.id), "status": "called",
                                                    "expected": "open"}).status_code == 403
    with TestClient(app) as other:  # another session's token is not this one's
        stranger = login(other, "staff")
    with TestClient(app) as client:
        login(client, "operator")
        assert mark(client, stranger, view.id, "called", "open").status_code == 403
    assert status_of(app, view.id) == "open"


def test_a_channel_token_cannot_log_in_to_the_page(app, leave):  # noqa: F811
    leave()
    with TestClient(app) as client:
        form = client.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
        refused = client.post("/login", data={"login_csrf": token, "token": TOKENS["channel"]},
                              follow_redirects=False)
        assert refused.status_code != 303
        assert client.get("/callbacks").status_code == 401


def test_the_queue_page_still_shows_when_the_store_does_not_answer(app):  # noqa: F811
    with TestClient(app) as client:
        login(client, "operator")
        app.state.sessionmaker, kept = None, app.state.sessionmaker
        try:
            queue = client.get("/queue?partial=1")
        finally:
            app.state.sessionmaker = kept
        assert queue.status_code == 200 and "<strong>—</strong>" in queue.text
        assert csrf_of(client.get("/callbacks").text)


@pytest.mark.browser
def test_an_operator_calls_back_from_the_page(open_page, live_server):
    from playwright.sync_api import expect

    from webkit import shoot

    view = run_in_transaction(live_server.sessionmaker, store.request_callback, phone="0311119876", service="接種",
                              reason="no_operator", call_id=None, now=datetime.now(UTC), tz=live_server.settings.tz)
    page = open_page("operator")
    page.get_by_role("link", name="折り返し依頼").click()
    row = page.locator(f'tr[data-callback="{view.id}"]')
    expect(row).to_contain_text("******9876")
    row.get_by_role("button", name="折り返す").click()
    row = page.locator(f'tr[data-callback="{view.id}"]')
    expect(row.locator('a[href="tel:0311119876"]')).to_be_visible()
    expect(page.locator(".flash")).to_contain_text("折り返し中にしました")
    shoot(page, "callbacks")
    row.get_by_role("button", name="完了にする").click()
    expect(page.locator(f'tr[data-callback="{view.id}"]')).to_have_count(0)
