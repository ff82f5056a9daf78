"""The chat runs the phone's vaccine script as text: typed answers and tapped buttons, the same
holds and bookings (channel `chat`), CSRF, and a left chat giving its held place back."""

from __future__ import annotations

import re
from datetime import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dialogs.messages import Digits, Silence, Utterance
from dialogs.script import Option, Step
from ivr.chat.buttons import Button, buttons
from ivr.chat.room import parse_text
from slots.models import Booking, Slot


def csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def offered(page) -> list[tuple[str, str]]:
    return re.findall(r'name="text" value="([^"]+)" class="secondary">([^<]+)<', page.text)


def say(client, page, text: str):
    return client.post("/chat/", data={"csrf": csrf(page), "text": text})


def held_and_booked(chat):
    with chat.sessionmaker() as session:
        return [(s.held, s.booked) for s in session.execute(select(Slot).order_by(Slot.id)).scalars()]


@pytest.mark.parametrize("typed, expected", [
    ("0123456789", Digits("0123456789")), ("０１２３ ４５６７", Digits("01234567")), ("", Silence()),
    ("12月4日", Utterance(("12月4日",))), ("はい", Utterance(("はい",))),
])
def test_typed_digits_are_keys_and_the_rest_speech(typed, expected):
    assert parse_text(typed) == expected


def test_buttons_for_choices_yes_no_and_offered_times():
    menu = Step("menu", 1, ask="choice", options=(Option("book", ("予約", "申し込み"), "1", label="予約する"),
                                                   Option("check", ("確認",), "2")))
    assert buttons(menu, {}) == [Button("予約する", "予約"), Button("確認", "確認")]
    assert [b.label for b in buttons(Step("ok", 1, ask="yesno"), {})] == ["はい", "いいえ"]
    slots = [{"time": "09:30"}, {"time": "09:00"}, {"time": "09:30"}]
    assert buttons(Step("t", 1, ask="time", among="day_slots"), {"day_slots": slots}) == [
        Button("9:00", "9時"), Button("9:30", "9時30分")]
    assert buttons(Step("d", 1, ask="date"), {}) == [] and buttons(None, {}) == []


def test_booking_through_the_vaccine_script(client, chat):
    page = client.get("/chat/")
    assert "ワクチン予約の窓口です。" in page.text
    assert ("予約", "予約する") in offered(page) and ("変更", "日時を変更する") in offered(page)
    for text in ("予約", "0123456789", "19500401", "12月4日"):
        page = say(client, page, text)
    assert offered(page) == [("9時", "9:00"), ("9時30分", "9:30")]
    page = say(client, page, "9時30分")
    assert "市役所で、予約してよろしいですか" in page.text and held_and_booked(chat) == [(0, 0), (1, 0)]
    assert [label for _, label in offered(page)] == ["はい", "いいえ"]
    page = say(client, page, "はい")
    code = re.search(r'id="chat-code">(\d{8})<', page.text).group(1)
    assert "おわりました" in page.text and 'id="answer"' not in page.text
    with chat.sessionmaker() as session:
        booking = session.execute(select(Booking)).scalar_one()
    assert (booking.code, booking.channel, booking.status) == (code, "chat", "confirmed")
    assert held_and_booked(chat) == [(0, 0), (0, 1)]


def test_a_chat_left_while_holding_gives_the_place_back(client, chat):
    page = client.get("/chat/")
    for text in ("予約", "0123456789", "19500401", "12月4日", "9時"):
        page = say(client, page, text)
    assert held_and_booked(chat) == [(1, 0), (0, 0)]
    fresh = client.post("/chat/new", data={"csrf": csrf(page)})
    assert held_and_booked(chat) == [(0, 0), (0, 0)]
    assert "ワクチン予約の窓口です。" in fresh.text and "0123456789" not in fresh.text


def test_a_form_without_the_room_token_is_refused(client):
    client.get("/chat/")
    refused = client.post("/chat/", data={"csrf": "forged", "text": "予約"})
    assert refused.status_code == 403 and "はじめから もう一度" in refused.text
    assert "あなた" not in client.get("/chat/").text


def test_stopping_the_app_gives_open_chats_places_back(chat):
    with TestClient(chat.app) as client:
        page = client.get("/chat/")
        for text in ("予約", "0123456789", "19500401", "12月4日", "9時"):
            page = say(client, page, text)
        assert held_and_booked(chat) == [(1, 0), (0, 0)]
    assert held_and_booked(chat) == [(0, 0), (0, 0)]
