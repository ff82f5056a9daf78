"""Pure parts of the store: batch specs, persons, booking codes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from slots import store
from slots.batches import BatchSpec, preview_batch
from slots.codes import is_code, new_code
from slots.errors import InvalidBatch, InvalidInput
from slots.person import Person
from slotkit import KEY


def make(**kw) -> BatchSpec:
    args = dict(service="vaccine", site="市役所", date_from=date(2026, 12, 1), date_to=date(2026, 12, 7),
                times=("09:00-12:00", "13:00-17:00"), every_minutes=15, capacity=4)
    return BatchSpec(**{**args, **kw})


def test_preview_counts_and_times():
    spans = store.preview_batch(make())
    assert len(spans) == 7 * (12 + 16)
    assert spans[0] == (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), datetime(2026, 12, 1, 0, 15, tzinfo=UTC))
    assert spans[-1][1] == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # 17:00 JST
    assert all(b - a == timedelta(minutes=15) for a, b in spans)


def test_a_window_not_divisible_by_the_interval_drops_the_tail():
    assert len(preview_batch(make(times=("09:00-10:00",), every_minutes=25, date_to=date(2026, 12, 1)))) == 2


def test_batch_id_is_stable_and_depends_on_the_spec():
    assert make().batch_id == make(times=("13:00-17:00", "09:00-12:00")).batch_id
    assert make().batch_id != make(capacity=5).batch_id
    assert len(make().batch_id) == 32


@pytest.mark.parametrize("kw, words", [
    ({"service": ""}, "service"),
    ({"site": "x" * 200}, "site"),
    ({"date_to": date(2026, 11, 30)}, "before"),
    ({"date_to": date(2028, 1, 1)}, "366"),
    ({"times": ()}, "window"),
    ({"times": "09:00-12:00"}, "window"),
    ({"times": ("9時-12時",)}, "HH:MM"),
    ({"times": ("12:00-09:00",)}, "ends before"),
    ({"times": ("09:00-12:00", "11:00-13:00")}, "overlap"),
    ({"every_minutes": 0}, "every_minutes"),
    ({"capacity": 0}, "capacity"),
    ({"opens_at": datetime(2026, 11, 30, 9, 0)}, "timezone-aware"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
])
def test_invalid_batches_say_why(kw, words):
    with pytest.raises(InvalidBatch, match=words) as caught:
        make(**kw)
    assert caught.value.reason == "invalid_batch"


def test_person_hashes_and_masks():
    a = Person.from_ticket(KEY, "1234567890", date(1950, 1, 1))
    assert a == Person.from_ticket(KEY, "１２３４-５６７８９０", date(1950, 1, 1))
    assert a.masked == "******7890" and "1234567890" not in repr(a) and a.key_hash not in repr(a)
    other_birthdate = Person.from_ticket(KEY, "1234567890", date(1950, 1, 2))
    assert other_birthdate.key_hash == a.key_hash and other_birthdate.check_hash != a.check_hash
    assert Person.from_ticket(b"other", "1234567890", date(1950, 1, 1)).key_hash != a.key_hash
    assert a.matches(a.key_hash, a.check_hash) and not a.matches(a.key_hash, other_birthdate.check_hash)


@pytest.mark.parametrize("ticket", ["", "12", "12a456", "1" * 21, "١٢٣٤٥"])
def test_bad_ticket_numbers(ticket):
    with pytest.raises(InvalidInput):
        Person.from_ticket(KEY, ticket, date(1950, 1, 1))


def test_codes_are_8_random_digits():
    drawn = [new_code() for _ in range(2000)]
    codes = set(drawn)
    # 2000 draws from 9e7 codes repeat one about 2 % of the time (birthday bound); 3 repeats
    # happen about once in 500,000 runs, a skewed generator far more often.
    assert len(drawn) - len(codes) <= 2 and all(is_code(c) and c[0] != "0" for c in codes)
    assert not is_code("1234567") and not is_code("1234567a")
