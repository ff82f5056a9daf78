"""bench/peak.py's report across transports: the --via option, the table rows per transport, and the rows
of a transport a run did not measure kept from the section as it was (no service, no calls)."""

from __future__ import annotations

import argparse
from datetime import date, time

import pytest

from bench.peak import (BEGIN, END, PROFILE_BEGIN, CallLog, Plan, Round, carried_rows, render, via_list)

#: a section as an earlier version of the script wrote it, before the seats and waiting columns
STALE_SECTION = f"""{BEGIN}
## Peak load: a 9:00 rush of booking calls (integration)

`python bench/peak.py --calls 16,40 --write` on x86_64 with 2 cores, 2026-12-01: N booking calls ...

| via | calls | booked | turned away | failed | heard 不具合 | reply p50 / p95 (s) | はい → 予約しました p50 / p95 (s) | booking call median (s) | `ivr serve` CPU s / call | `ivr serve` peak RSS (MiB) | bench CPU s / call |
|---|---|---|---|---|---|---|---|---|---|---|---|
| Local | 16 | 12/16 | 0 | 1 / 0 / 1 / 2 / 0 | 0 | 0.73 / 3.33 | 0.49 / 0.64 | 129 | 8.7 | 1573 | 1.08 |

{PROFILE_BEGIN}
| own time | function |
|---|---|
| 59.6 % | `synthesize` |
"""


def a_round(via: str, calls: int) -> Round:
    logs = []
    for i in range(calls):
        log = CallLog(Plan(i, "1234567891", "09000000001", date(2026, 12, 12), time(9), 0.0), ended_by="ivr",
                      latencies=[0.5, 1.5], duration=120.0, heard_booked=True)
        log.booked = log.booked_as_planned = i > 0  # the first caller fails
        logs.append(log)
    return Round(calls, date(2026, 12, 12), logs, wall=200.0, serve_cpu=8.0 * calls, serve_peak_rss=1500 * 2**20,
                 serve_hwm=800 * 2**20, asterisk_cpu=2.0 * calls, bench_cpu=0.5 * calls, api_bookings=calls,
                 outcomes={"booked": calls}, load_before=0.2, other_pytest=0, others_cpu=3.0, via=via)


def args(**changes) -> argparse.Namespace:
    return argparse.Namespace(**{"workers": 0, "spread": 5.0, "seats": 0, "max_waiting": None, **changes})


def table(report: str, header_start: str) -> list[str]:
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            return rows
        rows.append(line)
    return rows


def test_via_list():
    assert via_list("local") == ["local"]
    assert via_list("SIP, local") == ["sip", "local"]
    for bad in ("", "pjsip", "sip,sip"):
        with pytest.raises(argparse.ArgumentTypeError):
            via_list(bad)


def local_section() -> str:
    report = render([a_round("local", 16), a_round("local", 40)], {"seats": 12, "max_waiting": 20},
                    "python bench/peak.py --calls 16,40 --write", args())
    return f"{BEGIN}\n{report}\n\n{PROFILE_BEGIN}\n| own time | function |\n"


def test_local_rows_kept_when_sip_is_measured():
    kept = carried_rows(local_section(), {"sip"})
    assert [(calls, row.split(" | ")[:4]) for calls, _, row in kept.main] == [
        (16, ["| Local (earlier)", "16", "12", "15/16"]), (40, ["| Local (earlier)", "40", "12", "39/40"])]
    assert [row.split(" | ")[:3] for *_, row in kept.detail] == [["| Local (earlier)", "16", "200"],
                                                                  ["| Local (earlier)", "40", "200"]]
    assert kept.sources[0].startswith("`python bench/peak.py --calls 16,40 --write`, ")


def test_nothing_is_kept_for_a_transport_measured_again():
    section = local_section()
    assert carried_rows(section, {"local"}) == carried_rows(section, {"local", "sip"})
    assert not carried_rows(section, {"local"}).main and not carried_rows("", {"sip"}).main


def test_rows_of_a_table_with_other_columns_are_not_carried():
    assert carried_rows(STALE_SECTION, {"sip"}).main == []


def test_both_transports_side_by_side_for_each_n():
    report = render([a_round("local", 2), a_round("sip", 2), a_round("local", 4), a_round("sip", 4)],
                    {"seats": 16, "max_waiting": 20}, "python bench/peak.py --via local,sip", args())
    main = table(report, "| via | calls | seats")
    assert [row.split(" | ")[:4] for row in main] == [
        ["| Local", "2", "16", "1/2"], ["| SIP", "2", "16", "1/2"], ["| Local", "4", "16", "3/4"],
        ["| SIP", "4", "16", "3/4"]]
    assert main[1].endswith("| 8.0 | 1500 | 0.50 |")  # serve CPU s / call, peak RSS, bench CPU s / call
    detail = table(report, "| via | calls | round wall")
    assert [row.split(" | ")[:5] for row in detail][1] == ["| SIP", "2", "200", "0.5", "2.00"]
    assert all(len(row.split("|")) == len(main[0].split("|")) for row in main)
    assert "(earlier)" not in report and "Local 2: 1, SIP 2: 1, Local 4: 3, SIP 4: 3 of them" in report


def test_sip_rows_written_beside_the_local_rows_kept_and_kept_again_later():
    sip_run = render([a_round("sip", 16)], {}, "python bench/peak.py --via sip --calls 16", args(),
                     carried_rows(local_section(), {"sip"}))
    rows = [row.split(" | ")[:2] for row in table(sip_run, "| via | calls | seats")]
    assert rows == [["| Local (earlier)", "16"], ["| SIP", "16"], ["| Local (earlier)", "40"]]
    assert "Rows marked *(earlier)* come from `python bench/peak.py --calls 16,40 --write`, " in sip_run
    # a later SIP-only run keeps the same Local rows and still names where they came from
    again = carried_rows(f"{BEGIN}\n{sip_run}\n{END}", {"sip"})
    assert [row.split(" | ")[:4] for *_, row in again.main] == [["| Local (earlier)", "16", "12", "15/16"],
                                                               ["| Local (earlier)", "40", "12", "39/40"]]
    assert again.sources[0].startswith("`python bench/peak.py --calls 16,40 --write`, ")
    # a Local run then keeps the SIP rows, from the SIP run
    local_after = carried_rows(f"{BEGIN}\n{sip_run}\n{END}", {"local"})
    assert [row.split(" | ")[:2] for *_, row in local_after.main] == [["| SIP (earlier)", "16"]]
    assert local_after.sources[0].startswith("`python bench/peak.py --via sip --calls 16`")


def test_callers_who_waited_or_were_turned_away():
    result = a_round("local", 4)
    result.logs[1].waited, result.logs[1].queue_wait = True, 95.0
    result.logs[2].waited, result.logs[2].queue_wait = True, 185.0
    result.logs[0].turned_away = result.logs[0].callback_left = True  # not booked, and not a failure
    report = render([result], {"seats": 2, "max_waiting": 2}, "python bench/peak.py --calls 4 --seats 2", args())
    row = table(report, "| via | calls | seats")[0].split(" | ")
    assert row[2:7] == ["2", "3/4", "2 (95 / 185)", "1 (1)", "0 / 0 / 0 / 0 / 0"]
    assert "Past 2 waiting callers" in report
