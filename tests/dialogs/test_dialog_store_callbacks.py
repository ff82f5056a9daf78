"""The dialog's `request_callback` store call against the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from dialogs.messages import StoreCall
from ivr.config import Settings
from ivr.store_calls import DialogStore, execute
from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction

NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 08:00 on the 25th in Tokyo


@pytest.fixture
def world(store_url):
    settings = Settings(db=store_url, person_key=SecretStr("dialog-test-key"))
    engine = make_engine(store_url)
    yield settings, make_sessionmaker(engine)
    engine.dispose()


def ask(world, phone="090-1234-5678", *, now=NOW, call_id="call-1", **args):
    settings, factory = world
    call = StoreCall("request_callback", {"service": "vaccine", "reason": "no_operator", "phone": phone, **args})
    return execute(factory, call, settings=settings, call_id=call_id, channel="phone", now=now)


def test_a_request_is_stored_and_only_the_last_four_digits_come_back(world):
    result = ask(world)
    assert (result.op, result.ok, result.reason) == ("request_callback", True, None)
    assert set(result.value) == {"id", "phone_tail"} and result.value["phone_tail"] == "5678"
    [view] = run_in_transaction(world[1], store.list_callbacks)
    assert (view.id, view.phone, view.service, view.reason, view.call_id) == (
        result.value["id"], "09012345678", "vaccine", "no_operator", "call-1")


def test_asking_again_the_same_day_is_the_same_request(world):
    first = ask(world)
    # 23:59 in Tokyo on the 25th is still the same day; the next morning is not
    again = ask(world, "09012345678", now=NOW + timedelta(hours=15, minutes=59), call_id="call-2")
    next_day = ask(world, now=NOW + timedelta(hours=16), call_id="call-3")
    assert again.value == first.value and next_day.value["id"] != first.value["id"]


@pytest.mark.parametrize("phone", ["", "abc", "1234", "090-1234-56789", "9012345678", None])
def test_a_bad_number_is_invalid_phone_and_never_logged(world, phone, caplog):
    caplog.set_level(logging.DEBUG)
    result = ask(world, phone)
    assert (result.ok, result.value, result.reason) == (False, {}, "invalid_phone")
    assert run_in_transaction(world[1], store.list_callbacks) == []
    if phone:
        assert phone not in caplog.text


def test_a_missing_number_is_invalid_phone(world):
    settings, factory = world
    call = StoreCall("request_callback", {"service": "vaccine", "reason": "after_hours"})
    result = execute(factory, call, settings=settings, call_id="c", channel="phone", now=NOW)
    assert (result.ok, result.reason) == (False, "invalid_phone")


def test_missing_service_or_reason_is_bad_arguments(world):
    settings, factory = world
    for args in ({"reason": "busy", "phone": "0312345678"}, {"service": "vaccine", "phone": "0312345678"}):
        result = execute(factory, StoreCall("request_callback", args), settings=settings, call_id="c",
                         channel="phone", now=NOW)
        assert (result.ok, result.reason) == (False, "bad_arguments")


def test_the_number_is_never_logged(world, caplog):
    caplog.set_level(logging.DEBUG)
    dialog_store = DialogStore(world[1], world[0], clock=lambda: NOW)
    result = dialog_store.execute(StoreCall("request_callback", {"service": "vaccine", "reason": "busy",
                                                                 "phone": "080-9876-5432"}),
                                  call_id="x", channel="phone")
    assert result.ok and result.value["phone_tail"] == "5432"
    assert "9876" not in caplog.text and "08098765432" not in caplog.text
