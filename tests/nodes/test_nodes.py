"""`ivr.nodes` and what the live views do with other nodes' events: names, the registry of nodes
heard of (unheard ends, silent nodes, leaving), merged queues, calls keyed by node, metrics per node."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ivr.events import CallbackRequested, CallEnded, CallStarted, LineAdmission, StepEntered, Transferred
from ivr.live import LiveCalls
from ivr.metrics import Metrics
from ivr.node_wire import NodeAlive, NodeLeft, NodeQueues, SharedCaller, SharedEvent, SharedQueue
from ivr.nodes import Nodes, all_queues, asterisk_label, node_name
from ivr.operator_queues import QueueCaller, QueueState
from ivr.web.handovers import Handovers

AT = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


def shared(node: str, event):
    return SharedEvent(node, replace(event, node=node))


def test_a_node_is_named_by_its_setting_or_by_host_and_http_port():
    assert node_name("", "127.0.0.1:8080", "ivr-1") == "ivr-1:8080"
    assert node_name("  east ", "127.0.0.1:8080", "ivr-1") == "east"
    assert len(node_name("", "0.0.0.0:8081", "h" * 300)) <= 64


@pytest.mark.parametrize("configured, ami, label", [
    ("", "10.0.0.5:5038", "10.0.0.5:5038"),
    ("", "pbx1.city.local:5038", "pbx1.city.local:5038"),
    ("", "127.0.0.1:5038", "ivr-1:5038"),  # loopback: this machine's Asterisk
    ("", "[::1]:5038", "ivr-1:5038"),
    ("", "localhost:5039", "ivr-1:5039"),
    ("pbx-east", "127.0.0.1:5038", "pbx-east"),
])
def test_an_asterisk_is_labelled_by_its_ami_address_or_its_setting(configured, ami, label):
    assert asterisk_label(configured, ami, "ivr-1") == label


def test_another_node_s_events_pass_and_its_own_are_ignored():
    nodes = Nodes("a")
    started = shared("b", CallStarted("c1", at=AT))
    assert nodes.apply(started, now=0) == [started.event]
    assert nodes.apply(shared("a", CallStarted("c2", at=AT)), now=0) == []
    assert nodes.knows("b") and not nodes.knows("a")


def test_a_beat_ends_the_calls_whose_end_was_not_heard():
    nodes = Nodes("a")
    for call in ("c1", "c2", "c3"):
        nodes.apply(shared("b", CallStarted(call, at=AT)), now=0)
    nodes.apply(shared("b", CallEnded("c3", outcome="booked", duration_seconds=1.0, at=AT)), now=1)
    assert nodes.apply(NodeAlive("b", 1, 1, 2, ("c1",)), now=2) == []  # half a beat: nothing yet
    ended = nodes.apply(NodeAlive("b", 1, 2, 2, ("c9",)), now=2)  # c9: started while not listening
    assert [(e.call_id, e.node, e.outcome) for e in ended] == [("c2", "b", "")]
    assert nodes.apply(NodeAlive("b", 2, 1, 1, ("c1",)), now=3) == []


def test_an_incomplete_beat_is_dropped_for_the_next_one():
    nodes = Nodes("a")
    nodes.apply(shared("b", CallStarted("c1", at=AT)), now=0)
    nodes.apply(NodeAlive("b", 1, 1, 2, ()), now=1)  # part 2 of beat 1 never heard
    assert [e.call_id for e in nodes.apply(NodeAlive("b", 2, 1, 1, ()), now=2)] == ["c1"]


def test_the_line_s_events_are_not_calls_of_the_node():
    nodes = Nodes("a")
    nodes.apply(shared("b", LineAdmission("w1", "waiting", 1, at=AT)), now=0)
    nodes.apply(shared("b", CallbackRequested("w2", "vaccine", "busy", at=AT)), now=0)
    assert nodes.apply(NodeAlive("b", 1, 1, 1, ()), now=1) == []


def test_a_node_that_leaves_or_goes_silent_takes_its_calls_and_queues_along():
    nodes = Nodes("a", silent_after=20)
    nodes.apply(shared("b", CallStarted("c1", at=AT)), now=0)
    nodes.apply(NodeQueues("b", "pbx2:5038", (SharedQueue("operators", (), 1, 1, 0.0),)), now=0)
    nodes.apply(shared("c", CallStarted("c2", at=AT)), now=0)
    assert [e.call_id for e in nodes.apply(NodeLeft("b"), now=1)] == ["c1"]
    assert nodes.queues(now=1) == {} and nodes.heard_of() == ["c"]
    assert nodes.expire(now=15) == ([], [])
    nodes.apply(NodeAlive("c", 1, 1, 1, ("c2",)), now=15)
    assert nodes.expire(now=30) == ([], [])
    gone, events = nodes.expire(now=36)
    assert gone == ["c"] and [(e.call_id, e.node) for e in events] == [("c2", "c")]
    assert nodes.heard_of() == []


def test_queues_of_other_asterisks_show_once_and_age_and_this_asterisk_s_come_from_this_node():
    nodes = Nodes("a", asterisk="pbx1:5038")
    waiting = SharedCaller(1, "*******5678", "PJSIP/trunk-00000001", 10.0)
    operators = SharedQueue("operators", (waiting,), logged_in=2, available=0, longest_wait=10.0, in_call=2)
    nodes.apply(NodeQueues("b", "pbx2:5038", (operators,)), now=100)
    nodes.apply(NodeQueues("c", "pbx2:5038", (replace(operators, logged_in=3),)), now=101)  # the fresher
    nodes.apply(NodeQueues("d", "pbx1:5038", (replace(operators, name="ignored"),)), now=101)  # ours: AMI shows it
    remote = nodes.queues(now=103)
    assert list(remote) == ["pbx2:5038"]
    (queue,) = remote["pbx2:5038"]
    assert queue.logged_in == 3 and queue.callers[0].wait_seconds == 12.0 and queue.longest_wait == 12.0
    assert nodes.nodes_on("pbx2:5038") == {"b", "c"} and nodes.nodes_on("pbx1:5038") == {"", "d"}

    local = {"operators": QueueState("operators", (QueueCaller(1, "09012345678", "PJSIP/trunk-00000001", 3.0),),
                                     logged_in=1, available=1, longest_wait=3.0)}
    merged = all_queues(local, nodes, now=103)
    assert [(q.asterisk, q.name, q.local) for q in merged] == [("pbx1:5038", "operators", True),
                                                              ("pbx2:5038", "operators", False)]
    assert merged[0].nodes == {"", "d"} and merged[1].nodes == {"b", "c"}
    assert [(q.asterisk, q.local) for q in all_queues(local, None, now=0)] == [("", True)]


def test_live_calls_are_keyed_by_node_and_call_id():
    live = LiveCalls(node="a")
    live.apply(CallStarted("same-id", caller="*******1111", at=AT))
    live.apply(CallStarted("same-id", caller="*******2222", at=AT + timedelta(seconds=1), node="b"))
    live.apply(StepEntered("same-id", step="menu", at=AT, node="b"))
    assert [(c.node, c.caller, c.step) for c in live.snapshot(AT)] == [("a", "*******1111", ""),
                                                                        ("b", "*******2222", "menu")]
    assert live.get("same-id").node == "a" and live.get("same-id", node="b").step == "menu"
    live.apply(CallEnded("same-id", outcome="", duration_seconds=0.0, at=AT, node="b"))
    assert [c.node for c in live.snapshot(AT)] == ["a"]


def test_the_line_s_events_never_make_a_live_call():
    live = LiveCalls(node="a")
    live.apply(LineAdmission("w1", "busy", at=AT))
    live.apply(CallbackRequested("w1", "vaccine", "busy", at=AT))
    live.apply(LineAdmission("w2", "waiting", 2, at=AT, node="b"))
    assert len(live) == 0


def test_hand_overs_are_looked_up_among_the_nodes_on_the_queue_s_asterisk():
    handovers = Handovers()
    channel = "PJSIP/trunk-00000003"  # two Asterisk servers count channels alike
    handovers.apply(CallStarted("c1", channel=channel, at=AT))
    handovers.apply(Transferred("c1", summary="予約の変更", at=AT))
    handovers.apply(CallStarted("c2", channel=channel, at=AT, node="b"))
    handovers.apply(Transferred("c2", summary="キャンセル", at=AT + timedelta(seconds=1), node="b"))
    now = AT + timedelta(minutes=1)
    assert handovers.for_channel(channel, now).summary == "予約の変更"
    assert handovers.for_channel(channel, now, nodes={"b"}).summary == "キャンセル"
    assert handovers.for_channel(channel, now, nodes={"", "b"}).summary == "キャンセル"  # the latest
    assert handovers.for_channel(channel, now, nodes={"c"}) is None
    assert [h.node for h in handovers.recent(now)] == ["b", ""]


def test_metrics_count_this_node_s_calls_only():
    metrics = Metrics()
    metrics.observe(CallStarted("c1", at=AT))
    metrics.observe(CallStarted("c2", at=AT, node="b"))
    metrics.observe(CallEnded("c3", outcome="booked", duration_seconds=1.0, at=AT, node="b"))
    text = metrics.render().decode()
    assert "madoguchi_calls_active 1.0" in text
    assert 'madoguchi_calls_total{outcome="booked"}' not in text


def test_events_sent_again_for_a_node_that_said_hello_reach_that_node_only():
    nodes, other = Nodes("a"), Nodes("c")
    again = SharedEvent("b", CallStarted("c1", at=AT, node="b"), to=("a",))
    assert nodes.apply(again, now=0) == [again.event]
    assert other.apply(again, now=0) == [] and other.knows("b")
