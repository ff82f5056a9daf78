"""bench/peak.py's report across transports: the --via option, the table rows per transport, and the rows
of a transport a run did not measure kept from the section as it was (no service, no calls)."""

from __future__ import annotations

import argparse
from datetime import date, time

import pytest

from bench.peak import (BEGIN, END, PROFILE_BEGIN, CallLog, Plan, Round, carried_rows, render, via_list)

OLD_SECTION = f"""{BEGIN}
## Peak load: a 9:00 rush of booking calls (integration)

`python bench/peak.py --calls 16,40 --write` on x86_64 with 2 cores, 2026-12-01: N booking calls ...

| calls | booked | turned away | failed | heard 不具合 | reply p50 / p95 (s) | はい → 予約しました p50 / p95 (s) | booking call median (s) | `ivr serve` CPU s / call | `ivr serve` peak RSS (MiB) | bench CPU s / call |
|---|---|---|---|---|---|---|---|---|---|---|
| 16 | 12/16 | 0 | 1 / 0 / 1 / 2 / 0 | 0 | 0.73 / 3.33 | 0.49 / 0.64 | 129 | 8.7 | 1573 | 1.08 |
| 40 | 29/40 | 0 | 2 / 0 / 1 / 7 / 1 | 0 | 1.50 / 8.55 | 0.65 / 1.06 | 125 | 6.1 | 1783 | 0.74 |

*Booked*: ...

| calls | round wall (s) | bench CPU, % of one core | more |
|---|---|---|---|
| 16 | 273 | 6.3 | x |
| 40 | 361 | 8.2 | y |

{PROFILE_BEGIN}
| own time | function |
|---|---|
| 59.6 % | `synthesize` |
"""


def test_via_list():
    assert via_list("local") == ["local"]
    assert via_list("SIP, local") == ["sip", "local"]
    for bad in ("", "pjsip", "sip,sip"):
        with pytest.raises(argparse.ArgumentTypeError):
            via_list(bad)


def test_rows_from_before_the_via_column_are_local_and_kept_when_sip_is_measured():
    kept = carried_rows(OLD_SECTION, {"sip"})
    assert [(calls, row.split(" | ")[:3]) for calls, _, row in kept.main] == [
        (16, ["| Local (earlier)", "16", "12/16"]), (40, ["| Local (earlier)", "40", "29/40"])]
    assert [row for *_, row in kept.detail] == ["| Local (earlier) | 16 | 273 | 6.3 | x |",
                                                 "| Local (earlier) | 40 | 361 | 8.2 | y |"]
    assert kept.sources == ["`python bench/peak.py --calls 16,40 --write`, 2026-12-01"]


def test_nothing_is_kept_for_a_transport_measured_again():
    assert carried_rows(OLD_SECTION, {"local"}) == carried_rows(OLD_SECTION, {"local", "sip"})
    assert not carried_rows(OLD_SECTION, {"local"}).main and not carried_rows("", {"sip"}).main


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
    return argparse.Namespace(**{"workers": 0, "spread": 5.0, "seats": 0, **changes})


def table(report: str, header_start: str) -> list[str]:
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            return rows
        rows.append(line)
    return rows


def test_both_transports_side_by_side_for_each_n():
    report = render([a_round("local", 2), a_round("sip", 2), a_round("local", 4), a_round("sip", 4)], {},
                    "python bench/peak.py --via local,sip", args())
    main = table(report, "| via | calls | booked")
    assert [row.split(" | ")[:3] for row in main] == [
        ["| Local", "2", "1/2"], ["| SIP", "2", "1/2"], ["| Local", "4", "3/4"], ["| SIP", "4", "3/4"]]
    assert main[1].endswith("| 8.0 | 1500 | 0.50 |")  # serve CPU s / call, peak RSS, bench CPU s / call
    detail = table(report, "| via | calls | round wall")
    assert [row.split(" | ")[:5] for row in detail][1] == ["| SIP", "2", "200", "0.5", "2.00"]
    assert all(len(row.split("|")) == len(main[0].split("|")) for row in main)
    assert "(earlier)" not in report and "Local 2: 1, SIP 2: 1, Local 4: 3, SIP 4: 3 of them" in report


def test_sip_rows_written_beside_the_local_rows_kept_and_kept_again_later():
    section = f"{BEGIN}\n{OLD_SECTION.removeprefix(BEGIN)}"
    sip_run = render([a_round("sip", 16)], {}, "python bench/peak.py --via sip --calls 16", args(),
                     carried_rows(section, {"sip"}))
    rows = [row.split(" | ")[:2] for row in table(sip_run, "| via | calls | booked")]
    assert rows == [["| Local (earlier)", "16"], ["| SIP", "16"], ["| Local (earlier)", "40"]]
    assert "Rows marked *(earlier)* come from `python bench/peak.py --calls 16,40 --write`, 2026-12-01." in sip_run
    # a later SIP-only run keeps the same Local rows and still names where they came from
    again = carried_rows(f"{BEGIN}\n{sip_run}\n{END}", {"sip"})
    assert [row.split(" | ")[:3] for *_, row in again.main] == [["| Local (earlier)", "16", "12/16"],
                                                               ["| Local (earlier)", "40", "29/40"]]
    assert again.sources == ["`python bench/peak.py --calls 16,40 --write`, 2026-12-01"]
    # a Local run then keeps the SIP rows, from the SIP run
    local_after = carried_rows(f"{BEGIN}\n{sip_run}\n{END}", {"local"})
    assert [row.split(" | ")[:2] for *_, row in local_after.main] == [["| SIP (earlier)", "16"]]
    assert local_after.sources[0].startswith("`python bench/peak.py --via sip --calls 16`")
