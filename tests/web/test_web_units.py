"""Pure parts of the dashboard: sessions, CSRF, users, form parsing, masking, grids, handovers."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.events import CallStarted, Transferred
from ivr.privacy import mask_code, mask_person
from ivr.web.auth import Authenticator, AuthError, SessionCodec, check_csrf, token_fingerprint
from ivr.web.display import build_grids, csv_rows, per_hour
from ivr.web.forms import FormError, parse_batch, parse_code, parse_times
from ivr.web.handovers import Handovers
from ivr.web.users import UserError, UserFile, make_user
from slots.views import BookingView, SlotView

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_session_round_trip_expiry_and_tampering():
    codec = SessionCodec("secret-a", max_age_seconds=600)
    cookie, session = codec.issue("u:alice", "staff", now=NOW)
    read = codec.read(cookie, now=NOW + timedelta(seconds=599))
    assert read == session and read.allows("operator") and not read.allows("admin")
    assert codec.read(cookie, now=NOW + timedelta(seconds=600)) is None
    assert codec.read(cookie[:-2] + "xx", now=NOW) is None
    assert SessionCodec("secret-b", 600).read(cookie, now=NOW) is None
    assert codec.read("", now=NOW) is None and codec.read("garbage", now=NOW) is None


def test_csrf_must_match_the_session():
    _, session = SessionCodec("s", 60).issue("u:bob", "operator", now=NOW)
    check_csrf(session, session.csrf)
    for submitted in (None, "", session.csrf + "x"):
        with pytest.raises(AuthError) as error:
            check_csrf(session, submitted)
        assert error.value.status == 403


def test_users_file_hashes_passwords_and_validates(tmp_path):
    users = UserFile(tmp_path / "users.json")
    users.add(make_user("sato.k", "staff", "a-long-password"))
    raw = (tmp_path / "users.json").read_text()
    assert "a-long-password" not in raw and json.loads(raw)["users"][0]["role"] == "staff"
    assert oct(os.stat(tmp_path / "users.json").st_mode & 0o777) == "0o600"
    assert users.authenticate("sato.k", "a-long-password").role == "staff"
    assert users.authenticate("sato.k", "wrong-password!") is None
    assert users.authenticate("nobody", "a-long-password") is None
    with pytest.raises(UserError, match="すでに使われています"):
        users.add(make_user("sato.k", "operator", "another-password"))
    with pytest.raises(UserError, match="10文字以上"):
        make_user("tanaka", "staff", "short")
    with pytest.raises(UserError, match="ユーザー名"):
        make_user("x", "staff", "a-long-password")
    with pytest.raises(UserError, match="権限"):
        make_user("tanaka", "channel", "a-long-password")


def test_sessions_end_when_the_user_or_token_goes(tmp_path):
    users = UserFile(tmp_path / "users.json")
    users.add(make_user("suzuki", "operator", "a-long-password"))
    auth = Authenticator(users, {"tok-staff": "staff", "tok-channel": "channel"})
    codec = SessionCodec("s", 600)
    assert auth.login_token("tok-channel") is None  # the channel role has no web page
    subject, role = auth.login_token(" tok-staff ")
    assert subject == f"t:{token_fingerprint('tok-staff')}" and role == "staff" and "tok-staff" not in subject
    _, by_token = codec.issue(subject, role, now=NOW)
    assert auth.still_valid(by_token)
    assert not Authenticator(users, {"other": "staff"}).still_valid(by_token)
    _, by_user = codec.issue(*auth.login_password("suzuki", "a-long-password"), now=NOW)
    assert auth.still_valid(by_user)
    users.remove("suzuki")
    assert not auth.still_valid(by_user)


@pytest.mark.parametrize("field, value, message", [
    ("service", "", "サービス名を入力してください"),
    ("date_from", "2026-13-01", "開始日を正しい日付で"),
    ("date_from", "2026-11-01", "過去の日付"),
    ("date_to", "2026-11-30", "終了日は開始日と同じか"),
    ("date_to", "2028-01-01", "1年分まで"),
    ("times", "9時-12時", "受付時間を"),
    ("times", "12:00-09:00", "受付時間を"),
    ("every_minutes", "0", "5〜240分"),
    ("every_minutes", "abc", "5〜240分"),
    ("capacity", "-1", "1〜1000"),
    ("opens_at", "tomorrow", "受付開始日時"),
])
def test_batch_form_rejects_bad_input_in_japanese(field, value, message):
    form = {"service": "接種", "site": "本庁舎", "date_from": "2026-12-01", "date_to": "2026-12-05",
            "times": "09:00-12:00", "every_minutes": "30", "capacity": "4", "opens_at": "", field: value}
    with pytest.raises(FormError) as error:
        parse_batch(form, TOKYO, today=date(2026, 11, 24))
    assert message in error.value.errors[field]


def test_batch_form_accepts_good_input():
    form = {"service": " 接種 ", "site": "本庁舎", "date_from": "2026-12-01", "date_to": "2026-12-05",
            "times": "13:00 〜 17:00、09:00-12:00", "every_minutes": "30", "capacity": "4",
            "opens_at": "2026-11-25T09:00"}
    parsed = parse_batch(form, TOKYO, today=date(2026, 11, 24))
    assert parsed.service == "接種" and parsed.times == ("13:00-17:00", "09:00-12:00")
    assert parsed.opens_at == datetime(2026, 11, 25, 9, 0, tzinfo=TOKYO)
    assert parse_times("9:00-9:30 10:00-10:30") == ("09:00-09:30", "10:00-10:30")


def test_booking_codes_are_normalized_or_refused():
    assert parse_code("１２３４ ５６７８") == "12345678"
    assert parse_code("1234-5678") == "12345678"
    for bad in ("", "1234567", "123456789", "abcdefgh", None):
        with pytest.raises(FormError, match="8桁"):
            parse_code(bad)


def _booking(code="12345678", masked="******7890"):
    start = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    return BookingView(code, "confirmed", "接種", "本庁舎", 1, start, start + timedelta(minutes=30), "phone",
                       NOW, masked)


def test_masking_for_operators():
    assert mask_code("12345678") == "*****678"
    assert mask_person("******7890") == "（非表示）"
    masked = csv_rows([_booking()], TOKYO, full=False)[1]
    assert "12345678" not in masked and not any("7890" in cell for cell in masked)
    full = csv_rows([_booking()], TOKYO, full=True)[1]
    assert full[0] == "12345678" and full[4] == "2026-12-01 09:30" and full[-1] == "******7890"


def test_grid_per_site_with_every_day_of_the_week():
    def slot(i, site, hour, day, booked=0, capacity=4, closed=False):
        start = datetime(2026, 12, day, hour, tzinfo=TOKYO)
        return SlotView(i, "接種", site, start, start + timedelta(minutes=30), capacity, booked, 0,
                        capacity - booked, None, closed)

    days = [date(2026, 12, 1) + timedelta(days=i) for i in range(7)]
    grids = build_grids([slot(1, "B館", 9, 1), slot(2, "A館", 9, 2, booked=4), slot(3, "A館", 10, 2, booked=3),
                         slot(4, "A館", 11, 3, closed=True)], TOKYO, days)
    assert [g.site for g in grids] == ["A館", "B館"]
    a = grids[0]
    assert a.days == tuple(days) and a.times == ("09:00", "10:00", "11:00")
    assert a.cell("09:00", date(2026, 12, 2)).level == "full"
    assert a.cell("10:00", date(2026, 12, 2)).level == "few"
    assert a.cell("11:00", date(2026, 12, 3)).level == "closed"
    assert a.cell("09:00", date(2026, 12, 1)) is None


def test_hours_are_counted_in_the_municipality_zone():
    counts = per_hour([datetime(2026, 11, 24, 0, 15, tzinfo=UTC), datetime(2026, 11, 24, 0, 45, tzinfo=UTC)], TOKYO)
    assert counts[9] == 2 and sum(counts) == 2


def test_handover_summary_is_found_by_channel():
    handovers = Handovers()
    handovers.apply(CallStarted("c1", channel="PJSIP/t-1", at=NOW))
    handovers.apply(Transferred("c1", summary="用件: 変更", at=NOW))
    assert handovers.for_channel("PJSIP/t-1", NOW + timedelta(minutes=5)).summary == "用件: 変更"
    assert handovers.for_channel("PJSIP/t-1", NOW + timedelta(hours=3)) is None
    assert handovers.for_channel("PJSIP/t-2", NOW) is None
    assert [h.call_id for h in handovers.recent(NOW)] == ["c1"]


def test_cli_manages_the_users_file(tmp_path):
    from click.testing import CliRunner

    from ivr.cli import cli

    path = str(tmp_path / "users.json")
    runner = CliRunner()
    added = runner.invoke(cli, ["web-users", "add", "--file", path, "--role", "admin", "kato", "--password", "long-password-1"])
    assert added.exit_code == 0, added.output
    short = runner.invoke(cli, ["web-users", "add", "--file", path, "--role", "staff", "ito", "--password", "short"])
    assert short.exit_code != 0 and "10文字以上" in short.output
    assert runner.invoke(cli, ["web-users", "list", "--file", path]).output == "kato\tadmin\n"
    assert runner.invoke(cli, ["web-users", "remove", "--file", path, "kato"]).exit_code == 0
    assert UserFile(tmp_path / "users.json").load() == {}


def test_login_throttle_blocks_after_repeated_failures():
    from ivr.web.auth import LoginThrottle

    throttle = LoginThrottle(max_failures=3, window=timedelta(minutes=10))
    for i in range(3):
        assert not throttle.blocked("10.0.0.1", now=NOW)
        throttle.failed("10.0.0.1", now=NOW + timedelta(seconds=i))
    assert throttle.blocked("10.0.0.1", now=NOW + timedelta(minutes=1))
    assert not throttle.blocked("10.0.0.2", now=NOW + timedelta(minutes=1))
    assert not throttle.blocked("10.0.0.1", now=NOW + timedelta(minutes=11))
    throttle.failed("10.0.0.1", now=NOW)
    throttle.succeeded("10.0.0.1")
    assert not throttle.blocked("10.0.0.1", now=NOW)


def test_every_call_outcome_has_a_label_and_no_other_does():
    from ivr.web.display import OUTCOME_LABELS
    from slots.outcomes import CallOutcome

    assert set(OUTCOME_LABELS) == set(CallOutcome)


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_csv_export_escapes_spreadsheet_formulas(hostile):
    booking = _booking()
    row = csv_rows([replace(booking, site=hostile, service=hostile)], TOKYO, full=True)[1]
    assert row[2] == row[3] == "'" + hostile
    assert csv_rows([booking], TOKYO, full=True)[1][3] == "本庁舎"  # plain text unchanged
