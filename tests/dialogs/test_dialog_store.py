"""Dialogs against the real slot store (SQLite and PostgreSQL) through `ivr.store_calls`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from dialogs.engine import CheckOperators, Engine, Hangup, StoreCall
from dialogs.script import load_script
from ivr.cli import cli
from ivr.config import Settings
from ivr.store_calls import DialogStore, execute
from slots import store
from slots.batches import BatchSpec
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.person import Person
from tests.dialogs.helpers import converse, keys, said

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"
VACCINE = load_script(SCRIPTS / "vaccine.yaml")
TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 08:00 on the 25th in Tokyo
KEY = "dialog-test-key"


@pytest.fixture
def world(store_url):
    settings = Settings(db=store_url, person_key=SecretStr(KEY), hold_ttl_seconds=300)
    engine = make_engine(store_url)
    factory = make_sessionmaker(engine)
    spec = BatchSpec(service="vaccine", site="市役所本庁舎", date_from=date(2026, 12, 1), date_to=date(2026, 12, 4),
                     times=("09:00-10:00", "14:00-15:00"), every_minutes=30, capacity=2)
    run_in_transaction(factory, store.release_batch, spec, actor="test", now=NOW)
    yield settings, factory
    engine.dispose()


def talk(settings, factory, turns, *, script=VACCINE, now=NOW, call_id="call-1"):
    """Feed caller inputs; store calls are executed for real. Returns (engine, everything said, last action)."""
    engine = Engine(script, today=TODAY)
    caller = converse(engine, turns, lambda call: execute(factory, call, settings=settings, call_id=call_id,
                                                          channel="phone", now=now))
    return engine, caller.spoken, caller.last


def slot_at(factory, hhmm: str, day: str = "2026-12-03"):
    start = datetime.fromisoformat(f"{day}T{hhmm}:00+09:00")
    found = run_in_transaction(factory, store.list_slots, "vaccine", start, start + timedelta(minutes=1), now=NOW)
    return found[0]


BOOK = [keys("1"), said("1234567890"), said("昭和40年5月6日"), said("12月3日"), said("2時半")]


def test_book_by_phone(world):
    settings, factory = world
    engine, spoken, last = talk(settings, factory, [*BOOK, said("はい")])
    assert isinstance(last, Hangup)
    code = engine.values["code"]
    assert len(code) == 8 and code.isdigit()
    booking = run_in_transaction(factory, store.get_booking, code)
    assert booking.status == "confirmed" and booking.start == datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    person = Person.from_ticket(KEY.encode(), "1234567890", date(1965, 5, 6))
    assert run_in_transaction(factory, store.find_active_booking, person, "vaccine").code == code
    assert any("十二月三日は、午前九時から午後二時半まで空きがあります" in text for text in spoken)


def test_by_phone_a_ticket_without_its_birth_date_hears_nothing_of_a_booking(world):
    """Someone who knows a ticket number but not the birth date is answered as for a free ticket."""
    settings, factory = world
    talk(settings, factory, [*BOOK, said("はい")], call_id="owner")
    other = [keys("1"), said("1234567890"), said("昭和50年1月2日"), said("12月3日"), said("9時"), said("はい")]
    engine, spoken, _ = talk(settings, factory, other, call_id="stranger")
    assert not any("すでにご予約があります" in text for text in spoken)
    assert len(engine.values.get("code") or "") == 8
    again, spoken, _ = talk(settings, factory, [*BOOK, said("はい")], call_id="owner-again")
    assert any("すでにご予約があります" in text for text in spoken)  # ticket and birth date match: told


def test_slot_is_held_the_moment_it_is_chosen_and_released_on_change(world):
    settings, factory = world
    engine, _, _ = talk(settings, factory, BOOK)
    assert engine.step == "readback"
    assert slot_at(factory, "14:30").held == 1
    engine, _, _ = talk(settings, factory, [*BOOK, said("いいえ"), said("時間を変えたい")])
    assert engine.step == "time"
    assert slot_at(factory, "14:30").held == 1  # the first call's hold is still live, this one gave its back


def test_full_time_offers_the_nearest_open_times(world):
    settings, factory = world
    target = slot_at(factory, "14:30")
    for n in range(2):
        run_in_transaction(factory, store.hold, target.id, ttl_seconds=300, channel="web", call_id=f"w{n}", now=NOW)
    engine, spoken, _ = talk(settings, factory, BOOK)
    assert engine.step == "time_full"
    assert "午後二時半は空きがありません。近い時間では、午前九時、午前九時半、午後二時が空いています" in spoken[-1]


def test_slot_taken_between_listing_and_choosing(world):
    settings, factory = world
    target = slot_at(factory, "14:30")
    turns = BOOK[:-1]
    engine, _, _ = talk(settings, factory, turns)
    assert engine.step == "time"
    for n in range(2):  # web bookings take the last places while the caller is talking
        run_in_transaction(factory, store.hold, target.id, ttl_seconds=300, channel="web", call_id=f"w{n}", now=NOW)
    actions = engine.handle(said("2時半"))
    result = execute(factory, actions[-1], settings=settings, call_id="c", channel="phone", now=NOW)
    assert not result.ok and result.reason == "slot_full" and result.value["alternatives"]
    actions = engine.handle(result)
    assert engine.step == "time_full" and "近い時間では" in actions[0].text


def test_wrong_birth_date_finds_nothing(world):
    settings, factory = world
    talk(settings, factory, [*BOOK, said("はい")])
    engine, spoken, _ = talk(settings, factory, [keys("2"), said("1234567890"), said("昭和40年5月7日")])
    assert engine.step == "not_found"


def test_check_cancel_and_move(world):
    settings, factory = world
    booked, _, _ = talk(settings, factory, [*BOOK, said("はい")])
    code = booked.values["code"]
    _, spoken, _ = talk(settings, factory, [keys("2"), said("1234567890"), said("昭和40年5月6日")])
    assert any("十二月三日 木曜日、午後二時半、市役所本庁舎" in text for text in spoken)
    moved, _, last = talk(settings, factory, [keys("4"), said("1234567890"), said("昭和40年5月6日"), said("12月4日"),
                                              said("9時"), said("はい")])
    assert isinstance(last, Hangup) and moved.values["code"] == code
    after = run_in_transaction(factory, store.get_booking, code)
    assert after.start == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert slot_at(factory, "14:30").booked == 0 and slot_at(factory, "09:00", "2026-12-04").booked == 1
    talk(settings, factory, [keys("3"), said("1234567890"), said("昭和40年5月6日"), said("はい")])
    assert run_in_transaction(factory, store.get_booking, code).status == "cancelled"


def test_day_without_places_offers_other_days(world):
    settings, factory = world
    engine, spoken, _ = talk(settings, factory, [keys("1"), said("1234567890"), said("昭和40年5月6日"), said("12月10日")])
    assert engine.step == "date_full"
    assert "十二月十日 木曜日は空きがありません。近い日では、十二月四日 金曜日の午前九時半、午後二時、午後二時半が" in spoken[-1]


def test_dialog_store_object_and_unknown_op(world):
    settings, factory = world
    dialog_store = DialogStore(factory, settings, clock=lambda: NOW)
    result = dialog_store.execute(StoreCall("find_available", {"service": "vaccine", "date": "2026-12-01"}),
                                  call_id="x", channel="phone")
    assert result.ok and len(result.value["slots"]) == 4
    assert dialog_store.execute(StoreCall("explode", {}), call_id="x", channel="phone").reason == "unknown_op"
    bad = dialog_store.execute(StoreCall("hold", {"service": "vaccine"}), call_id="x", channel="phone")
    assert not bad.ok and bad.reason == "bad_arguments"


def test_simulate_in_the_terminal(world, monkeypatch):
    settings, _ = world
    monkeypatch.setenv("MADOGUCHI_PERSON_KEY", KEY)
    typed = "#1\n1234567890\n昭和40年5月6日\n12月3日\n2時半\nはい\n"
    result = CliRunner().invoke(cli, ["dialogs", "simulate", str(SCRIPTS / "vaccine.yaml"), "--today", "2026-11-25",
                                      "--db", settings.db], input=typed)
    assert result.exit_code == 0, result.output
    assert "窓口> 予約しました。予約番号は" in result.stdout
    assert "[通話終了: completed]" in result.stdout


def test_simulate_hang_up_releases_the_hold(world, monkeypatch):
    settings, factory = world
    monkeypatch.setenv("MADOGUCHI_PERSON_KEY", KEY)
    typed = "#1\n#1234567890#\n#19650506#\n#1203#\n#1430#\n"
    result = CliRunner().invoke(cli, ["dialogs", "simulate", str(SCRIPTS / "vaccine.yaml"), "--today", "2026-11-25",
                                      "--db", settings.db], input=typed)
    assert result.exit_code == 0, result.output
    assert "[通話終了: caller hung up]" in result.stdout
    assert slot_at(factory, "14:30").held == 0


def test_database_trouble_becomes_a_value(tmp_path):
    settings = Settings(db=f"sqlite:///{tmp_path / 'empty.db'}", person_key=SecretStr(KEY))
    engine = make_engine(settings.db)  # never migrated: every statement fails
    factory = make_sessionmaker(engine)
    result = execute(factory, StoreCall("find_available", {"service": "vaccine", "date": "2026-12-03"}),
                     settings=settings, call_id="c", channel="phone", now=NOW)
    assert (result.ok, result.reason) == (False, "db_unavailable")
    dialog = Engine(VACCINE, today=TODAY)
    dialog.start()
    for event in (keys("1"), said("1234567890"), said("昭和40年5月6日")):
        dialog.handle(event)
    actions = dialog.handle(said("12月3日"))
    actions = dialog.handle(execute(factory, actions[-1], settings=settings, call_id="c", channel="phone", now=NOW))
    assert "処理ができませんでした" in actions[0].text and isinstance(actions[-1], CheckOperators)  # then a person
    engine.dispose()


def test_a_dropped_commit_neither_holds_nor_books_twice(world):
    """Each store call is one attempt with its own request key: `run_in_transaction` retrying after a
    COMMIT that reached the database returns the first hold and booking instead of repeating them."""
    from tests.fixtures.databases import dropped_commits

    settings, factory = world
    slot = slot_at(factory, "14:30")
    with dropped_commits(factory) as drop:
        drop(1)
        held = execute(factory, StoreCall("hold", {"slot_id": slot.id}), settings=settings, call_id="c",
                       channel="phone", now=NOW)
        assert held.ok and run_in_transaction(factory, store.get_slot, slot.id, now=NOW).held == 1
        drop(1)
        booked = execute(factory, StoreCall("confirm", {"hold_id": held.value["hold_id"], "ticket": "1234567890",
                                                        "birthdate": "1965-05-06"}),
                         settings=settings, call_id="c", channel="phone", now=NOW)
    assert booked.ok, booked.reason
    seen = run_in_transaction(factory, store.get_slot, slot.id, now=NOW)
    assert (seen.booked, seen.held) == (1, 0)


def test_by_phone_before_a_batch_opens_the_caller_hears_when(world):
    """A day of a batch that opens later is not "full": the caller hears when it opens, and with
    nothing else open is asked to call again then (on the store's own opens_at, in Tokyo time)."""
    settings, factory = world
    spec = BatchSpec(service="vaccine", site="市役所本庁舎", date_from=date(2026, 12, 10), date_to=date(2026, 12, 10),
                     times=("09:00-10:00",), every_minutes=30, capacity=2,
                     opens_at=datetime(2026, 11, 25, 9, 0, tzinfo=Settings().tz))
    run_in_transaction(factory, store.release_batch, spec, actor="test", now=NOW)
    _, spoken, _ = talk(settings, factory, [keys("1"), said("1234567890"), said("昭和40年5月6日"), said("12月10日")])
    assert any("十二月十日 木曜日のご予約は、十一月二十五日 水曜日 午前九時から受け付けます" in text for text in spoken), spoken
    assert any("ほかの日にちでしたら" in text for text in spoken)  # the first batch's days are open now
    assert run_in_transaction(factory, store.find_available, "vaccine", datetime(2026, 12, 10, tzinfo=UTC),
                              datetime(2026, 12, 11, tzinfo=UTC), now=NOW) == []
