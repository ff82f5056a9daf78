"""Today's figures: calls, bookings, completion, transfers, drop-outs; charts per hour and per step."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ivr.http import clock, transactions
from ivr.web.deps import render, require
from ivr.web.display import OUTCOME_LABELS, format_seconds, per_hour, percent
from ivr.web.forms import day_bounds
from slots import store as slot_store
from slots.outcomes import DROPOUT_OUTCOMES, CallOutcome


def _figures(session, start, end):
    return slot_store.call_stats(session, start, end), slot_store.bookings_created_between(session, start, end)


router = APIRouter()


@router.get("/today")
def today_page(request: Request, session=Depends(require("staff"))):
    tz = request.app.state.web.settings.tz
    now = clock.now(request)
    day = now.astimezone(tz).date()
    start, end = day_bounds(day, tz)
    stats, booked_at = transactions.of(request).run(_figures, start, end)
    calls_per_hour = [0] * 24
    for hour, count in stats.per_hour.items():
        calls_per_hour[hour.astimezone(tz).hour] += count
    booked_calls = stats.by_outcome.get(CallOutcome.BOOKED, 0)
    abandoned = sum(n for outcome, n in stats.by_outcome.items() if outcome in DROPOUT_OUTCOMES)
    dropout = sorted(stats.dropout_by_step.items(), key=lambda kv: (-kv[1], kv[0]))
    tiles = [
        ("通話数", str(stats.total)),
        ("予約数（全経路）", str(len(booked_at))),
        ("電話での予約完了率", percent(booked_calls, stats.total)),
        ("オペレーター転送", str(stats.transferred)),
        ("途中終了", str(abandoned)),
        ("予約通話の平均時間", format_seconds(stats.avg_booking_seconds)),
    ]
    charts = {
        "hours": [f"{h}時" for h in range(24)],
        "calls": calls_per_hour,
        "bookings": per_hour(booked_at, tz),
        "steps": [step or "（不明）" for step, _ in dropout],
        "dropouts": [n for _, n in dropout],
    }
    return render(request, "today.html", {"page": "today", "day": day, "tiles": tiles, "charts": charts,
                                          "outcome_labels": OUTCOME_LABELS, "outcomes": sorted(stats.by_outcome.items(), key=lambda kv: -kv[1])})
