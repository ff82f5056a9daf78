"""The other `ivr serve` nodes on this database, as this node hears of them; pure bookkeeping.

`Nodes(name, asterisk)` is this node's identity and what it heard from the others
(`ivr.node_wire` messages, fed by `ivr.service.pg_events`): `apply(message, now)` returns the events
to publish on the local bus (another node's events, tagged with its name; a `CallEnded` for each of
its calls that ended unheard), `expire(now)` forgets nodes gone silent (their calls end here too),
and `queues(now)` gives the operator queues of the Asterisk servers this node does not see itself.
`all_queues` merges those with this node's own AMI view for the API and the dashboard. `now` is a
monotonic clock in seconds; nothing here reads a clock, a socket or the environment.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ivr.config import parse_host_port
from ivr.events import CallbackRequested, CallEnded, Event, LineAdmission
from ivr.node_wire import MAX_NODE_NAME, Message, NodeAlive, NodeLeft, NodeQueues, SharedEvent, SharedQueue

SILENT_AFTER = 20.0  # seconds without a word from a node (it beats every few seconds): it is gone
UNHEARD = ""  # the outcome of a CallEnded made here: the end of the call was not heard
LINE_EVENTS = (LineAdmission, CallbackRequested)  # about the line in front of the IVR, not a call session


def node_name(configured: str, http: str, hostname: str) -> str:
    """This node's name: the configured one, else `hostname:http-port` (unique per machine and port)."""
    if configured.strip():
        return configured.strip()
    _, port = parse_host_port(http)
    return f"{hostname[:MAX_NODE_NAME - 6]}:{port}"


def asterisk_label(configured: str, ami: str, hostname: str) -> str:
    """Which Asterisk this node's AMI client talks to: the configured name, else its AMI address,
    with a loopback host replaced by this machine's name (127.0.0.1 on two machines is two Asterisks).
    Nodes with the same label show that Asterisk's queues once."""
    if configured.strip():
        return configured.strip()
    host, port = parse_host_port(ami)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() in ("localhost", "localhost.localdomain")
    return f"{hostname}:{port}" if loopback else f"{host}:{port}"


@dataclass
class _Node:
    heard: float
    calls: set[str] = field(default_factory=set)  # its calls in progress, as its events tell
    beat: tuple[int, int, dict[int, tuple[str, ...]]] | None = None  # seq, parts, received parts
    asterisk: str = ""
    queues: tuple[SharedQueue, ...] = ()
    queues_at: float = 0.0


@dataclass(frozen=True)
class QueueSource:
    """One operator queue for the API and the dashboard; `state` has QueueState's attributes."""

    asterisk: str  # the Asterisk it is on (`asterisk_label`)
    name: str
    state: Any
    local: bool  # from this node's own AMI client
    nodes: frozenset[str]  # the nodes on that Asterisk ("" is this one): whose hand-overs it holds


class Nodes:
    """This node and the others heard of; safe to read from any thread."""

    def __init__(self, name: str, asterisk: str = "", *, silent_after: float = SILENT_AFTER) -> None:
        self.name, self.asterisk, self.silent_after = name, asterisk, silent_after
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    def apply(self, message: Message, now: float) -> list[Event]:
        """Take in one message of another node; the events to publish here. This node's own
        messages (it hears itself) are ignored."""
        if message.node == self.name:
            return []
        with self._lock:
            if isinstance(message, NodeLeft):
                return self._forget(message.node)
            node = self._nodes.setdefault(message.node, _Node(heard=now))
            node.heard = now
            match message:
                case SharedEvent(event=event, to=to):
                    if to and self.name not in to:  # sent again for a node that said hello, not this one
                        return []
                    if isinstance(event, CallEnded):
                        node.calls.discard(event.call_id)
                    elif not isinstance(event, LINE_EVENTS):
                        node.calls.add(event.call_id)
                    return [event]
                case NodeAlive():
                    return self._beat(message, node)
                case NodeQueues():
                    node.asterisk, node.queues, node.queues_at = message.asterisk, message.queues, now
        return []

    def _beat(self, message: NodeAlive, node: _Node) -> list[Event]:
        """A whole beat lists the node's calls in progress: those it no longer has ended unheard."""
        if node.beat is None or node.beat[0] != message.seq:
            node.beat = (message.seq, message.parts, {})
        node.beat[2][message.part] = message.calls
        if len(node.beat[2]) < node.beat[1]:
            return []
        alive = {call for part in node.beat[2].values() for call in part}
        node.beat = None
        ended = sorted(node.calls - alive)
        node.calls -= set(ended)
        return [_unheard_end(call, message.node) for call in ended]

    def _forget(self, name: str) -> list[Event]:
        node = self._nodes.pop(name, None)
        return [_unheard_end(call, name) for call in sorted(node.calls)] if node else []

    def expire(self, now: float) -> tuple[list[str], list[Event]]:
        """Forget the nodes not heard of for `silent_after` seconds: their names, and a CallEnded
        for each of their calls still shown."""
        with self._lock:
            gone = [name for name, node in self._nodes.items() if now - node.heard > self.silent_after]
            events = [event for name in gone for event in self._forget(name)]
        return gone, events

    def knows(self, name: str) -> bool:
        with self._lock:
            return name in self._nodes

    def heard_of(self) -> list[str]:
        with self._lock:
            return sorted(self._nodes)

    def nodes_on(self, asterisk: str) -> frozenset[str]:
        """The nodes whose AMI talks to `asterisk` ("" stands for this node)."""
        with self._lock:
            names = {name for name, node in self._nodes.items() if node.asterisk == asterisk}
        return frozenset(names | ({""} if asterisk == self.asterisk else set()))

    def queues(self, now: float) -> dict[str, tuple[SharedQueue, ...]]:
        """The queues of each Asterisk that other nodes see and this one does not, the freshest
        report of each, waits counted up to `now`."""
        with self._lock:
            best: dict[str, _Node] = {}
            for node in self._nodes.values():
                if node.asterisk and node.asterisk != self.asterisk and node.queues_at:
                    if node.asterisk not in best or node.queues_at > best[node.asterisk].queues_at:
                        best[node.asterisk] = node
            return {label: tuple(_aged(queue, now - node.queues_at) for queue in node.queues)
                    for label, node in best.items()}


def _unheard_end(call_id: str, node: str) -> CallEnded:
    return CallEnded(call_id, outcome=UNHEARD, duration_seconds=0.0, node=node)


def _aged(queue: SharedQueue, seconds: float) -> SharedQueue:
    seconds = max(0.0, seconds)
    callers = tuple(replace(c, wait_seconds=c.wait_seconds + seconds) for c in queue.callers)
    return replace(queue, callers=callers, longest_wait=queue.longest_wait + seconds if callers else 0.0)


def all_queues(local: Mapping[str, Any], nodes: Nodes | None, now: float) -> list[QueueSource]:
    """This node's AMI view (`local`: name -> QueueState) first, then the queues of every other
    Asterisk that another node reported, each Asterisk's queues by name."""
    here = nodes.asterisk if nodes is not None else ""
    local_nodes = nodes.nodes_on(here) if nodes is not None else frozenset({""})
    found = [QueueSource(here, name, local[name], True, local_nodes) for name in sorted(local)]
    if nodes is not None:
        for label, queues in sorted(nodes.queues(now).items()):
            on = nodes.nodes_on(label)
            found.extend(QueueSource(label, q.name, q, False, on) for q in sorted(queues, key=lambda q: q.name))
    return found
