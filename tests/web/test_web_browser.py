"""The dashboard in headless Chromium against a live server: roles, live calls, batches, bookings."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from ivr.events import CallEnded, CallStarted, HoldPlaced, StepEntered, Transferred, TurnFailed, UtteranceRecognized
from slots import store
from slots.batches import BatchSpec
from slots.calls import record_call
from slots.db import run_in_transaction
from slots.person import Person
from webkit import ami_event, shoot, today_in

pytestmark = pytest.mark.browser


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _seed_slots(server, service: str, site: str, day: date, capacity: int = 2):
    spec = BatchSpec(service, site, day, day, ("09:00-11:00",), 30, capacity, timezone=server.settings.timezone)
    run_in_transaction(server.sessionmaker, store.release_batch, spec, actor="test", now=_now())
    start = datetime.combine(day, datetime.min.time(), server.settings.tz)
    return run_in_transaction(server.sessionmaker, store.list_slots, service, start, start + timedelta(days=1),
                              site=site, now=_now())


def _book(server, slot_id: int, ticket: str):
    person = Person.from_ticket(server.settings.person_key_bytes(), ticket, date(1950, 4, 1))
    return run_in_transaction(server.sessionmaker, store.book, slot_id, person, channel="phone", now=_now())


@pytest.mark.parametrize("role, pages, hidden", [
    ("operator", ["通話中", "オペレーター待ち", "折り返し依頼", "予約検索"], ["予約枠", "本日の実績", "管理"]),
    ("staff", ["通話中", "オペレーター待ち", "折り返し依頼", "本日の実績", "予約枠", "予約検索"], ["管理"]),
    ("admin", ["通話中", "折り返し依頼", "予約枠", "管理"], []),
])
def test_each_role_logs_in_and_sees_its_pages(open_page, role, pages, hidden):
    page = open_page(role)
    nav = page.locator("header nav")
    for label in pages:
        expect(nav.get_by_text(label, exact=True)).to_be_visible()
    for label in hidden:
        expect(nav.get_by_text(label, exact=True)).to_have_count(0)
    if role == "admin":
        expect(page.locator("#users")).to_contain_text("operator1")
        shoot(page, "admin")


def test_token_login_and_bad_password(open_page):
    page = open_page()
    page.goto("/login")
    shoot(page, "login")
    page.fill("input[name=username]", "staff1")
    page.fill("input[name=password]", "wrong-password-123")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("ログインできませんでした")
    page = open_page("staff", token=True)
    expect(page.locator(".who")).to_contain_text("トークン（staff）")


def _wait_row(page, selector: str, present: bool) -> float:
    started = time.monotonic()
    page.wait_for_selector(selector, state="attached" if present else "detached", timeout=1000)
    return time.monotonic() - started


def test_live_calls_appear_within_a_second_and_go_when_they_end(open_page, live_server):
    page = open_page("operator")
    page.goto("/live")
    expect(page.locator("#live-status")).to_have_text("リアルタイム表示中")
    bus = live_server.bus
    bus.publish(CallStarted("call-a", caller="090-****-5678", channel="PJSIP/trunk-0001"))
    seconds = _wait_row(page, "tr[data-call='call-a']", True)
    assert seconds < 1.0
    bus.publish(StepEntered("call-a", step="ask_date"))
    bus.publish(UtteranceRecognized("call-a", text="来週の火曜日の午前", confidence=0.91, step="ask_date"))
    bus.publish(HoldPlaced("call-a", hold_id=7, slot_id=3))
    row = page.locator("tr[data-call='call-a']")
    expect(row).to_contain_text("来週の火曜日の午前", timeout=1000)
    expect(row).to_contain_text("あり")
    expect(row).not_to_have_class("help")
    # a second call that struggles stands out
    bus.publish(CallStarted("call-b", caller="03-****-1234", channel="PJSIP/trunk-0002"))
    bus.publish(StepEntered("call-b", step="ask_ticket"))
    bus.publish(UtteranceRecognized("call-b", text="えっと、****", confidence=0.31, step="ask_ticket"))
    bus.publish(TurnFailed("call-b", step="ask_ticket", failures=2))
    struggling = page.locator("tr[data-call='call-b']")
    expect(struggling).to_have_class("help", timeout=1000)
    expect(struggling).to_contain_text("要対応")
    expect(page.locator("#call-count")).to_have_text("2")
    shoot(page, "live")
    bus.publish(CallEnded("call-a", outcome="booked", duration_seconds=95.0, last_step="goodbye"))
    seconds = _wait_row(page, "tr[data-call='call-a']", False)
    assert seconds < 1.0
    bus.publish(CallEnded("call-b", outcome="abandoned", duration_seconds=60.0, last_step="ask_ticket"))
    _wait_row(page, "tr[data-call='call-b']", False)
    expect(page.locator("#no-calls")).to_be_visible()


def test_queue_shows_waiting_callers_with_the_handover(open_page, live_server):
    channel = "PJSIP/trunk-0009"
    live_server.bus.publish(CallStarted("call-q", caller="090-****-1111", channel=channel))
    live_server.bus.publish(Transferred("call-q", summary="用件: 予約の変更\n予約番号: ****5678\n希望: 12月3日 午後"))
    live_server.bus.publish(CallEnded("call-q", outcome="transferred", duration_seconds=80.0, last_step="transfer"))
    view = live_server.ami.queues
    for member, status, paused in (("PJSIP/op1", "1", "0"), ("PJSIP/op2", "2", "0"), ("PJSIP/op3", "1", "1")):
        view.apply(ami_event(Event="QueueMember", Queue="operators", StateInterface=member, Status=status, Paused=paused))
    view.apply(ami_event(Event="QueueCallerJoin", Queue="operators", Channel=channel, CallerIDNum="09012341111",
                         Position="1", Wait="42"))
    view.apply(ami_event(Event="QueueCallerJoin", Queue="operators", Channel="PJSIP/trunk-0010",
                         CallerIDNum="0312345678", Position="2", Wait="12"))
    page = open_page("operator")
    page.goto("/queue")
    table = page.locator("#queue-table")
    expect(table).to_contain_text("予約の変更")
    expect(table).to_contain_text(re.compile(r"0:4\d"))  # joined 42 s before, on the real clock
    expect(table).to_contain_text("*******1111")
    expect(table).not_to_contain_text("09012341111")
    shoot(page, "queue")


def test_batch_released_from_the_form_appears_in_the_grid(open_page, live_server):
    day = today_in(live_server.settings) + timedelta(days=3)
    page = open_page("staff")
    page.goto("/slots")
    form = page.locator("#batch form")
    form.locator("input[name=service]").fill("インフルエンザ予防接種")
    form.locator("input[name=site]").fill("中央保健センター")
    form.locator("input[name=date_from]").fill(day.isoformat())
    form.locator("input[name=date_to]").fill((day - timedelta(days=1)).isoformat())
    form.locator("input[name=times]").fill("9時から12時")
    form.locator("button[type=submit]").click()
    expect(page.locator("#err-date_to")).to_contain_text("終了日は開始日と同じか、それより後にしてください")
    expect(page.locator("#err-times")).to_contain_text("受付時間を「09:00-12:00, 13:00-17:00」の形で入力してください")
    shoot(page, "slots-form-errors")
    form = page.locator("#batch form")
    form.locator("input[name=date_to]").fill((day + timedelta(days=1)).isoformat())
    form.locator("input[name=times]").fill("09:00-12:00, 13:00-15:00")
    form.locator("input[name=every_minutes]").fill("60")
    form.locator("input[name=capacity]").fill("3")
    form.locator("button[type=submit]").click()
    expect(page.locator("#preview-count")).to_have_text("10")  # (3 + 2 hours) x 2 days
    shoot(page, "slots-preview")
    page.click("#confirm-release")
    expect(page.locator(".flash")).to_contain_text("予約枠を10件作成しました")
    grid = page.locator("table.grid[data-site='中央保健センター']")
    expect(grid.locator(f"td[data-day='{day.isoformat()}'][data-time='09:00'] .avail")).to_have_text("3")
    expect(grid.locator("td[data-slot]")).to_have_count(10)
    shoot(page, "slots")
    # closing a slot from the grid
    page.once("dialog", lambda dialog: dialog.accept())
    grid.locator(f"td[data-day='{day.isoformat()}'][data-time='14:00'] button").click()
    expect(page.locator(".flash")).to_contain_text("受付を停止しました")
    expect(grid.locator(f"td[data-day='{day.isoformat()}'][data-time='14:00']")).to_have_class("closed")


def test_booking_cancelled_from_the_page_frees_its_place(open_page, live_server):
    day = today_in(live_server.settings) + timedelta(days=5)
    slot = _seed_slots(live_server, "健康診断", "北区民センター", day, capacity=1)[0]
    booking = _book(live_server, slot.id, "1234567890")
    page = open_page("staff")
    page.goto("/bookings")
    page.fill("input[name=code]", "12-34")
    page.click("form[action='/bookings/search'] button")
    expect(page.locator(".field-error")).to_contain_text("予約番号は8桁の数字で入力してください")
    page.fill("input[name=code]", booking.code)
    page.click("form[action='/bookings/search'] button")
    detail = page.locator("#booking-detail")
    expect(detail).to_contain_text(booking.code)
    expect(detail).to_contain_text(booking.person_masked)
    shoot(page, "bookings")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-booking")
    expect(page.locator("#booking-status")).to_have_text("取消済み")
    after = run_in_transaction(live_server.sessionmaker, store.get_slot, slot.id, now=_now())
    assert (after.booked, after.available) == (0, 1)
    page.goto(f"/slots?service=健康診断&site=北区民センター&from={day.isoformat()}")
    cell = page.locator(f"td[data-slot='{slot.id}']")
    expect(cell.locator(".avail")).to_have_text("1")


def test_operator_never_sees_unmasked_personal_data(open_page, live_server):
    day = today_in(live_server.settings) + timedelta(days=6)
    slot = _seed_slots(live_server, "がん検診", "南区保健センター", day)[0]
    booking = _book(live_server, slot.id, "9876543210")
    page = open_page("operator")
    page.goto("/bookings")
    page.fill("input[name=code]", booking.code)
    page.click("form[action='/bookings/search'] button")
    expect(page.locator("#booking-detail")).to_contain_text(booking.code[-3:])
    page.goto(f"/bookings?date={day.isoformat()}")
    expect(page.locator("#booking-list")).to_contain_text("（非表示）")
    shoot(page, "bookings-operator")
    for url in (f"/bookings?date={day.isoformat()}", "/bookings"):
        page.goto(url)
        html = page.content()
        assert booking.code not in html and booking.person_masked not in html and "3210" not in html
    assert page.locator("#cancel-booking").count() == 0
    assert page.request.get(f"/bookings/export.csv?date={day.isoformat()}").status == 403
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    denied = page.request.post("/bookings/cancel", form={"csrf": csrf, "code": booking.code})
    assert denied.status == 403
    still = run_in_transaction(live_server.sessionmaker, store.get_booking, booking.code)
    assert still.status == "confirmed"


def test_today_page_draws_its_charts(open_page, live_server):
    # inside the municipality's today whatever the hour the test runs at
    midnight = datetime.combine(today_in(live_server.settings), datetime.min.time(), live_server.settings.tz)
    outcomes = ["booked", "booked", "booked", "transferred", "abandoned", "abandoned", "failed"]
    steps = ["goodbye", "goodbye", "goodbye", "transfer", "ask_ticket", "ask_date", "ask_ticket"]
    for i, (outcome, step) in enumerate(zip(outcomes, steps)):
        started = midnight + timedelta(hours=9, minutes=7 * i)
        run_in_transaction(live_server.sessionmaker, record_call, call_id=f"today-{i}", started_at=started,
                           ended_at=started + timedelta(seconds=90 + 10 * i), outcome=outcome, last_step=step,
                           transferred=outcome == "transferred")
    page = open_page("staff")
    page.goto("/today")
    tiles = page.locator(".tiles")
    expect(tiles).to_contain_text("通話数")
    expect(page.locator(".tile").first.locator(".value")).to_have_text("7")
    page.wait_for_function("() => Chart.getChart('per-hour') && Chart.getChart('dropout')")
    labels = page.evaluate("() => Chart.getChart('dropout').data.labels")
    assert labels[0] == "ask_ticket"
    shoot(page, "today")


def test_pages_and_api_reject_requests_without_a_valid_session_or_token(open_page, live_server):
    anonymous = open_page()
    for path in ("/live", "/live/stream", "/queue", "/today", "/slots", "/bookings", "/admin"):
        response = anonymous.request.get(path, max_redirects=0)
        assert response.status == 401, path
    assert anonymous.request.get("/api/v1/calls").status == 401
    bad = anonymous.request.get("/api/v1/calls", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status == 401
    tampered = anonymous.request.get("/live", headers={"Cookie": "madoguchi_session=eyJzIjoidTpzdGFmZjEifQ.forged"})
    assert tampered.status == 401
    operator = open_page("operator")
    for path in ("/slots", "/today", "/admin"):
        assert operator.request.get(path).status == 403, path
    csrf_missing = operator.request.post("/bookings/search", form={"code": "12345678"})
    assert csrf_missing.status == 403
    operator.goto("/slots")
    expect(operator.locator("main")).to_contain_text("この画面を使う権限がありません")


def test_live_page_keeps_updating_across_stream_reconnects(open_page, live_server):
    ctx = live_server.app.state.web
    usual, ctx.stream_seconds = ctx.stream_seconds, 0.5
    try:
        page = open_page("operator")
        page.goto("/live")
        expect(page.locator("#live-status")).to_have_text("リアルタイム表示中")
        page.wait_for_timeout(1600)  # the stream has ended and been reopened a few times
        live_server.bus.publish(CallStarted("call-r", caller="080-****-0001", channel="PJSIP/trunk-0100"))
        expect(page.locator("tr[data-call='call-r']")).to_have_count(1, timeout=1500)
        live_server.bus.publish(CallEnded("call-r", outcome="completed", duration_seconds=3.0))
        expect(page.locator("tr[data-call='call-r']")).to_have_count(0, timeout=1500)
        expect(page.locator("#live-status")).to_have_text("リアルタイム表示中")
    finally:
        ctx.stream_seconds = usual
