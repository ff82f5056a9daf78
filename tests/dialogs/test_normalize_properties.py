"""Properties: what the line reads aloud is understood back, and no input makes a parser raise."""

from datetime import date, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.normalize import match_choice, parse_birthdate, parse_date, parse_digits, parse_intent, parse_time, parse_yesno
from dialogs.readings import birthdate_reading, date_reading, digits_reading, time_reading

TODAY = date(2026, 11, 25)
FIXED = settings(derandomize=True, database=None)  # the same examples on every run
JAPANESE = st.text(alphabet=st.sampled_from(list("0123456789０１２三四五十百年月日時分半午前後はいえ明今来週曜水の、 ーぜろいち")),
                   max_size=30)


def test_every_minute_read_aloud_is_understood():
    for minute in range(24 * 60):
        at = time(minute // 60, minute % 60)
        assert parse_time(time_reading(at)) == at, time_reading(at)


def test_every_day_of_the_next_year_read_aloud_is_understood():
    for offset in range(365):  # a month and day name the next such day, so one year at most
        day = TODAY + timedelta(days=offset)
        assert parse_date(date_reading(day), today=TODAY) == day, date_reading(day)
        assert parse_date(date_reading(day, weekday=False), today=TODAY) == day


@FIXED
@given(st.dates(min_value=date(1868, 10, 23), max_value=TODAY))
def test_birth_dates_read_in_era_form_are_understood(day):
    assert parse_birthdate(birthdate_reading(day), today=TODAY) == day


@FIXED
@given(st.text(alphabet="0123456789", min_size=1, max_size=12))
def test_codes_read_digit_by_digit_are_understood(digits):
    assert parse_digits(digits_reading(digits)) == digits


@settings(max_examples=300, derandomize=True, database=None)
@given(st.one_of(st.text(max_size=30), JAPANESE))
def test_no_input_makes_a_parser_raise(text):
    assert parse_date(text, today=TODAY) is None or isinstance(parse_date(text, today=TODAY), date)
    assert parse_time(text) is None or isinstance(parse_time(text), time)
    assert parse_birthdate(text, today=TODAY) is None or parse_birthdate(text, today=TODAY) <= TODAY
    assert parse_digits(text) is None or parse_digits(text).isdigit()
    assert parse_yesno(text) in (True, False, None)
    assert parse_intent(text) in ("repeat", "operator", "restart", None)
    match = match_choice(text, {"a": ("予約",), "b": ("キャンセル",)})
    assert match is None or 0.75 <= match.confidence <= 1.0
