from datetime import date, time

import pytest

from ivr.speech.readings import ReadingError, date_reading, digits_reading, kanji_number, time_reading


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "〇"), (1, "一"), (10, "十"), (12, "十二"), (31, "三十一"), (100, "百"), (1234, "千二百三十四"),
     (2026, "二千二十六"), (10000, "一万"), (305000, "三十万五千")],
)
def test_kanji_numbers(n, text):
    assert kanji_number(n) == text


@pytest.mark.parametrize(
    ("day", "text"),
    [(date(2026, 12, 3), "十二月三日 木曜日"), (date(2026, 1, 1), "一月一日 木曜日"), (date(2026, 11, 24), "十一月二十四日 火曜日")],
)
def test_dates_with_weekday(day, text):
    assert date_reading(day) == text


def test_date_without_weekday_with_year():
    assert date_reading(date(2026, 4, 8), weekday=False, year=True) == "二千二十六年四月八日"


@pytest.mark.parametrize(
    ("moment", "text"),
    [(time(14, 30), "午後二時半"), (time(9, 5), "午前九時五分"), (time(9, 0), "午前九時"),
     (time(12, 0), "正午"), (time(0, 15), "午前零時十五分"), (time(12, 45), "午後零時四十五分")],
)
def test_times(moment, text):
    assert time_reading(moment) == text


def test_codes_digit_by_digit_in_groups():
    assert digits_reading("12345670") == "イチ ニー サン ヨン、ゴー ロク ナナ ゼロ"
    assert digits_reading("090-12", group=0) == "ゼロ キュウ ゼロ イチ ニー"
    with pytest.raises(ReadingError):
        digits_reading("12a4")
    with pytest.raises(ReadingError):
        kanji_number(-1)
