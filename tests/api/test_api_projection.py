"""The live-call projection and the metrics, as pure tables of events (no app, no database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ivr.events import (
    BookingMade,
    CallEnded,
    CallStarted,
    EventBus,
    HoldPlaced,
    HoldReleased,
    StepEntered,
    Transferred,
    TurnFailed,
    UtteranceRecognized,
)
from ivr.api.schemas import mask_phone
from ivr.live import STALE_AFTER, LiveCalls, follow
from ivr.metrics import Metrics
from tests.fixtures.waiting import until

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_call_through_its_life():
    live = LiveCalls()
    live.apply(CallStarted("a", caller="090-****-0001", channel="PJSIP/1", at=at(0)))
    live.apply(StepEntered("a", "ask_ticket", at=at(3)))
    live.apply(UtteranceRecognized("a", "****", 0.82, step="ask_ticket", at=at(9)))
    live.apply(HoldPlaced("a", hold_id=4, slot_id=11, at=at(20)))
    [call] = live.snapshot(at(30))
    assert (call.step, call.last_utterance, call.confidence, call.hold_placed, call.slot_id) == (
        "ask_ticket", "****", 0.82, True, 11)
    assert call.elapsed_seconds(at(30)) == 30 and not call.needs_help
    live.apply(HoldReleased("a", hold_id=99, at=at(31)))  # another hold: no change
    assert live.get("a").hold_placed
    live.apply(HoldReleased("a", hold_id=4, at=at(32)))
    assert not live.get("a").hold_placed
    live.apply(CallEnded("a", outcome="completed", duration_seconds=40, at=at(40)))
    assert live.snapshot(at(41)) == [] and len(live) == 0


@pytest.mark.parametrize(("events", "needs_help"), [
    ([UtteranceRecognized("b", "はい", 0.9)], False),
    ([UtteranceRecognized("b", "えっと", 0.3)], True),
    ([TurnFailed("b", "ask_date", failures=1)], False),
    ([TurnFailed("b", "ask_date", failures=2)], True),
    ([UtteranceRecognized("b", "えっと", 0.3), UtteranceRecognized("b", "はい", 0.95)], False),
])
def test_needs_help(events, needs_help):
    live = LiveCalls()
    live.apply(CallStarted("b", at=T0))
    live.apply_all(events)
    assert live.get("b").needs_help is needs_help


def test_events_of_an_unknown_call_start_it_and_stale_calls_are_dropped():
    live = LiveCalls()
    live.apply(StepEntered("late", "menu", at=T0))
    assert live.get("late").step == "menu"
    live.apply(CallEnded("never-seen", outcome="abandoned", duration_seconds=1))
    assert live.get("never-seen") is None
    live.apply(Transferred("late", summary="予約変更の希望", at=at(5)))
    assert live.get("late").transferred
    assert live.snapshot(at(5) + STALE_AFTER + timedelta(seconds=1)) == []


def test_listeners_hear_every_change():
    live, seen = LiveCalls(), []
    live.on_change(lambda call, event: seen.append((call.step if call else None, type(event).__name__)))
    live.apply(CallStarted("c"))
    live.apply(StepEntered("c", "menu"))
    live.apply(CallEnded("c", outcome="completed", duration_seconds=3))
    assert seen == [("", "CallStarted"), ("menu", "StepEntered"), (None, "CallEnded")]


def value(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels or None) or 0.0


def test_metrics_from_events():
    metrics = Metrics()
    for event in (
        CallStarted("m1"), CallStarted("m2"),
        UtteranceRecognized("m1", "はい", 0.9), TurnFailed("m2", "menu", failures=1),
        HoldPlaced("m1", hold_id=1, slot_id=3), HoldPlaced("m2", hold_id=2, slot_id=3),
        BookingMade("m1", slot_id=3, service="vaccine"),
        Transferred("m2", summary="..."), HoldReleased("m2", hold_id=2),
    ):
        metrics.observe(event)
    assert value(metrics, "madoguchi_calls_active") == 2
    assert value(metrics, "madoguchi_holds_active") == 0
    assert value(metrics, "madoguchi_holds_total", channel="phone") == 2
    assert value(metrics, "madoguchi_bookings_total", service="vaccine", channel="phone") == 1
    assert value(metrics, "madoguchi_transfers_total") == 1
    assert value(metrics, "madoguchi_turn_failures_total") == 1
    metrics.observe(CallEnded("m1", outcome="booked", duration_seconds=80))
    metrics.observe(CallEnded("m2", outcome="transferred", duration_seconds=95))
    assert value(metrics, "madoguchi_calls_active") == 0
    assert value(metrics, "madoguchi_calls_total", outcome="booked") == 1
    assert value(metrics, "madoguchi_call_duration_seconds_count", outcome="transferred") == 1
    assert b"# TYPE madoguchi_calls_total counter" in metrics.render()


def test_recognition_latency_histogram_from_decode_seconds():
    metrics = Metrics()
    metrics.observe(UtteranceRecognized("r1", "はい", 0.9, decode_seconds=0.42))
    metrics.observe(UtteranceRecognized("r1", "いいえ", 0.8, decode_seconds=1.2))
    metrics.observe(UtteranceRecognized("r1", "****", 0.7))  # no timing: counted as an utterance only
    bucket = "madoguchi_recognition_latency_seconds_bucket"
    assert value(metrics, bucket, le="0.3") == 0
    assert value(metrics, bucket, le="0.5") == 1
    assert value(metrics, bucket, le="1.5") == 2
    assert value(metrics, "madoguchi_recognition_latency_seconds_count") == 2
    assert value(metrics, "madoguchi_recognition_latency_seconds_sum") == pytest.approx(1.62)
    assert value(metrics, "madoguchi_utterances_total") == 3


def test_follow_replays_history_then_live_events_once():
    async def scenario() -> list[str]:
        bus, live = EventBus(), LiveCalls()
        bus.bind(asyncio.get_running_loop())
        bus.publish(CallStarted("h1"))  # before anyone follows: only in the history
        task = asyncio.create_task(follow(bus, live.apply))
        await until(lambda: len(live) == 1, "the history was replayed (follow subscribes first)")
        bus.publish(StepEntered("h1", "menu"))
        bus.publish(CallStarted("h2"))
        await until(lambda: len(live) == 2, "the live events arrived")
        task.cancel()
        return [c.call_id + ":" + c.step for c in live.snapshot(datetime.now(UTC))]

    assert sorted(asyncio.run(scenario())) == ["h1:menu", "h2:"]


def test_a_failing_consumer_does_not_stop_the_others():
    async def scenario() -> int:
        bus, live = EventBus(), LiveCalls()
        bus.bind(asyncio.get_running_loop())

        def broken(event):
            raise RuntimeError("boom")

        bus.publish(CallStarted("replayed"))
        task = asyncio.create_task(follow(bus, broken, live.apply))
        await until(lambda: len(live) == 1, "the history reached the consumer after the broken one")
        bus.publish(CallStarted("live"))
        await until(lambda: len(live) == 2, "a live event reached the consumer after the broken one")
        task.cancel()
        return sorted(c.call_id for c in live.snapshot(datetime.now(UTC)))

    assert asyncio.run(scenario()) == ["live", "replayed"]


@pytest.mark.parametrize("number, shown", [
    ("09012345678", "*******5678"),
    ("090-1234-5678", "*******5678"),
    ("Taro <0312345678>", "******5678"),
    ("123", "123"),
    ("anonymous", ""),
    (None, ""),
])
def test_phone_numbers_keep_only_their_last_four_digits(number, shown):
    assert mask_phone(number) == shown
