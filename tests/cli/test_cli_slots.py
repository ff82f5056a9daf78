"""`ivr slots ...` and `ivr bookings export` against a real store."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

from slots import store
from slots.db import make_engine, make_sessionmaker, run_in_transaction
from slots.person import Person
from slots.views import BookingView

RELEASE = ("slots", "release", "--service", "vaccine", "--site", "市役所", "--from", "2027-01-04", "--to",
           "2027-01-05", "--times", "09:00-10:00,13:00-14:00", "--every", "15", "--capacity", "4")


def listed(ivr, db, *extra):
    out = ivr("slots", "list", "--service", "vaccine", "--from", "2027-01-04", "--to", "2027-01-05",
              "--json", "--db", db, *extra).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_release_twice_creates_once_and_list_shows_local_times(ivr, db):
    first = ivr(*RELEASE, "--db", db)
    assert "16 slots created, 0 already existed" in first.stdout
    again = ivr(*RELEASE, "--db", db)
    assert "0 slots created, 16 already existed" in again.stdout
    slots = listed(ivr, db)
    assert len(slots) == 16
    assert slots[0]["start"] == "2027-01-04T09:00:00+09:00" and slots[0]["capacity"] == 4
    table = ivr("slots", "list", "--service", "vaccine", "--from", "2027-01-04", "--db", db)
    assert "2027-01-04 09:00  市役所  0+0/4  available 4" in table.stdout
    assert "16 slots" in table.stderr


def test_big_release_goes_day_by_day_and_stays_idempotent(ivr, db):
    big = ("slots", "release", "--service", "checkup", "--site", "保健センター", "--from", "2027-02-01",
           "--to", "2027-02-28", "--times", "08:00-20:00", "--every", "10", "--capacity", "2", "--db", db)
    result = ivr(*big)
    assert "2016 slots created, 0 already existed" in result.stdout
    assert "releasing 2016 slots" in result.stderr
    assert "0 slots created, 2016 already existed" in ivr(*big).stdout


def test_bad_release_input_is_a_clear_error(ivr, db):
    bad_times = ivr(*RELEASE[:-6], "--times", "9-10", "--every", "15", "--capacity", "4", "--db", db, ok=False)
    assert bad_times.exit_code == 1 and "invalid_batch: times: expected HH:MM-HH:MM, got '9-10'" in bad_times.stderr
    backwards = ivr("slots", "release", "--service", "v", "--site", "s", "--from", "2027-01-05", "--to",
                    "2027-01-04", "--times", "09:00-10:00", "--every", "15", "--capacity", "1", "--db", db, ok=False)
    assert "date_to is before date_from" in backwards.stderr
    bad_date = ivr(*RELEASE[:7], "2027-13-01", *RELEASE[8:], "--db", db, ok=False)
    assert bad_date.exit_code == 2 and "--from" in bad_date.stderr and "2027-13-01" in bad_date.stderr
    assert listed(ivr, db) == []


def test_unreachable_or_unmigrated_database_is_a_clear_error(ivr, tmp_path):
    result = ivr(*RELEASE, "--db", f"sqlite:///{tmp_path / 'empty.db'}", ok=False)
    assert result.exit_code == 1 and "ivr db upgrade" in result.stderr


def test_opens_at_without_offset_is_local(ivr, db):
    ivr(*RELEASE, "--opens-at", "2027-01-01T09:00", "--db", db)
    engine = make_engine(db)
    try:
        views = run_in_transaction(make_sessionmaker(engine), store.list_slots, "vaccine",
                                   datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC),
                                   now=datetime(2026, 11, 24, tzinfo=UTC))
    finally:
        engine.dispose()
    assert views[0].opens_at == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_import_releases_every_row_or_nothing(ivr, db, tmp_path):
    good = tmp_path / "batches.csv"
    good.write_text(
        "service,site,date_from,date_to,times,every_minutes,capacity,opens_at\n"
        "vaccine,市役所,2027-01-04,2027-01-04,09:00-10:00;13:00-14:00,30,3,\n"
        "vaccine,保健センター,2027-01-05,2027-01-05,10:00-11:00,20,2,2027-01-01T00:00:00+09:00\n",
        encoding="utf-8",
    )
    result = ivr("slots", "import", str(good), "--db", db)
    assert result.stdout.count("slots created") == 2 and "2 batches, 7 slots created" in result.stderr
    assert len(listed(ivr, db)) == 7

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "service,site,date_from,date_to,times,every_minutes,capacity\n"
        "checkup,市役所,2027-01-04,2027-01-04,09:00-10:00,30,3\n"
        "checkup,市役所,2027-01-04,2027-01-04,09:00-10:00,thirty,3\n",
        encoding="utf-8",
    )
    failed = ivr("slots", "import", str(bad), "--db", db, ok=False)
    assert failed.exit_code == 1 and "line 3: every_minutes: expected a whole number" in failed.stderr
    assert ivr("slots", "list", "--service", "checkup", "--from", "2027-01-04", "--json", "--db", db).stdout == ""
    missing = tmp_path / "missing.csv"
    missing.write_text("service,site\nvaccine,市役所\n", encoding="utf-8")
    assert "missing columns" in ivr("slots", "import", str(missing), "--db", db, ok=False).stderr


def test_demo_is_idempotent(ivr, db):
    first = ivr("slots", "demo", "--db", db).stdout
    assert first.count("slots created") == 2 and " 0 slots created" not in first
    assert ivr("slots", "demo", "--db", db).stdout.count(" 0 slots created") == 2


def test_bookings_export_has_no_personal_data_in_clear(ivr, db, tmp_path):
    ivr(*RELEASE, "--db", db)
    engine = make_engine(db)
    Session = make_sessionmaker(engine)  # noqa: N806
    now = datetime(2026, 11, 24, tzinfo=UTC)
    try:
        slots = run_in_transaction(Session, store.list_slots, "vaccine", datetime(2027, 1, 4, tzinfo=UTC),
                                   datetime(2027, 1, 6, tzinfo=UTC), now=now)
        key = b"cli-test-person-key"
        first = run_in_transaction(Session, store.book, slots[0].id,
                                   Person.from_ticket(key, "9876543210", date(1944, 5, 6)), channel="phone", now=now)
        second = run_in_transaction(Session, store.book, slots[1].id,
                                    Person.from_ticket(key, "1111222233", date(1950, 1, 2)), channel="web", now=now)
        run_in_transaction(Session, store.cancel, second.code, channel="staff", now=now)
    finally:
        engine.dispose()
    out = tmp_path / "export.csv"
    result = ivr("bookings", "export", "--date", "2027-01-04", "--service", "vaccine", "--db", db, "-o", str(out))
    assert "2 bookings" in result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["code"], r["status"]) for r in rows] == [(first.code, "confirmed"), (second.code, "cancelled")]
    assert rows[0]["start"] == "2027-01-04T09:00:00+09:00" and rows[0]["person_masked"] == "******3210"
    text = out.read_text(encoding="utf-8")
    assert "9876543210" not in text and "1111222233" not in text and "1944-05-06" not in text
    # A random booking code may contain "1944"; every other field must not.
    assert not [value for row in rows for name, value in row.items() if name != "code" and "1944" in value]
    confirmed = ivr("bookings", "export", "--date", "2027-01-04", "--status", "confirmed", "--db", db).stdout
    assert first.code in confirmed and second.code not in confirmed
    assert ivr("bookings", "export", "--date", "2027-01-05", "--db", db).stdout.strip() == ",".join(
        ("code", "status", "service", "site", "slot_id", "start", "end", "channel", "created_at",
         "cancelled_at", "person_masked"))


def test_bookings_export_escapes_spreadsheet_formulas():
    from ivr.commands.bookings import export_row
    from ivr.config import Settings

    start = datetime(2027, 1, 4, tzinfo=UTC)
    view = BookingView("12345678", "confirmed", "=cmd|' /C calc'!A0", "@SUM(A1)", 1, start, start, "phone", start,
                       "******3210")
    row = export_row(view, Settings())
    assert row[2] == "'=cmd|' /C calc'!A0" and row[3] == "'@SUM(A1)" and row[0] == "12345678"
