"""bench/web.py's pure parts: percentiles, how answers are counted, the store checks after a round,
and the section it writes (no service, no database, no timing)."""

from __future__ import annotations

import math
import os
from collections import Counter

from bench.web import (
    SlotState,
    answer_kind,
    capacity_for,
    is_failure,
    percentile,
    render,
    service_env,
    store_problems,
    summarize,
)
from ivr.config import Settings


def slot(**changes) -> SlotState:
    values = dict(slot_id=7, capacity=10, booked=7, held=0, phone_reserved=3, confirmed=7, non_phone=7, live_holds=0)
    return SlotState(**{**values, **changes})


def test_percentile_nearest_rank_and_empty():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0
    assert math.isnan(percentile([], 0.95))


def test_capacity_gives_fewer_places_than_residents():
    assert capacity_for(1000) == 100  # 6 slots × 100 = 600 places for 1000 residents
    assert capacity_for(200) == 20
    assert capacity_for(1) == 1


def test_answers_counted_by_kind_and_failures():
    assert answer_kind(409, "slot_full") == "409 slot_full"
    assert answer_kind(201, None) == "201"
    assert not is_failure("hold 409 slot_full")
    assert not is_failure("hold 429 too_many_holds")
    assert not is_failure("confirm 201")
    assert is_failure("confirm 500")
    assert is_failure("find 503 database_unavailable")
    assert is_failure("transport ReadTimeout")


def test_a_sound_slot_has_no_problem():
    assert store_problems([slot(), slot(slot_id=8, booked=0, confirmed=0, non_phone=0)]) == []
    assert store_problems([slot(booked=10, confirmed=10, non_phone=7)]) == []  # the phone took its 3


def test_oversold_slot_is_found():
    problems = store_problems([slot(booked=11, confirmed=11, non_phone=7)])
    assert any("oversold" in p for p in problems)
    assert any("oversold" in p for p in store_problems([slot(booked=9, held=2, live_holds=2)]))


def test_counter_disagreeing_with_rows_is_found():
    assert any("counter booked=7 but 8 confirmed" in p for p in store_problems([slot(confirmed=8, non_phone=7)]))


def test_hold_left_is_found():
    assert any("live holds left" in p for p in store_problems([slot(held=1, live_holds=1)]))


def test_phone_reserve_taken_by_the_web_is_found():
    problems = store_problems([slot(booked=8, confirmed=8, non_phone=8)])
    assert problems == ["slot 7: 8 non-phone bookings eat into the phone reserve (3 of 10)"]


def round_result(rate: float, problems: list[str] | None = None, kinds: Counter | None = None) -> dict:
    return {"residents": 200, "rate": rate, "sold_out_s": 2.0, "find_p50": 0.1, "find_p95": 0.2, "book_p50": 0.15,
            "book_p95": 0.3, "serve_cpu": 3.0, "bench_cpu": 1.0, "pg_cpu": 1.0, "load": 2.5, "booked": 84, "places": 120,
            "web_places": 84, "kinds": kinds or Counter({"confirm 201": 84, "hold 409 slot_full": 150}),
            "failures": sum(c for k, c in (kinds or Counter()).items() if is_failure(k)),
            "problems": problems or [], "slots": 6, "errors": [], "requests": 600}


def test_rounds_summarized_by_median_and_rendered():
    row = summarize([round_result(40.0), round_result(60.0), round_result(50.0, kinds=Counter({"confirm 500": 1}))])
    assert row["rate"] == 50.0 and row["rounds"] == 3 and row["failures"] == 1 and row["slots"] == 18
    text = render([row], "python bench/web.py --residents 200", workers=1, spread=1.0)
    assert "| 200 | 3 | 84 / 120 (84) | 50 | 2.00 | 100 / 200 | 150 / 300 | 3.0 | 5.0 | 1.0 | 1.0 | 2.5 | 1 |" in text
    assert "confirm 500 × 1" in text and "0 oversold" in text
    cores = os.cpu_count()
    assert "At 5.0 ms of `ivr serve` CPU per request" in text and f"near {cores * 200} requests/s" in text
    assert f"{5.0 / cores / 2.0 * 100:.0f} % of the cores" in text


def test_render_names_store_problems():
    row = summarize([round_result(40.0, problems=["slot 3: 1 live holds left (held=1)"])])
    assert "PROBLEMS: slot 3: 1 live holds left (held=1)" in render([row], "python bench/web.py", workers=1, spread=1.0)


def test_the_service_runs_without_the_per_client_hold_limit(tmp_path, monkeypatch):
    """Every resident of the bench comes from one address: the hold rate limit would stop the run."""
    for name, value in service_env(tmp_path, 500, "INFO").items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.web_rate_api_per_minute == 0 and settings.channel_max_holds == 500
