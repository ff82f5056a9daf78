"""Japanese understanding: `python bench/dialogs_nlu.py [--write]`.

Normalizer latency per utterance, per kind, over the test tables (median and p95 of several passes).
How long a booking takes is measured on calls, not estimated: `bench/calls.py --flows`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from sections import replace_section  # noqa: E402

from dialogs.normalize import match_choice, parse  # noqa: E402
from tests.dialogs import (  # noqa: E402
    test_normalize_birthdate as birthdates,
    test_normalize_choice as choices,
    test_normalize_date as dates,
    test_normalize_digits as digits,
    test_normalize_time as times,
    test_normalize_yesno as yesno,
)

TODAY = date(2026, 11, 25)


def timed(fn, items, passes):
    samples = []
    for _ in range(passes):
        for item in items:
            start = time.perf_counter()
            fn(item)
            samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)], len(items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args()
    corpora = {
        "date": [t for t, _ in dates.CASES], "time": [t for t, _ in times.CASES],
        "digits": [t for t, _ in digits.CASES], "birthdate": [t for t, _ in birthdates.CASES],
        "yesno": yesno.YES + yesno.NO + yesno.NONE,
    }
    match_choice("予約", choices.MENU)  # load the Open JTalk dictionary before timing
    rows = []
    for kind, texts in corpora.items():
        rows.append((kind, *timed(lambda t, k=kind: parse(k, t, today=TODAY), texts, args.passes)))
    rows.append(("choice (g2p)", *timed(lambda c: match_choice(c[1], c[0]), [(o, t) for o, t, _ in choices.CASES],
                                        args.passes)))
    lines = [
        "## Dialogs: Japanese understanding",
        "",
        f"`python bench/dialogs_nlu.py --passes {args.passes} --write` on {platform.machine()} "
        f"({len(__import__('os').sched_getaffinity(0))} cores), {date.today()}.",
        "Latency of one normalizer call over the utterances of the test tables (µs; all passes pooled).",
        "",
        "| kind | utterances | median µs | p95 µs |",
        "|---|---|---|---|",
        *[f"| {kind} | {n} | {median:.0f} | {p95:.0f} |" for kind, median, p95, n in rows],
        "",
        "How long a booking call takes is measured on calls: see *Calls end to end* (`bench/calls.py --flows`).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "BENCHMARKS.md", "<!-- bench:dialogs:begin -->", "<!-- bench:dialogs:end -->", text)


if __name__ == "__main__":
    main()
