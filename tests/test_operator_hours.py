"""Staffed hours of the operator queue: parsing, checking and the reading callers hear."""

from datetime import datetime, time

import pytest

from ivr.config import ConfigError
from ivr.operator_hours import parse_hours


def test_weekday_office_hours():
    hours = parse_hours("Mon-Fri 08:30-17:15")
    assert hours is not None and hours.days == frozenset(range(5)) and hours.start == time(8, 30)
    assert hours.is_staffed(datetime(2026, 11, 30, 9, 0))  # a Monday morning
    assert not hours.is_staffed(datetime(2026, 11, 30, 17, 15))  # closing time
    assert not hours.is_staffed(datetime(2026, 12, 5, 10, 0))  # a Saturday
    assert hours.reading() == "平日の午前八時半から午後五時十五分まで"


@pytest.mark.parametrize(("spec", "reading"), [
    ("Mon-Sun 09:00-21:00", "毎日、午前九時から午後九時まで"),
    ("Mon,Wed,Fri 09:00-12:00", "月曜日、水曜日、金曜日の午前九時から正午まで"),
    ("Mon-Sat 9:00-17:00", "月曜日から土曜日の午前九時から午後五時まで"),
])
def test_readings(spec, reading):
    assert parse_hours(spec).reading() == reading


def test_no_hours_set_means_staffed_whenever_someone_is_logged_in():
    assert parse_hours("") is None and parse_hours("  ") is None


@pytest.mark.parametrize("spec", ["weekdays", "Mon-Fri 17:00-09:00", "Mon-Xyz 09:00-17:00", "Mon-Fri 25:00-26:00"])
def test_bad_hours_are_a_clear_error(spec):
    with pytest.raises(ConfigError, match="MADOGUCHI_OPERATOR_HOURS"):
        parse_hours(spec)
