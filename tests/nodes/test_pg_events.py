"""`ivr.service.pg_events` on the real PostgreSQL: two nodes' buses joined through LISTEN/NOTIFY,
in one process (each node its own bus, registry and connections), on a database of their own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from ivr.events import CallEnded, CallStarted, EventBus, StepEntered, UtteranceRecognized
from ivr.nodes import Nodes
from ivr.operator_queues import QueueCaller, QueueState
from ivr.service.pg_events import PgEvents, libpq_dsn
from tests.fixtures.databases import scratch_postgres
from tests.fixtures.waiting import until

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with scratch_postgres("madoguchi_nodes") as url:
        yield libpq_dsn(url)


class Node:
    """One node: its bus (with everything published on it recorded), its registry and its bridge."""

    def __init__(self, dsn: str, name: str, asterisk: str = "", queues=None) -> None:
        self.bus = EventBus()
        self.nodes = Nodes(name, asterisk)
        self.sharing = PgEvents(dsn, self.nodes, self.bus, queue_snapshot=queues, beat_seconds=0.5,
                                tick_seconds=0.1, health_seconds=1.0)
        self.seen: list = []
        self._recording: asyncio.Task | None = None

    async def start(self) -> None:
        ready = asyncio.Event()

        async def record() -> None:
            async with self.bus.subscribe() as queue:
                ready.set()
                while True:
                    self.seen.append(await queue.get())

        self._recording = asyncio.create_task(record())
        await ready.wait()
        await self.sharing.start()
        await asyncio.wait_for(self.sharing.listening.wait(), 10)

    async def close(self) -> None:
        await self.sharing.close()
        self._recording.cancel()

    def calls(self, call_id: str) -> list:
        return [e for e in self.seen if e.call_id == call_id]


@asynccontextmanager
async def running(*nodes: Node):
    for node in nodes:
        await node.start()
    # each heard the others' hello (and answered it, with nothing in progress yet)
    await until(lambda: all(n.nodes.knows(o.nodes.name) for n in nodes for o in nodes if o is not n
                            and o.nodes.name != n.nodes.name), "the nodes heard of each other")
    await asyncio.sleep(0.3)
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.close()


async def backend_pids(dsn: str, application: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        rows = await (await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (application,))).fetchall()
    return [row[0] for row in rows]


async def terminate(dsn: str, application: str) -> int:
    pids = await backend_pids(dsn, application)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return len(pids)


def test_each_node_s_events_reach_the_other_tagged_with_its_name_and_never_come_back(dsn):
    async def scenario() -> None:
        a, b = Node(dsn, "node-a"), Node(dsn, "node-b")
        async with running(a, b):
            a.bus.publish(CallStarted("call-a", caller="*******5678", channel="PJSIP/trunk-00000001"))
            a.bus.publish(StepEntered("call-a", step="menu"))
            b.bus.publish(CallStarted("call-b"))
            await until(lambda: len(b.calls("call-a")) == 2 and a.calls("call-b"), "each node heard the other")
            started, step = b.calls("call-a")
            assert (type(started), started.node, started.caller, started.channel) == (
                CallStarted, "node-a", "*******5678", "PJSIP/trunk-00000001")
            assert (step.step, step.node) == ("menu", "node-a")
            assert [e.node for e in a.calls("call-b")] == ["node-b"]
            await asyncio.sleep(1.0)  # a few beats: nothing comes back, nothing is repeated
            assert [e.node for e in a.calls("call-a")] == ["", ""]  # its own two, not heard again
            assert [e.node for e in b.calls("call-b")] == [""]
            assert len(b.calls("call-a")) == 2
            assert b.nodes.heard_of() == ["node-a"] and a.nodes.heard_of() == ["node-b"]

    asyncio.run(scenario())


def test_the_listener_and_the_notifier_survive_their_connection_being_terminated(dsn, caplog):
    async def scenario() -> None:
        a, b = Node(dsn, "drop-a"), Node(dsn, "drop-b")
        async with running(a, b):
            a.bus.publish(CallStarted("before"))
            await until(lambda: b.calls("before"), "heard before the drop")
            assert await terminate(dsn, "madoguchi-listen drop-b") == 1
            assert await terminate(dsn, "madoguchi-notify drop-a") == 1
            await until(lambda: not b.sharing.listening.is_set(), "the listener noticed", timeout=5)
            a.bus.publish(StepEntered("before", step="menu"))  # while one or both are reconnecting
            a.bus.publish(CallStarted("after"))
            # what went out while B was not listening is lost, but B's hello has A send its calls again
            await until(lambda: [e for e in b.calls("after") if isinstance(e, CallStarted)], "heard after the drop",
                        timeout=30)
            await until(lambda: [e for e in b.calls("before") if isinstance(e, StepEntered)], "the step too")
            assert b.sharing.listening.is_set()
            assert await backend_pids(dsn, "madoguchi-listen drop-b")  # a new backend
            a.bus.publish(StepEntered("after", step="ask_date"))  # and events flow as before
            await until(lambda: [e for e in b.calls("after") if isinstance(e, StepEntered)], "flowing again")
            assert [e.call_id for e in b.seen if isinstance(e, CallEnded)] == []

    with caplog.at_level(logging.INFO, logger="ivr.service.pg_events"):
        asyncio.run(scenario())
    assert "PostgreSQL connection lost, retrying" in caplog.text
    assert "hearing the other nodes again" in caplog.text


def test_a_call_whose_end_was_missed_ends_at_the_next_beat_and_a_leaving_node_takes_its_calls(dsn):
    async def scenario() -> None:
        a, b = Node(dsn, "beat-a"), Node(dsn, "beat-b")
        async with running(a, b):
            for call in ("kept", "missed", "left-open"):
                a.bus.publish(CallStarted(call))
            await until(lambda: all(b.calls(c) for c in ("kept", "missed", "left-open")), "three calls heard")
            # B stops hearing: its listener's backend is terminated, and A's call ends meanwhile
            b.sharing.listening.clear()
            await terminate(dsn, "madoguchi-listen beat-b")
            a.sharing._calls.pop("missed")  # what A's bus would say once CallEnded went out unheard
            await until(lambda: [e for e in b.calls("missed") if isinstance(e, CallEnded)], "ended at a beat",
                        timeout=30)
            (ended,) = [e for e in b.calls("missed") if isinstance(e, CallEnded)]
            assert (ended.node, ended.outcome) == ("beat-a", "")
            assert not [e for e in b.calls("kept") if isinstance(e, CallEnded)]
            await a.close()  # leaves: B ends what A still had
            await until(lambda: {e.call_id for e in b.seen if isinstance(e, CallEnded)} >= {"kept", "left-open"},
                        "A's calls ended when it left")
            assert b.nodes.heard_of() == []
            await a.start()  # started again for the context's close

    asyncio.run(scenario())


def test_a_node_started_mid_call_is_sent_the_calls_in_progress_whole(dsn):
    async def scenario() -> None:
        a, late = Node(dsn, "early-a"), Node(dsn, "late-b")
        async with running(a):
            a.bus.publish(CallStarted("ongoing", caller="*******1234", channel="PJSIP/trunk-0000000a"))
            a.bus.publish(StepEntered("ongoing", step="ask_date"))
            a.bus.publish(CallStarted("done"))
            a.bus.publish(CallEnded("done", outcome="booked", duration_seconds=30.0))
            await asyncio.sleep(0.3)
            async with running(late):
                await until(lambda: len(late.calls("ongoing")) >= 2, "the call in progress sent again")
                started, step = late.calls("ongoing")[:2]
                assert (started.caller, started.channel, started.at) == (
                    "*******1234", "PJSIP/trunk-0000000a", a.calls("ongoing")[0].at)
                assert step.step == "ask_date"
                assert late.calls("done") == []  # ended calls are not sent again

    asyncio.run(scenario())


def test_the_operator_queues_go_out_masked_and_show_on_the_other_node(dsn):
    queue = QueueState("operators", (QueueCaller(1, "09012345678", "PJSIP/trunk-00000004", 30.0),),
                       logged_in=2, available=0, longest_wait=30.0, in_call=2)

    async def scenario() -> None:
        a = Node(dsn, "queue-a", asterisk="pbx-a:5038", queues=lambda: {"operators": queue})
        b = Node(dsn, "queue-b", asterisk="pbx-b:5038", queues=dict)
        async with running(a, b):
            await until(lambda: b.nodes.queues(now=_now()), "A's queues heard")
            (shared,) = b.nodes.queues(now=_now())["pbx-a:5038"]
            assert (shared.name, shared.logged_in, shared.available, shared.in_call) == ("operators", 2, 0, 2)
            (caller,) = shared.callers
            assert caller.caller == "*******5678" and caller.channel == "PJSIP/trunk-00000004"
            assert caller.wait_seconds >= 30.0
            assert a.nodes.queues(now=_now()) == {"pbx-b:5038": ()}  # B's Asterisk has no queue
            assert b.nodes.nodes_on("pbx-a:5038") == {"queue-a"}

    asyncio.run(scenario())


def test_an_event_too_large_for_a_notification_is_dropped_with_a_warning_and_the_rest_flow(dsn, caplog):
    async def scenario() -> None:
        a, b = Node(dsn, "size-a"), Node(dsn, "size-b")
        async with running(a, b):
            a.bus.publish(UtteranceRecognized("long", text="あ" * 3000, confidence=0.5))
            a.bus.publish(StepEntered("long", step="menu"))
            await until(lambda: b.calls("long"), "the next event heard")
            assert [type(e).__name__ for e in b.calls("long")] == ["StepEntered"]

    with caplog.at_level(logging.WARNING, logger="ivr.service.pg_events"):
        asyncio.run(scenario())
    assert "UtteranceRecognized not shared with the other nodes" in caplog.text
    assert "あああ" not in caplog.text


def test_two_nodes_with_one_name_are_told_apart_in_the_log(dsn, caplog):
    async def scenario() -> None:
        a, twin = Node(dsn, "twin"), Node(dsn, "twin")
        async with running(a, twin):
            a.bus.publish(CallStarted("from-one"))
            await asyncio.sleep(1.0)
            assert not twin.calls("from-one") or twin.calls("from-one")[0].node == ""

    with caplog.at_level(logging.WARNING, logger="ivr.service.pg_events"):
        asyncio.run(scenario())
    assert "another node also calls itself 'twin'" in caplog.text


def test_only_a_postgresql_url_shares_events():
    assert libpq_dsn("sqlite:///var/madoguchi.db") is None
    assert libpq_dsn("postgresql+psycopg://madoguchi:s3cret@db:5432/madoguchi?sslmode=require") == \
        "postgresql://madoguchi:s3cret@db:5432/madoguchi?sslmode=require"


def _now() -> float:
    import time

    return time.monotonic()
