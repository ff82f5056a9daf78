"""`ivr.node_wire`: node messages <-> NOTIFY payloads, the size limit, and what a payload may not be."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ivr.events import (
    BookingMade,
    CallbackRequested,
    CallEnded,
    CallStarted,
    HoldPlaced,
    LineAdmission,
    StepEntered,
    UtteranceRecognized,
)
from ivr.node_wire import (
    MAX_PAYLOAD_BYTES,
    NodeAlive,
    NodeHello,
    NodeLeft,
    NodeQueues,
    PayloadTooLarge,
    SharedCaller,
    SharedEvent,
    SharedQueue,
    WireError,
    alive_messages,
    decode,
    encode,
    event_types,
    fit_queues,
)

AT = datetime(2026, 12, 1, 0, 30, 15, 123456, tzinfo=UTC)
CALL = "5f0c7a52-7a3e-4d64-9b43-3c6a1f7c2e11"

EVENTS = [
    CallStarted(CALL, caller="*******5678", channel="PJSIP/trunk-00000001", at=AT),
    StepEntered(CALL, step="ask_date", at=AT),
    UtteranceRecognized(CALL, text="＊＊月＊＊日でお願いします", confidence=0.82, step="ask_date", at=AT),
    UtteranceRecognized(CALL, text="はい", confidence=1, decode_seconds=0.31, at=AT),
    HoldPlaced(CALL, hold_id=41, slot_id=7, at=AT),
    BookingMade(CALL, slot_id=7, service="vaccine", at=AT),
    CallEnded(CALL, outcome="booked", duration_seconds=58.2, last_step="goodbye", at=AT),
    LineAdmission(CALL, "waiting", 3, at=AT),
    CallbackRequested(CALL, "vaccine", "busy", ok=False, at=AT),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_round_trips_tagged_with_its_node(event):
    payload = encode(SharedEvent("node-a", event))
    message = decode(payload)
    assert message == SharedEvent("node-a", _with_node(event, "node-a"))
    assert message.event.at == AT and message.event.at.tzinfo is not None
    assert len(payload.encode()) <= MAX_PAYLOAD_BYTES


def _with_node(event, node):
    from dataclasses import replace

    return replace(event, node=node)


def test_the_payload_is_compact_json_with_japanese_as_is():
    event = UtteranceRecognized(CALL, text="明日の午前", confidence=0.9, at=AT)
    payload = encode(SharedEvent("窓口-1", event))
    body = json.loads(payload)
    assert body == {"v": 1, "node": "窓口-1", "kind": "event", "type": "UtteranceRecognized",
                    "data": {"call_id": CALL, "at": AT.isoformat(), "text": "明日の午前", "confidence": 0.9,
                             "step": "", "decode_seconds": None}}
    assert "明日の午前" in payload  # not \\u-escaped: 3 bytes a character, not 6


def test_an_event_of_this_node_never_carries_a_node_field_in_its_data():
    event = StepEntered(CALL, step="menu", at=AT, node="somebody-else")
    assert "node" not in json.loads(encode(SharedEvent("node-a", event)))["data"]
    assert decode(encode(SharedEvent("node-a", event))).event.node == "node-a"


def test_an_event_too_large_for_one_notification_is_refused():
    long = UtteranceRecognized(CALL, text="あ" * 2700, confidence=0.5, at=AT)  # 8100 bytes of text
    with pytest.raises(PayloadTooLarge):
        encode(SharedEvent("node-a", long))
    fits = UtteranceRecognized(CALL, text="あ" * 2500, confidence=0.5, at=AT)
    assert len(encode(SharedEvent("node-a", fits)).encode()) <= MAX_PAYLOAD_BYTES


def test_the_limit_counts_bytes_at_the_edge():
    event = StepEntered(CALL, step="", at=AT)
    size = len(encode(SharedEvent("n", event)).encode())
    assert encode(SharedEvent("n", event), limit=size)
    with pytest.raises(PayloadTooLarge):
        encode(SharedEvent("n", event), limit=size - 1)


def test_an_event_sent_again_names_the_nodes_it_is_for():
    message = SharedEvent("node-a", StepEntered(CALL, step="menu", at=AT, node="node-a"), to=("node-b", "node-c"))
    assert decode(encode(message)) == message
    assert "to" not in json.loads(encode(SharedEvent("node-a", message.event)))
    with pytest.raises(WireError):
        decode(encode(message).replace('["node-b","node-c"]', '"node-b"'))


def test_beats_queues_and_leaving_round_trip():
    queue = SharedQueue("operators", (SharedCaller(1, "*******5678", "PJSIP/trunk-00000002", 12.5),),
                        logged_in=2, available=1, longest_wait=12.5, in_call=1)
    for message in (NodeAlive("node-a", 7, 1, 2, (CALL, "x")), NodeAlive("node-a", 8, 1, 1, ()),
                    NodeQueues("node-a", "pbx1:5038", (queue, SharedQueue("madoguchi-line", (), 0, 0, 0.0))),
                    NodeHello("node-a"), NodeLeft("node-a")):
        assert decode(encode(message)) == message


def test_a_long_beat_is_split_into_parts_that_each_fit():
    calls = [f"{n:08d}-7a3e-4d64-9b43-3c6a1f7c2e11" for n in range(600)]
    parts = alive_messages("node-a", 3, calls, limit=4000)
    assert len(parts) > 1 and {p.parts for p in parts} == {len(parts)}
    assert [p.part for p in parts] == list(range(1, len(parts) + 1))
    assert [c for p in parts for c in p.calls] == calls
    assert all(len(encode(p, limit=4000).encode()) <= 4000 for p in parts)
    assert alive_messages("node-a", 4, []) == [NodeAlive("node-a", 4, 1, 1, ())]


def test_queues_too_large_lose_callers_from_the_tail_of_the_longest_queue():
    callers = tuple(SharedCaller(n, "*******5678", f"PJSIP/trunk-{n:08x}", float(n)) for n in range(1, 200))
    big = NodeQueues("node-a", "pbx1:5038", (SharedQueue("operators", callers, 3, 0, 199.0),
                                             SharedQueue("madoguchi-line", callers[:5], 0, 0, 5.0)))
    fitted, dropped = fit_queues(big, limit=3000)
    assert dropped > 0 and len(encode(fitted, limit=3000).encode()) <= 3000
    operators = fitted.queues[0]
    assert operators.callers == callers[:len(operators.callers)] and operators.logged_in == 3
    assert fitted.queues[1].callers == callers[:5]
    small = NodeQueues("node-a", "pbx1:5038", ())
    assert fit_queues(small) == (small, 0)


@pytest.mark.parametrize("payload", [
    "", "not json", "[]", '{"v": 2, "node": "a", "kind": "left"}', '{"v": 1, "kind": "left"}',
    '{"v": 1, "node": "", "kind": "left"}', '{"v": 1, "node": "' + "n" * 65 + '", "kind": "left"}',
    '{"v": 1, "node": "a", "kind": "gossip"}',
    '{"v": 1, "node": "a", "kind": "event", "type": "Unheard", "data": {"call_id": "x"}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "StepEntered", "data": {"call_id": "x"}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "StepEntered", "data": {"call_id": 5, "step": "m"}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "HoldPlaced", "data": {"call_id": "x", "hold_id": "1", "slot_id": 2}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "HoldPlaced", "data": {"call_id": "x", "hold_id": true, "slot_id": 2}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "UtteranceRecognized", '
    '"data": {"call_id": "x", "text": "t", "confidence": "high"}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "StepEntered", '
    '"data": {"call_id": "x", "step": "m", "at": "2026-12-01T09:00:00"}}',
    '{"v": 1, "node": "a", "kind": "event", "type": "StepEntered", "data": {"call_id": "x", "step": "m", "at": "soon"}}',
    '{"v": 1, "node": "a", "kind": "alive", "seq": 1, "part": 2, "parts": 1, "calls": []}',
    '{"v": 1, "node": "a", "kind": "alive", "seq": 1, "part": 1, "parts": 1, "calls": [1]}',
    '{"v": 1, "node": "a", "kind": "queues", "asterisk": "x", "queues": [{"name": "q", "callers": [[1, "c"]]}]}',
    '{"v": 1, "node": "a", "kind": "queues", "asterisk": "x", "queues": [{"name": "q", "callers": [], "logged_in": -1}]}',
])
def test_what_is_not_a_message_is_a_wire_error(payload):
    with pytest.raises(WireError):
        decode(payload)


def test_a_newer_node_s_extra_fields_are_ignored_and_missing_defaults_filled():
    payload = json.dumps({"v": 1, "node": "new", "kind": "event", "type": "UtteranceRecognized",
                          "data": {"call_id": "x", "text": "はい", "confidence": 1, "mood": "calm",
                                   "at": "2026-12-01T09:00:00+09:00"}})
    event = decode(payload).event
    assert event == UtteranceRecognized("x", text="はい", confidence=1.0, at=datetime(
        2026, 12, 1, 9, tzinfo=timezone(timedelta(hours=9))), node="new")
    assert isinstance(event.confidence, float)


def test_every_event_class_is_known_by_name():
    names = event_types()
    for event in EVENTS:
        assert names[type(event).__name__] is type(event)
