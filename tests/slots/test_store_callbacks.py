"""Call-back requests in the store (SQLite and PostgreSQL): validation, one open request per day,
status changes audited with the number masked."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from slots import store
from slots.callbacks import normalize_phone
from slots.errors import CallbackAlreadyOpen, CallbackChanged, InvalidInput, InvalidPhone, NotFound
from slots.models import AuditEntry
from slots.views import CallbackCounts, CallbackStatus
from slotkit import NOW

TOKYO = ZoneInfo("Asia/Tokyo")  # NOW is 09:00 on 2026-11-24 in Tokyo


def ask(tx, phone="090-1234-5678", service="vaccine", reason="no_operator", call_id="call-1", now=NOW, tz=TOKYO):
    return tx(store.request_callback, phone=phone, service=service, reason=reason, call_id=call_id, now=now, tz=tz)


@pytest.mark.parametrize(("given", "digits"), [
    ("090-1234-5678", "09012345678"),
    ("03 1234 5678", "0312345678"),
    ("０９０－１２３４－５６７８", "09012345678"),  # full-width, as a speech normalizer might hand it over
    ("0120-123-456", "0120123456"),
])
def test_phone_numbers_are_kept_as_digits(given, digits):
    assert normalize_phone(given) == digits


@pytest.mark.parametrize("given", [
    "", "   ", "abc", "090-123-456", "090-1234-56789", "90-1234-5678", "9012345678", "00-1234-5678",
    "+81 90 1234 5678", "(03) 1234-5678", "090.1234.5678", "0901234567８x", "٠٩٠١٢٣٤٥٦٧٨", None, 9012345678,
])
def test_garbage_phone_numbers_are_refused(tx, given):
    with pytest.raises(InvalidPhone) as caught:
        ask(tx, phone=given)
    assert caught.value.reason == "invalid_phone" and isinstance(caught.value, InvalidInput)
    assert "5678" not in str(caught.value)  # the message never echoes the number
    assert tx(store.list_callbacks) == []


def test_request_and_read_back(tx):
    view = ask(tx)
    assert (view.phone, view.phone_masked, view.service, view.reason) == ("09012345678", "*******5678", "vaccine",
                                                                          "no_operator")
    assert view.status is CallbackStatus.OPEN and view.call_id == "call-1"
    assert view.created_at == NOW and view.updated_at is None
    assert "09012345678" not in repr(view)
    assert tx(store.list_callbacks) == [view]


@pytest.mark.parametrize("change", [
    {"service": ""}, {"service": "x" * 65}, {"reason": ""}, {"reason": None}, {"call_id": "c" * 65},
    {"now": datetime(2026, 11, 24, 9, 0)},
])
def test_other_bad_input_is_invalid_input(tx, change):
    with pytest.raises(InvalidInput):
        ask(tx, **change)


def test_a_second_open_request_the_same_day_returns_the_first(tx):
    first = ask(tx)
    again = ask(tx, phone="09012345678", reason="after_hours", call_id="call-2", now=NOW + timedelta(hours=5))
    assert again == first
    other_service = ask(tx, service="checkup", now=NOW + timedelta(hours=1))
    other_phone = ask(tx, phone="0312345678", now=NOW + timedelta(hours=1))
    next_day = ask(tx, now=NOW + timedelta(days=1))
    assert len({first.id, other_service.id, other_phone.id, next_day.id}) == 4
    assert len(tx(store.list_callbacks)) == 4


def test_the_day_is_the_municipalitys(tx):
    late = datetime(2026, 11, 24, 14, 59, tzinfo=UTC)  # 23:59 in Tokyo
    first = ask(tx, now=late)
    assert ask(tx, now=late + timedelta(minutes=2)).id != first.id  # 00:01 the next day in Tokyo
    assert ask(tx, now=late + timedelta(minutes=1), tz=UTC).id == first.id  # still the 24th in UTC


def test_a_new_request_once_the_open_one_is_taken(tx):
    first = ask(tx)
    tx(store.set_callback_status, first.id, "called", actor="operator", now=NOW + timedelta(minutes=5))
    second = ask(tx, now=NOW + timedelta(minutes=10))
    assert second.id != first.id and second.status is CallbackStatus.OPEN


def test_status_changes_are_audited_with_the_number_masked(tx, Session):
    view = ask(tx)
    later = NOW + timedelta(minutes=3)
    called = tx(store.set_callback_status, view.id, CallbackStatus.CALLED, actor="api:operator", now=later)
    assert called.status is CallbackStatus.CALLED and (called.updated_at, called.updated_by) == (later, "api:operator")
    same = tx(store.set_callback_status, view.id, "called", actor="api:staff", now=later + timedelta(minutes=1))
    assert same == called  # no change, nothing audited
    done = tx(store.set_callback_status, view.id, "done", actor="api:staff", now=later + timedelta(minutes=2))
    assert done.status is CallbackStatus.DONE
    with Session() as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.action == "callback_status")
                               .order_by(AuditEntry.id)).scalars().all()
    assert [(r.actor, r.detail) for r in rows] == [
        ("api:operator", {"callback_id": view.id, "phone": "*******5678", "from": "open", "to": "called"}),
        ("api:staff", {"callback_id": view.id, "phone": "*******5678", "from": "called", "to": "done"}),
    ]
    assert all("09012345678" not in str(r.detail) for r in rows)


def test_unknown_id_and_bad_status(tx):
    view = ask(tx)
    for unknown in (view.id + 1, 0, -3, 2**40):
        with pytest.raises(NotFound):
            tx(store.set_callback_status, unknown, "done", actor="staff", now=NOW)
    for bad in ("closed", "", None, "OPEN"):
        with pytest.raises(InvalidInput):
            tx(store.set_callback_status, view.id, bad, actor="staff", now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.set_callback_status, "1", "done", actor="staff", now=NOW)
    with pytest.raises(InvalidInput):
        tx(store.set_callback_status, view.id, "done", actor="", now=NOW)
    assert tx(store.list_callbacks)[0].status is CallbackStatus.OPEN


def test_reopening_while_another_is_open_is_a_conflict(tx):
    first = ask(tx)
    tx(store.set_callback_status, first.id, "done", actor="staff", now=NOW)
    second = ask(tx, now=NOW + timedelta(minutes=1))
    with pytest.raises(CallbackAlreadyOpen) as caught:
        tx(store.set_callback_status, first.id, "open", actor="staff", now=NOW + timedelta(minutes=2))
    assert caught.value.reason == "callback_already_open"
    tx(store.set_callback_status, second.id, "called", actor="staff", now=NOW + timedelta(minutes=3))
    assert tx(store.set_callback_status, first.id, "open", actor="staff", now=NOW).status is CallbackStatus.OPEN


def test_list_filters_orders_and_pages(tx):
    made = [ask(tx, phone=f"0312345{n:03d}", now=NOW + timedelta(hours=n)) for n in range(6)]
    assert [v.id for v in tx(store.list_callbacks)] == [v.id for v in made]  # oldest first
    tx(store.set_callback_status, made[1].id, "called", actor="staff", now=NOW)
    tx(store.set_callback_status, made[2].id, "done", actor="staff", now=NOW)
    assert [v.id for v in tx(store.list_callbacks, status="called")] == [made[1].id]
    assert [v.id for v in tx(store.list_callbacks, status=CallbackStatus.DONE)] == [made[2].id]
    assert len(tx(store.list_callbacks, status="open")) == 4
    window = tx(store.list_callbacks, day_start=NOW + timedelta(hours=2), day_end=NOW + timedelta(hours=4))
    assert [v.id for v in window] == [made[2].id, made[3].id]
    assert [v.id for v in tx(store.list_callbacks, limit=2, offset=3)] == [made[3].id, made[4].id]
    assert tx(store.list_callbacks, offset=10) == []
    for bad in ({"status": "closed"}, {"limit": 0}, {"limit": 501}, {"offset": -1},
                {"day_start": datetime(2026, 11, 24)}):
        with pytest.raises(InvalidInput):
            tx(store.list_callbacks, **bad)


def test_two_calls_asking_at_once_make_one_request(Session):
    """The second transaction waits for the first (SQLite's write lock, PostgreSQL's unique index) and
    then finds its request instead of adding another."""
    first = Session()
    first.begin()
    mine = store.request_callback(first, phone="09012345678", service="vaccine", reason="busy", call_id="a",
                                  now=NOW, tz=TOKYO)
    results = []

    def other():
        with Session() as session, session.begin():
            results.append(store.request_callback(session, phone="090 1234 5678", service="vaccine", reason="busy",
                                                  call_id="b", now=NOW, tz=TOKYO))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # blocked behind the first transaction
    first.commit()
    first.close()
    thread.join(10)
    assert [v.id for v in results] == [mine.id]
    with Session() as session:
        assert len(store.list_callbacks(session)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite serializes writers at BEGIN IMMEDIATE
def test_two_calls_racing_past_the_check_make_one_request(engine, Session, monkeypatch):
    """Both transactions miss each other's request in the first look; the index decides."""
    from slots import callbacks

    looked = threading.Barrier(2, timeout=10)
    real_open_on = callbacks._open_on
    calls = threading.local()

    def slow_open_on(*args):
        found = real_open_on(*args)
        if not getattr(calls, "seen", False):
            calls.seen = True
            looked.wait()
        return found

    monkeypatch.setattr(callbacks, "_open_on", slow_open_on)
    results, errors = [], []

    def one(call_id):
        try:
            with Session() as session, session.begin():
                results.append(store.request_callback(session, phone="09012345678", service="vaccine",
                                                      reason="busy", call_id=call_id, now=NOW, tz=TOKYO))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(f"c{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == []
    assert len(results) == 2 and results[0].id == results[1].id
    with Session() as session:
        assert len(store.list_callbacks(session)) == 1


def test_an_expected_status_stops_a_second_taker(tx, Session):
    """Two operators press 「折り返す」 on the same open entry: the second learns it is taken."""
    view = ask(tx)
    later = NOW + timedelta(minutes=1)
    taken = tx(store.set_callback_status, view.id, "called", actor="web:operator1", now=later, expected="open")
    assert taken.status is CallbackStatus.CALLED and taken.updated_by == "web:operator1"
    with pytest.raises(CallbackChanged) as caught:
        tx(store.set_callback_status, view.id, "called", actor="web:operator2", now=later, expected="open")
    assert (caught.value.reason, caught.value.current) == ("callback_changed", "called")
    with pytest.raises(CallbackChanged):
        tx(store.set_callback_status, view.id, "done", actor="web:operator2", now=later, expected="open")
    assert tx(store.list_callbacks)[0].updated_by == "web:operator1"
    with Session() as session:
        audited = session.execute(select(AuditEntry).where(AuditEntry.action == "callback_status")).scalars().all()
    assert len(audited) == 1
    done = tx(store.set_callback_status, view.id, "done", actor="web:operator1", now=later, expected="called")
    assert done.status is CallbackStatus.DONE
    with pytest.raises(InvalidInput):
        tx(store.set_callback_status, view.id, "open", actor="staff", now=later, expected="taken")


def test_counts_by_status(tx):
    assert tx(store.count_callbacks) == CallbackCounts(by_status={}) and tx(store.count_callbacks).open == 0
    made = [ask(tx, phone=f"0312345{n:03d}", now=NOW + timedelta(minutes=n)) for n in range(4)]
    tx(store.set_callback_status, made[0].id, "called", actor="staff", now=NOW)
    tx(store.set_callback_status, made[2].id, "done", actor="staff", now=NOW)
    ask(tx, phone="03-1234-5001")  # the same open request again: not a new one
    counts = tx(store.count_callbacks)
    assert counts.open == 2
    assert counts.by_status == {CallbackStatus.OPEN: 2, CallbackStatus.CALLED: 1, CallbackStatus.DONE: 1}
