"""The API and the dashboard of one node with another node's calls and queues in it (no database
sharing here: the other node's messages are fed to `app.state.nodes` and its events to the bus)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from ivr.app import create_app, local_node
from ivr.config import Settings
from ivr.events import CallStarted, StepEntered, Transferred
from ivr.node_wire import NodeQueues, SharedCaller, SharedQueue
from ivr.nodes import Nodes
from ivr.operator_queues import QueueCaller, QueueState
from slots.db import make_engine, make_sessionmaker, upgrade

OPERATOR = "operator-token-0123456789abcdef"
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
CHANNEL = "PJSIP/trunk-00000007"  # both Asterisk servers have one of this name


@dataclass
class StaticQueues:
    states: dict

    def snapshot(self) -> dict:
        return self.states


@dataclass
class FakeAmi:
    queues: StaticQueues = field(default_factory=lambda: StaticQueues({}))
    connected: bool = True


@pytest.fixture
def app(tmp_path):
    url = f"sqlite:///{tmp_path / 'views.db'}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(db=url, api_tokens=f"operator:{OPERATOR}", person_key="k", session_secret="s",
                        node_name="node-a", ami="10.0.0.5:5038")
    ami = FakeAmi(StaticQueues({"operators": QueueState(
        "operators", (QueueCaller(1, "09011112222", CHANNEL, 20.0),), logged_in=1, available=0, longest_wait=20.0)}))
    nodes = Nodes("node-a", "10.0.0.5:5038")
    application = create_app(settings, sessionmaker=make_sessionmaker(engine), ami=ami, nodes=nodes,
                             clock=lambda: NOW)
    remote = SharedQueue("operators", (SharedCaller(1, "*******4444", CHANNEL, 40.0),), logged_in=2, available=1,
                         longest_wait=40.0, in_call=1)
    nodes.apply(NodeQueues("node-b", "10.0.0.6:5038", (remote,)), now=time.monotonic())
    yield application
    engine.dispose()


def publish_both_calls(app) -> None:
    live = app.state.live
    live.apply(CallStarted("call-a", caller="*******2222", channel=CHANNEL, at=NOW - timedelta(seconds=30)))
    live.apply(Transferred("call-a", summary="用件: 予約の変更", at=NOW - timedelta(seconds=20)))
    live.apply(CallStarted("call-b", caller="*******4444", channel=CHANNEL, at=NOW - timedelta(seconds=60),
                           node="node-b"))
    live.apply(StepEntered("call-b", step="ask_date", at=NOW - timedelta(seconds=50), node="node-b"))
    live.apply(Transferred("call-b", summary="用件: キャンセル", at=NOW - timedelta(seconds=45), node="node-b"))


def test_the_api_lists_every_node_s_calls_and_every_asterisk_s_queues(app):
    with TestClient(app) as client:
        publish_both_calls(app)
        headers = {"Authorization": f"Bearer {OPERATOR}"}
        calls = client.get("/api/v1/calls", headers=headers).json()["items"]
        assert [(c["id"], c["node"], c["step"]) for c in calls] == [("call-b", "node-b", "ask_date"),
                                                                    ("call-a", "node-a", "")]
        queues = client.get("/api/v1/queues", headers=headers).json()["items"]
        assert [(q["asterisk"], q["name"], q["logged_in"], [c["caller"] for c in q["callers"]]) for q in queues] == [
            ("10.0.0.5:5038", "operators", 1, ["*******2222"]), ("10.0.0.6:5038", "operators", 2, ["*******4444"])]
        assert queues[1]["callers"][0]["wait_seconds"] >= 40.0


def login(client: TestClient) -> None:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/login", data={"login_csrf": token, "token": OPERATOR}, follow_redirects=False).status_code == 303


def test_the_dashboard_names_the_node_of_each_call_and_the_asterisk_of_each_queue(app):
    with TestClient(app) as client:
        login(client)
        live = client.get("/live").text
        assert 'class="calls"' in live and "node-a" not in re.sub(r'data-node="[^"]*"', "", live)  # no column yet
        publish_both_calls(app)
        live = client.get("/live").text
        assert 'class="calls nodes" id="calls" data-node="node-a"' in live
        assert 'data-call="call-b" data-node="node-b"' in live and '<td class="node">node-b</td>' in live
        queue, recent = client.get("/queue?partial=1").text.split("最近の転送")
        # each Asterisk's queue, and each caller's hand-over from a node on that caller's Asterisk
        first, second = queue.split("キュー「operators」")[1:3]
        assert "（10.0.0.5:5038）" in first and "用件: 予約の変更" in first and "キャンセル" not in first
        assert "（10.0.0.6:5038）" in second and "用件: キャンセル" in second and "予約の変更" not in second
        assert "用件: キャンセル" in recent and "用件: 予約の変更" in recent  # every node's recent hand-overs


def test_one_asterisk_only_shows_as_before(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    upgrade(url)
    settings = Settings(db=url, api_tokens=f"operator:{OPERATOR}", person_key="k", session_secret="s")
    ami = FakeAmi(StaticQueues({"operators": QueueState("operators", (), 1, 1, 0.0)}))
    with TestClient(create_app(settings, ami=ami)) as client:
        login(client)
        assert "（" not in client.get("/queue?partial=1").text.split("キュー「operators」")[1].split("</h2>")[0]
        queues = client.get("/api/v1/queues", headers={"Authorization": f"Bearer {OPERATOR}"}).json()["items"]
        assert [(q["name"], q["asterisk"]) for q in queues] == [("operators", local_node(settings).asterisk)]


def test_this_node_is_named_from_the_settings():
    named = Settings(node_name="east-1", asterisk_name="pbx-east", person_key="k")
    assert (local_node(named).name, local_node(named).asterisk) == ("east-1", "pbx-east")
    derived = local_node(Settings(http="0.0.0.0:8081", ami="127.0.0.1:5038", person_key="k"), hostname="ivr-3")
    assert (derived.name, derived.asterisk) == ("ivr-3:8081", "ivr-3:5038")
    with pytest.raises(ValueError):
        Settings(node_name="x" * 65)
    with pytest.raises(ValueError):
        Settings(node_name="bad\nname")
