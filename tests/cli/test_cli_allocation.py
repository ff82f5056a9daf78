"""`ivr slots release --phone-reserved`: the phone's share of each slot, shown by `ivr slots list`."""

from __future__ import annotations

import json

RELEASE = ("slots", "release", "--service", "vaccine", "--site", "市役所", "--from", "2027-01-04", "--to",
           "2027-01-04", "--times", "09:00-10:00", "--every", "30", "--capacity", "10")


def test_release_with_a_phone_reserve(ivr, db):
    assert "2 slots created" in ivr(*RELEASE, "--phone-reserved", "30", "--phone-reserved-hours", "12", "--db", db).stdout
    out = ivr("slots", "list", "--service", "vaccine", "--from", "2027-01-04", "--to", "2027-01-04", "--json", "--db", db)
    slots = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(s["phone_reserved"], s["phone_taken"]) for s in slots] == [(3, 0), (3, 0)]
    table = ivr("slots", "list", "--service", "vaccine", "--from", "2027-01-04", "--db", db).stdout
    assert "available 10  phone 0/3 reserved" in table


def test_a_bad_reserve_is_refused(ivr, db):
    bad = ivr(*RELEASE, "--phone-reserved", "120", "--db", db, ok=False)
    assert bad.exit_code != 0 and "--phone-reserved" in bad.output
