"""Masking by meaning (`ivr.privacy`): whatever a caller says that could be a ticket number, a phone
number or a date is masked before it reaches an event, the dashboard or the API."""

from __future__ import annotations

import pytest

from ivr.privacy import csv_cell, mask_code, mask_person, mask_phone, mask_text, sanitize_caller_id

SECRET_DIGITS = "7775834386"


@pytest.mark.parametrize("said", [
    "7775834386です",
    "７７７５８３４３８６",                       # full-width
    "7、7、7、5、8、3、4、3、8、6",              # digit by digit with commas
    "7 7 7 5 8 3 4 3 8 6",
    "7・7・7・5・8・3・4・3・8・6",
    "777-583-4386",
    "1,234,567,890",
    "一二三四五六七八",                           # kanji numerals
    "七七七五八三四三八六です",
    "なな なな なな ご はち さん よん",            # what Vosk writes
    "ナナ、ナナ、ゴ、ハチ",
    "番号は12、34、56です",
    "①②③④",
])
def test_digit_runs_in_any_script_are_masked(said):
    shown = mask_text(said)
    assert "****" in shown
    for ch in "0123456789０１２３４５６７８９一二三四五六七八九":
        assert ch not in shown.replace("*", ""), (said, shown)


@pytest.mark.parametrize("said", [
    "昭和25年3月4日です", "昭和二十五年三月四日", "しょうわにじゅうごねんさんがつよっか", "平成元年1月8日",
    "2026-03-04", "2026/3/4", "3月4日", "十二月三日", "S25.3.4", "1950年3月4日生まれ",
])
def test_dates_are_masked(said):
    shown = mask_text(said)
    assert "****" in shown
    assert not any(ch in shown for ch in "0123456789一二三四五六七八九十"), (said, shown)
    assert "月" not in shown.replace("生まれ", "") or "****" in shown


@pytest.mark.parametrize("said", ["十時", "午前10時半", "1", "2番", "もう一度お願いします", "一人です", "はい", "オペレーター"])
def test_short_non_personal_answers_stay(said):
    assert mask_text(said) == said


def test_masking_keeps_the_words_around_a_number():
    assert mask_text("えっと、7775834386です") == "えっと、****です"


def test_summary_keeps_the_wished_date_but_no_long_numbers():
    summary = "ワクチン 番号: ******4386 希望日: 12/03 時間: 10:30"
    shown = mask_text(summary, keep_dates=True)
    assert "12/03" in shown and "10:30" in shown and "4386" not in shown


def test_phone_code_and_person_masks():
    assert mask_phone("090-1234-5678") == "*******5678"
    assert mask_phone("Taro <0312345678>") == "******5678"
    assert mask_phone(None) == ""
    assert mask_code("12345678") == "*****678"
    assert mask_person("******7890") == "（非表示）" and mask_person("") == ""


@pytest.mark.parametrize(("raw", "clean"), [
    ("09012345678", "09012345678"),
    ("+81 90-1234-5678", "+819012345678"),
    ("0312345678\r\nAction: Originate", "0312345678"),
    ("Taro,UUID: x", ""),
    ("1" * 64, "1" * 20),
    ("", ""),
])
def test_caller_ids_are_sanitized(raw, clean):
    assert sanitize_caller_id(raw) == clean


@pytest.mark.parametrize(("value", "shown"), [
    ("=1+1", "'=1+1"), ("+81", "'+81"), ("-5", "'-5"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("市役所", "市役所"), (12, "12"), (None, ""), ("", ""),
])
def test_csv_cells_never_start_a_formula(value, shown):
    assert csv_cell(value) == shown


def test_access_log_paths_are_redacted():
    import logging

    from ivr.privacy import RedactedAccessLog, redact_path

    assert redact_path("/api/v1/bookings/40912345") == "/api/v1/bookings/***"
    assert redact_path("/api/v1/holds/h_abc123?x=1") == "/api/v1/holds/***?x=1"
    assert redact_path("/api/v1/bookings?date=2026-12-01&limit=5") == "/api/v1/bookings?date=2026-12-01&limit=5"
    assert redact_path("/bookings/search?code=40912345") == "/bookings/***?code=***"
    assert redact_path("/x?code=40912345&date=2026-12-01") == "/x?code=***&date=2026-12-01"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/api/v1/bookings/40912345", "1.1", 404), None)
    assert RedactedAccessLog().filter(record) and "40912345" not in record.getMessage()


@pytest.mark.parametrize(("role", "status", "shown"), [
    ("staff", "open", True), ("staff", "done", True), ("admin", "open", True),
    ("operator", "open", False), ("operator", "called", True), ("operator", "done", False),
    ("channel", "called", False), ("", "called", False),
])
def test_who_sees_a_call_back_number_in_full(role, status, shown):
    from ivr.privacy import shows_callback_phone

    assert shows_callback_phone(role, status) is shown


@pytest.mark.parametrize("said", ["はい！", "午前１０時：３０", "１０時（午前）", "\ue000いいえ"])
def test_full_width_punctuation_and_private_use_characters_do_not_break_masking(said):
    # full-width forms (U+FF00-) were taken for the placeholders of kept dates: an IndexError ended
    # a call with the apology for an internal error (bench/peak.py, 40 calls, 2026-12-01)
    for keep_dates in (False, True):
        masked = mask_text(said, keep_dates=keep_dates)
        assert "\ue000" not in masked and masked.replace("*", "")
