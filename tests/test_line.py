"""The line in front of the IVR (ivr.line): its prompts, its settings, and the dialplan's UserEvents
turned into bus events, stored call-back requests and /metrics series."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.config import DEFAULT_LINE_SEATS, Settings
from ivr.events import CallbackRequested, EventBus, LineAdmission
from ivr.line import LineEvents, line_prompts, phone_digits
from ivr.metrics import Metrics
from telephony.ami.protocol import AmiMessage

UUID = "0b7e6a52-3c1e-4d6b-9a3e-5f2f1c1d2e3f"


def user_event(**headers: str) -> AmiMessage:
    return AmiMessage(tuple({"Event": "UserEvent", **headers}.items()))


class Client:
    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def on(self, event, callback):
        self.handlers.setdefault(event, []).append(callback)

    def emit(self, message: AmiMessage) -> None:
        for callback in self.handlers.get(message.event, []):
            callback(message)


def test_the_prompts_cover_every_position_and_wait_the_dialplan_can_announce():
    settings = Settings(line_max_waiting=3, line_max_wait_minutes=4)
    prompts = line_prompts(settings)
    assert {f"position-{n}" for n in (1, 2, 3)} <= set(prompts) and "position-4" not in prompts
    assert {f"wait-{n}" for n in (1, 2, 3, 4)} <= set(prompts) and "wait-5" not in prompts
    assert prompts["wait-1"] == "お待ちいただく時間は、およそ1分の見込みです。"
    assert {"line-crowded", "line-hold-on", "busy", "callback-offer", "callback-offer-own", "callback-number",
            "callback-invalid", "callback-done", "busy-goodbye"} <= set(prompts)
    assert all(text.isascii() is False for text in prompts.values())  # Japanese, no stock English


def test_seats_are_the_ivr_calls_at_once_over_all_workers():
    assert Settings(max_calls=3, workers=2).line_seats == 6
    assert Settings(max_calls=0).line_seats == DEFAULT_LINE_SEATS


def test_line_settings_have_environment_twins(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_LINE_MAX_WAITING", "7")
    monkeypatch.setenv("MADOGUCHI_LINE_MAX_WAIT_MINUTES", "9")
    monkeypatch.setenv("MADOGUCHI_LINE_CALL_SECONDS", "60")
    settings = Settings()
    assert (settings.line_max_waiting, settings.line_max_wait_minutes, settings.line_call_seconds) == (7, 9, 60)


def test_phone_digits_makes_an_international_caller_id_domestic():
    assert phone_digits("+819012345678") == "09012345678"
    assert phone_digits("0312345678") == "0312345678"


def test_line_events_become_bus_events_and_stored_requests_without_the_number(caplog):
    stored: list[tuple[str, str, str]] = []

    def request(phone: str, reason: str, call_id: str) -> bool:
        stored.append((phone, reason, call_id))
        return phone.startswith("0")

    async def scenario() -> list:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        line, client = LineEvents(bus, "vaccine", request), Client()
        line.follow(client)
        client.emit(user_event(UserEvent="MadoguchiLine", UUID=UUID, Result="waiting", Position="2"))
        client.emit(user_event(UserEvent="MadoguchiLine", UUID=UUID, Result="admitted"))
        client.emit(user_event(UserEvent="MadoguchiLine", UUID=UUID, Result="nonsense"))
        client.emit(user_event(UserEvent="MadoguchiCall", UUID=UUID, Channel="x"))
        client.emit(user_event(UserEvent="MadoguchiCallback", UUID=UUID, Phone="+819012345678", Reason="busy"))
        client.emit(user_event(UserEvent="MadoguchiCallback", UUID=UUID, Phone="12", Reason="busy"))
        await line.close()
        return bus.recent()

    with caplog.at_level(logging.DEBUG):
        published = asyncio.run(scenario())
    assert [(e.result, e.position) for e in published if isinstance(e, LineAdmission)] == [("waiting", 2),
                                                                                           ("admitted", 0)]
    assert sorted(stored) == [("09012345678", "busy", UUID), ("12", "busy", UUID)]
    requests = [e for e in published if isinstance(e, CallbackRequested)]
    assert sorted(e.ok for e in requests) == [False, True] and {e.service for e in requests} == {"vaccine"}
    assert "9012345678" not in caplog.text and "9012345678" not in repr(published)


def test_metrics_count_the_line():
    metrics = Metrics(queue_snapshot=lambda: {"madoguchi-line": type("Q", (), {"callers": (1, 2, 3)})()})
    for event in (LineAdmission(UUID, "waiting", 1), LineAdmission(UUID, "admitted"), LineAdmission(UUID, "busy"),
                  CallbackRequested(UUID, "vaccine", "busy"), CallbackRequested(UUID, "vaccine", "busy", ok=False)):
        metrics.observe(event)
    text = metrics.render().decode()
    for line in ('madoguchi_line_calls_total{result="waiting"} 1.0', 'madoguchi_line_calls_total{result="admitted"} 1.0',
                 'madoguchi_line_calls_total{result="turned_away"} 1.0', "madoguchi_line_waiting 3.0",
                 'madoguchi_callback_requests_total{reason="busy",stored="yes"} 1.0',
                 'madoguchi_callback_requests_total{reason="busy",stored="no"} 1.0'):
        assert line in text, line


@pytest.mark.parametrize("bad", ["", "x"])
def test_a_line_event_without_a_position_counts_as_position_zero(bad):
    async def scenario() -> list:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        line, client = LineEvents(bus, "vaccine", lambda *_: True), Client()
        line.follow(client)
        client.emit(user_event(UserEvent="MadoguchiLine", UUID=UUID, Result="waiting", Position=bad))
        return bus.recent()

    assert [e.position for e in asyncio.run(scenario()) if isinstance(e, LineAdmission)] == [0]
