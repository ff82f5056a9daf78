"""Events shared between `ivr serve` nodes through PostgreSQL LISTEN/NOTIFY: no other broker.

When the database is PostgreSQL, `ivr serve` runs one `PgEvents` in its main process (the one with
the HTTP API, whose bus already carries its workers' events):

- every event of this node's bus (`event.node == ""`) goes out as a NOTIFY on channel
  `madoguchi_events` (`ivr.node_wire`: JSON, shorter than 8000 bytes; a larger one is dropped with a
  warning), and every few seconds a beat with this node's calls in progress and the operator queues
  its AMI client shows (callers masked);
- it LISTENs on the same channel and publishes the other nodes' events into this node's bus, tagged
  with their node (`ivr.nodes.Nodes` keeps what it heard: a call whose end was missed ends at the
  next beat, a node silent for 20 s is forgotten with its calls). Its own notifications come back to
  it too and are ignored.
- Each time it starts listening (at start, and after a lost connection) it says hello; every node
  that hears a hello sends the events of its calls in progress again (the last `KEEP_PER_CALL` of
  each, from its `CallStarted`) addressed to the nodes that said it, so a node started or
  reconnected mid-call shows those calls whole, and the others do not hear them twice.

Two dedicated connections (psycopg's async driver, autocommit), apart from the store's pool: one
listens, one notifies. Both reconnect with back-off when PostgreSQL goes away; what this node
publishes meanwhile waits in a bounded outbox and goes out once it is back. Everything runs on the
event loop without blocking it (call audio is paced on the same loop): the collector only encodes,
the sender awaits the database. SQLite: `libpq_dsn` gives None and `ivr serve` starts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from ivr.events import CallEnded, Event, EventBus
from ivr.node_wire import (
    Message,
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
    fit_queues,
)
from ivr.nodes import LINE_EVENTS, Nodes
from ivr.privacy import mask_phone

logger = logging.getLogger(__name__)

CHANNEL = "madoguchi_events"
BEAT_SECONDS = 5.0  # this node's calls in progress and its queues, at least this often
TICK_SECONDS = 1.0  # queue changes sent, silent nodes forgotten
HEALTH_SECONDS = 10.0  # a listener that heard nothing for this long checks its connection
OUTBOX = 5000  # messages kept while PostgreSQL is away; the oldest go first
BATCH = 100  # notifications per round trip
CONNECT_SECONDS = 5
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 30.0
CLOSE_SECONDS = 3.0  # to flush the outbox on close
KEEP_PER_CALL = 64  # events kept per call in progress, sent again to a node that says hello
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)


def libpq_dsn(url: str) -> str | None:
    """The libpq connection string of a PostgreSQL SQLAlchemy URL; None for another database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return None
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def backoff(attempt: int) -> float:
    """Seconds before reconnection attempt `attempt` (0-based): doubling, capped, with jitter."""
    return min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** attempt) * random.uniform(0.8, 1.2)


def shared_queues(snapshot: Mapping[str, Any]) -> tuple[SharedQueue, ...]:
    """The AMI queue view (name -> QueueState) as it goes out: caller IDs masked."""
    return tuple(
        SharedQueue(
            name=name,
            callers=tuple(SharedCaller(int(c.position), mask_phone(str(c.caller)), str(c.channel),
                                       round(float(c.wait_seconds), 1)) for c in state.callers),
            logged_in=int(state.logged_in), available=int(state.available),
            longest_wait=round(float(state.longest_wait), 1), in_call=int(getattr(state, "in_call", 0) or 0),
        )
        for name, state in sorted(snapshot.items())
    )


class PgEvents:
    """This node's side of the shared event channel; `start()` it, `close()` it (the owner of its tasks)."""

    def __init__(self, dsn: str, nodes: Nodes, bus: EventBus, *,
                 queue_snapshot: Callable[[], Mapping[str, Any]] | None = None,
                 channel: str = CHANNEL, beat_seconds: float = BEAT_SECONDS, tick_seconds: float = TICK_SECONDS,
                 health_seconds: float = HEALTH_SECONDS) -> None:
        self.dsn, self.nodes, self.bus, self.channel = dsn, nodes, bus, channel
        self.queue_snapshot = queue_snapshot
        self.beat_seconds, self.tick_seconds, self.health_seconds = beat_seconds, tick_seconds, health_seconds
        self._outbox: deque[str] = deque()
        self._sending = 0  # notifications on their way (taken from the outbox, not yet confirmed)
        self._wake = asyncio.Event()
        self._calls: dict[str, list[Event]] = {}  # this node's calls in progress: their events, as sent
        self._replay: set[str] = set()  # nodes that said hello: sent the calls in progress at the next tick
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._publisher: psycopg.AsyncConnection | None = None
        self._listener: psycopg.AsyncConnection | None = None
        self._own_pids: deque[int] = deque(maxlen=16)  # the backends this node notified from
        self._seq = 0
        self._queues_sent: tuple[Any, float] | None = None  # what was last sent, and when
        self._beat_at = float("-inf")
        self._dropped = 0
        self._warned_at: dict[str, float] = {}
        self.listening = asyncio.Event()  # set while the listener is connected and LISTENing

    # -- life -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start collecting, sending, listening and beating; returns once this node's events are
        collected (the connections come up in the background, retried until they do)."""
        self._subscribed.clear()
        names = ("collect", "send", "listen", "tick")
        work = (self._collect(), self._send(), self._listen(), self._tick())
        self._tasks = [asyncio.create_task(coro, name=f"pg-events-{name}") for name, coro in zip(names, work)]
        await self._subscribed.wait()
        logger.info("sharing events with the other nodes through PostgreSQL as node %r", self.nodes.name)

    async def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Send what is collected and that this node leaves (within `timeout`), then stop."""
        for _ in range(3):  # events published just now reach the collector first
            await asyncio.sleep(0)
        collect, send, *others = self._tasks or [None, None]
        for task in [collect, *others]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [collect, *others] if t is not None), return_exceptions=True)
        if send is not None:
            self._put(NodeLeft(self.nodes.name))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed(), timeout)
            send.cancel()
            await asyncio.gather(send, return_exceptions=True)
        for conn in (self._publisher, self._listener):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._tasks = []

    async def _flushed(self) -> None:
        while self._outbox or self._sending:
            await asyncio.sleep(0.02)

    # -- out --------------------------------------------------------------------------------
    async def _collect(self) -> None:
        """This node's own events, encoded into the outbox as they come."""
        async with self.bus.subscribe() as queue:
            self._subscribed.set()
            try:
                while True:
                    self._take(await queue.get())
            finally:  # cancelled on close: what is queued still goes out
                while not queue.empty():
                    self._take(queue.get_nowait())

    def _take(self, event: Event) -> None:
        if event.node:  # another node's, heard here
            return
        if isinstance(event, CallEnded):
            self._calls.pop(event.call_id, None)
        elif not isinstance(event, LINE_EVENTS):
            kept = self._calls.setdefault(event.call_id, [])
            kept.append(event)
            if len(kept) > KEEP_PER_CALL:
                del kept[1]  # the CallStarted stays first
        self._put(SharedEvent(self.nodes.name, event))

    def _put(self, message: Message) -> None:
        try:
            payload = encode(message)
        except PayloadTooLarge as error:
            what = type(message.event).__name__ if isinstance(message, SharedEvent) else type(message).__name__
            logger.warning("%s not shared with the other nodes: %s", what, error)
            return
        if len(self._outbox) >= OUTBOX:
            self._outbox.popleft()
            self._dropped += 1
            self._warn("outbox", "PostgreSQL away: %d event(s) for the other nodes dropped so far", self._dropped)
        self._outbox.append(payload)
        self._wake.set()

    async def _send(self) -> None:
        """The outbox, in order, a batch of NOTIFYs per round trip; kept through an outage."""
        attempt = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                self._sending = len(batch)
                try:
                    conn = self._publisher or await self._connect("notify")
                    self._publisher = conn
                    if conn.info.backend_pid not in self._own_pids:
                        self._own_pids.append(conn.info.backend_pid)
                    await conn.execute("SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                                       (self.channel, batch))
                except _LOST as error:
                    self._sending = 0
                    self._outbox.extendleft(reversed(batch))  # sent again once connected (at least once)
                    await self._lost("notify", self._publisher, error, attempt)
                    self._publisher = None
                    await asyncio.sleep(backoff(attempt))
                    attempt += 1
                    continue
                except psycopg.Error as error:  # refused by the server (not a lost connection): not retried
                    self._sending = 0
                    self._warn("refused", "%d message(s) for the other nodes refused by PostgreSQL: %s",
                               len(batch), type(error).__name__)
                    continue
                self._sending = 0
                if attempt:
                    logger.info("events go out to the other nodes again")
                attempt = 0

    # -- in ---------------------------------------------------------------------------------
    async def _listen(self) -> None:
        attempt = 0
        while True:
            conn = None
            try:
                conn = self._listener = await self._connect("listen")
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self.listening.set()
                self._put(NodeHello(self.nodes.name))  # the others tell what this node may have missed
                if attempt:
                    logger.info("hearing the other nodes again")
                attempt = 0
                while True:
                    async for notify in conn.notifies(timeout=self.health_seconds):
                        self._receive(notify.payload, notify.pid)
                    await conn.execute("SELECT 1")  # quiet for a while: is the connection still there?
            except psycopg.Error as error:
                self.listening.clear()
                await self._lost("listen", conn, error, attempt)
            self._listener = None
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    def _receive(self, payload: str, pid: int) -> None:
        try:
            message = decode(payload)
        except WireError as error:
            self._warn("wire", "a notification on %s that is not a node message was ignored: %s", self.channel, error)
            return
        try:
            self._take_in(message, pid)
        except Exception:  # noqa: BLE001 - one bad message never stops the listener
            logger.exception("a message of node %r could not be taken in", message.node)

    def _take_in(self, message: Message, pid: int) -> None:
        if message.node == self.nodes.name:
            if pid not in self._own_pids:
                self._warn("name", "another node also calls itself %r: give each node its own "
                           "MADOGUCHI_NODE_NAME (its events are ignored here)", message.node)
            return
        if not self.nodes.knows(message.node) and not isinstance(message, NodeLeft):
            logger.info("node %r is on the same database: its calls and queues show here", message.node)
        if isinstance(message, NodeLeft):
            logger.info("node %r left", message.node)
        elif isinstance(message, NodeHello):
            self._replay.add(message.node)
        for event in self.nodes.apply(message, time.monotonic()):
            self.bus.publish(event)

    # -- beat -------------------------------------------------------------------------------
    async def _tick(self) -> None:
        while True:
            try:
                self._beat(time.monotonic())
            except Exception:  # noqa: BLE001 - the next tick tries again
                self._warn("tick", "sharing this node's state with the other nodes failed", exc_info=True)
            await asyncio.sleep(self.tick_seconds)

    def _beat(self, now: float) -> None:
        """Forget silent nodes; send the queues if they changed, and the beat when it is due."""
        gone, events = self.nodes.expire(now)
        for name in gone:
            logger.warning("node %r has not been heard of for %.0f s: its calls no longer show here",
                           name, self.nodes.silent_after)
        for event in events:
            self.bus.publish(event)
        if self._replay:  # other nodes (re)started listening: what they may have missed, then a beat
            to, self._replay, self._queues_sent, self._beat_at = tuple(sorted(self._replay)), set(), None, float("-inf")
            for events in list(self._calls.values()):
                for event in events:
                    self._put(SharedEvent(self.nodes.name, event, to))
        self._send_queues(now)
        if now - self._beat_at >= self.beat_seconds:
            self._beat_at = now
            self._seq += 1
            for message in alive_messages(self.nodes.name, self._seq, sorted(self._calls)):
                self._put(message)

    def _send_queues(self, now: float) -> None:
        """The queues this node's AMI shows: at once when they change, else with every beat."""
        try:
            snapshot = self.queue_snapshot() if self.queue_snapshot is not None else {}
        except Exception:  # noqa: BLE001 - no queue view this time; calls are shared all the same
            logger.debug("queue view not readable", exc_info=True)
            snapshot = {}
        queues = shared_queues(snapshot)
        shape = tuple((q.name, q.logged_in, q.available, q.in_call, tuple((c.position, c.channel) for c in q.callers))
                      for q in queues)
        if self._queues_sent is not None and self._queues_sent[0] == shape \
                and now - self._queues_sent[1] < self.beat_seconds:
            return
        self._queues_sent = (shape, now)
        try:
            message, dropped = fit_queues(NodeQueues(self.nodes.name, self.nodes.asterisk, queues))
        except PayloadTooLarge as error:
            self._warn("queues", "the operator queues are not shared with the other nodes: %s", error)
            return
        if dropped:
            self._warn("queues", "%d waiting caller(s) left out of the queues shared with the other nodes", dropped)
        self._put(message)

    # -- connections ------------------------------------------------------------------------
    async def _connect(self, role: str) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, connect_timeout=CONNECT_SECONDS,
            application_name=f"madoguchi-{role} {self.nodes.name}"[:63],
            keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)

    async def _lost(self, role: str, conn: psycopg.AsyncConnection | None, error: Exception, attempt: int) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        if attempt == 0:
            logger.warning("events shared with the other nodes (%s): PostgreSQL connection lost, retrying: %s",
                           role, str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)

    def _warn(self, key: str, message: str, *args: Any, exc_info: bool = False) -> None:
        """A warning at most once a minute per kind."""
        now = time.monotonic()
        if now - self._warned_at.get(key, float("-inf")) >= 60.0:
            self._warned_at[key] = now
            logger.warning(message, *args, exc_info=exc_info)
