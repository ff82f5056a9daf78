"""Global intents, keypad answers, readings and the kanji numeral helpers."""

from datetime import date, time

import pytest

from dialogs.normalize import parse, parse_intent
from dialogs.normalize.keys import key_birthdate, key_date, key_time, key_yesno
from dialogs.normalize.text import clean, kanji_number
from dialogs.readings import birthdate_reading, date_reading, digits_reading, kanji, masked, time_reading

TODAY = date(2026, 11, 25)

INTENTS = [
    ("もう一度", "repeat"), ("もう一度お願いします", "repeat"), ("もう1回", "repeat"), ("もういちど言ってください", "repeat"),
    ("聞こえませんでした", "repeat"), ("繰り返してください", "repeat"), ("オペレーター", "operator"),
    ("オペレーターをお願いします", "operator"), ("人と話したい", "operator"), ("人と話したいです", "operator"),
    ("担当者につないでください", "operator"), ("職員の方と話せますか", "operator"), ("最初から", "restart"),
    ("最初からやり直したい", "restart"), ("もう一度最初からお願いします", "restart"), ("はじめから", "restart"),
    ("オケレーターと話したいです。", "operator"), ("係の人と話したいです", "operator"),
    ("はい", None), ("12月3日", None), ("予約", None), ("えーと", None), ("予約について", None),
]


@pytest.mark.parametrize(("text", "expected"), INTENTS)
def test_intent(text, expected):
    assert parse_intent(text) == expected


KEYS = [
    (key_date, "3", "2026-12-03"), (key_date, "25", "2026-11-25"), (key_date, "1203", "2026-12-03"),
    (key_date, "0105", "2027-01-05"), (key_date, "20261203", "2026-12-03"), (key_date, "1332", None),
    (key_date, "0", None), (key_date, "123", None), (key_time, "1430", "14:30"), (key_time, "930", "09:30"),
    (key_time, "2", "14:00"), (key_time, "10", "10:00"), (key_time, "2460", None), (key_time, "12345", None),
    (key_birthdate, "19650506", "1965-05-06"), (key_birthdate, "19650230", None), (key_birthdate, "650506", None),
    (key_birthdate, "20300101", None),
]


@pytest.mark.parametrize(("fn", "keys", "expected"), KEYS)
def test_keys(fn, keys, expected):
    value = fn(keys) if fn is key_time else fn(keys, today=TODAY)
    text = None if value is None else value.isoformat() if isinstance(value, date) else f"{value:%H:%M}"
    assert text == expected


def test_key_yesno():
    assert key_yesno("1") is True and key_yesno("2") is False and key_yesno("3") is None


@pytest.mark.parametrize(
    ("run", "value"),
    [("十二", "12"), ("二十四", "24"), ("三十一", "31"), ("百", "100"), ("千九百六十五", "1965"), ("二〇二六", "2026"),
     ("一万二千", "12000"), ("十", "10"), ("二二", "22")],
)
def test_kanji_number(run, value):
    assert kanji_number(run) == value


def test_clean_strips_fillers_spacing_and_politeness():
    assert clean("えーと、 十二月 三日 でお願いします。") == "12月3日"
    assert clean("あのー １４時です") == "14時"


@pytest.mark.parametrize(
    ("value", "reading"),
    [(date(2026, 12, 3), "十二月三日 木曜日"), (date(2027, 1, 10), "一月十日 日曜日"), (date(2026, 11, 25), "十一月二十五日 水曜日")],
)
def test_date_reading(value, reading):
    assert date_reading(value) == reading


@pytest.mark.parametrize(
    ("value", "reading"),
    [(time(14, 30), "午後二時半"), (time(9, 0), "午前九時"), (time(12, 0), "正午"), (time(16, 45), "午後四時四十五分"),
     (time(12, 30), "午後十二時半"), (time(10, 10), "午前十時十分"), (time(0, 15), "午前零時十五分")],
)
def test_time_reading(value, reading):
    assert time_reading(value) == reading


def test_code_and_masks():
    assert digits_reading("40912") == "ヨン、ゼロ、キュー、イチ、ニー"
    assert masked("1234567890") == "******7890"
    assert birthdate_reading(date(1989, 2, 3)) == "平成元年二月三日"
    assert kanji(2026) == "二千二十六"


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "零"), (1, "一"), (10, "十"), (12, "十二"), (100, "百"), (1234, "千二百三十四"), (10000, "一万"),
     (305000, "三十万五千"), (120000000, "一億二千万")],
)
def test_kanji_numerals_of_any_size(n, text):
    assert kanji(n) == text


def test_no_reading_of_a_negative_number():
    with pytest.raises(ValueError):
        kanji(-1)


def test_parse_dispatch_and_unknown_kind():
    assert parse("time", "2時半", today=TODAY) == time(14, 30)
    with pytest.raises(ValueError, match="unknown input kind"):
        parse("colour", "赤", today=TODAY)
