"""What `ivr serve` nodes on one database tell each other: messages <-> NOTIFY payloads (JSON text).

Pure framing: no sockets, no clock, no logging. A payload is one JSON object
`{"v": 1, "kind": ..., "node": NAME, ...}`; PostgreSQL takes payloads shorter than 8000 bytes, so
`encode` refuses a larger one (`PayloadTooLarge`) and `alive_messages` / `fit_queues` split or trim
what can be split. Events travel as the bus carries them (already masked by their publishers); the
operator queues' caller IDs are masked before they are put in a message.

    SharedEvent(node, event, to=())               an event of `node`'s bus (`to`: sent again for these nodes)
    NodeAlive(node, seq, part, parts, calls)      every few seconds: the node's calls in progress
    NodeQueues(node, asterisk, queues)            the operator queues its Asterisk (AMI) shows
    NodeHello(node)                               the node (re)started listening: tell it what you have
    NodeLeft(node)                                the node stops
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields, replace
from datetime import datetime
from typing import Any

from ivr.events import Event

VERSION = 1
MAX_PAYLOAD_BYTES = 7999  # PostgreSQL: "the payload must be shorter than 8000 bytes"
MAX_NODE_NAME = 64


class WireError(ValueError):
    """A payload that is not a message of this version (malformed, unknown kind or event, bad field)."""


class PayloadTooLarge(WireError):
    """The encoded message would not fit in one NOTIFY payload."""


@dataclass(frozen=True)
class SharedEvent:
    node: str
    event: Event
    to: tuple[str, ...] = ()  # empty: for every node; else sent again for these (they said hello)


@dataclass(frozen=True)
class NodeAlive:
    """Part `part` (1-based) of `parts` of the node's beat number `seq`: its calls in progress."""

    node: str
    seq: int
    part: int
    parts: int
    calls: tuple[str, ...]


@dataclass(frozen=True)
class SharedCaller:
    position: int
    caller: str  # masked: "*******5678"
    channel: str
    wait_seconds: float


@dataclass(frozen=True)
class SharedQueue:
    """An operator queue as another node's AMI shows it (the attributes of `QueueState`)."""

    name: str
    callers: tuple[SharedCaller, ...]
    logged_in: int
    available: int
    longest_wait: float
    in_call: int = 0


@dataclass(frozen=True)
class NodeQueues:
    node: str
    asterisk: str  # which Asterisk the node's AMI client talks to (`ivr.nodes.asterisk_label`)
    queues: tuple[SharedQueue, ...]


@dataclass(frozen=True)
class NodeHello:
    node: str


@dataclass(frozen=True)
class NodeLeft:
    node: str


Message = SharedEvent | NodeAlive | NodeQueues | NodeHello | NodeLeft


# -- encoding ---------------------------------------------------------------------------------
def encode(message: Message, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The payload; `PayloadTooLarge` if it is longer than `limit` bytes (UTF-8)."""
    match message:
        case SharedEvent(event=event, to=to):
            body: dict[str, Any] = {"kind": "event", "type": type(event).__name__, "data": _event_fields(event)}
            if to:
                body["to"] = list(to)
        case NodeAlive():
            body = {"kind": "alive", "seq": message.seq, "part": message.part, "parts": message.parts,
                    "calls": list(message.calls)}
        case NodeQueues():
            body = {"kind": "queues", "asterisk": message.asterisk,
                    "queues": [_queue_fields(queue) for queue in message.queues]}
        case NodeHello():
            body = {"kind": "hello"}
        case NodeLeft():
            body = {"kind": "left"}
        case _:
            raise TypeError(f"not a node message: {type(message).__name__}")
    payload = json.dumps({"v": VERSION, "node": message.node, **body}, ensure_ascii=False, separators=(",", ":"))
    size = len(payload.encode())
    if size > limit:
        raise PayloadTooLarge(f"{size} bytes, more than {limit}")
    return payload


def _event_fields(event: Event) -> dict[str, Any]:
    data = {}
    for f in fields(event):
        if f.name == "node":  # the message's node says whose it is
            continue
        value = getattr(event, f.name)
        data[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return data


def _queue_fields(queue: SharedQueue) -> dict[str, Any]:
    return {"name": queue.name, "logged_in": queue.logged_in, "available": queue.available,
            "longest_wait": queue.longest_wait, "in_call": queue.in_call,
            "callers": [[c.position, c.caller, c.channel, c.wait_seconds] for c in queue.callers]}


def alive_messages(node: str, seq: int, calls: list[str] | tuple[str, ...],
                   limit: int = MAX_PAYLOAD_BYTES) -> list[NodeAlive]:
    """The beat `seq` in as many parts as it takes for each to fit in `limit` bytes."""
    overhead = len(encode(NodeAlive(node, seq, 999_999, 999_999, ()), limit).encode())
    chunks: list[list[str]] = [[]]
    size = overhead
    for call in calls:
        cost = len(json.dumps(call, ensure_ascii=False).encode()) + 1
        if chunks[-1] and size + cost > limit:
            chunks.append([])
            size = overhead
        chunks[-1].append(call)
        size += cost
    return [NodeAlive(node, seq, index, len(chunks), tuple(chunk)) for index, chunk in enumerate(chunks, start=1)]


def fit_queues(message: NodeQueues, limit: int = MAX_PAYLOAD_BYTES) -> tuple[NodeQueues, int]:
    """`message` with waiting callers dropped from the tail of the longest queue until it fits in
    `limit` bytes, and how many were dropped (the counts of operators stay). `PayloadTooLarge` if
    even without callers it does not fit."""
    dropped = 0
    while True:
        try:
            encode(message, limit)
            return message, dropped
        except PayloadTooLarge:
            longest = max(message.queues, key=lambda q: len(q.callers), default=None)
            if longest is None or not longest.callers:
                raise
            trimmed = replace(longest, callers=longest.callers[:-1])
            message = replace(message, queues=tuple(trimmed if q is longest else q for q in message.queues))
            dropped += 1


# -- decoding ---------------------------------------------------------------------------------
def decode(payload: str) -> Message:
    """The message in `payload`; `WireError` for anything that is not one."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise WireError("not JSON") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise WireError("not a version-1 message")
    node = body.get("node")
    if not isinstance(node, str) or not node or len(node) > MAX_NODE_NAME:
        raise WireError("no node name")
    kind = body.get("kind")
    if kind == "event":
        to = body.get("to", [])
        if not isinstance(to, list) or not all(isinstance(name, str) for name in to):
            raise WireError("bad addressees")
        return SharedEvent(node, _event(body, node), tuple(to))
    if kind == "alive":
        seq, part, parts, calls = (body.get(k) for k in ("seq", "part", "parts", "calls"))
        if not all(_is_int(v) for v in (seq, part, parts)) or not 1 <= part <= parts:
            raise WireError("bad beat numbers")
        if not isinstance(calls, list) or not all(isinstance(c, str) for c in calls):
            raise WireError("bad call list")
        return NodeAlive(node, seq, part, parts, tuple(calls))
    if kind == "queues":
        asterisk, queues = body.get("asterisk"), body.get("queues")
        if not isinstance(asterisk, str) or not isinstance(queues, list):
            raise WireError("bad queues")
        return NodeQueues(node, asterisk, tuple(_queue(q) for q in queues))
    if kind == "hello":
        return NodeHello(node)
    if kind == "left":
        return NodeLeft(node)
    raise WireError(f"unknown kind {kind!r}")


def event_types() -> dict[str, type[Event]]:
    """Every event class by name (the subclasses of `Event`, however deep)."""
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def _event(body: dict[str, Any], node: str) -> Event:
    cls = event_types().get(body.get("type"))  # type: ignore[arg-type]
    data = body.get("data")
    if cls is None or not isinstance(data, dict):
        raise WireError(f"unknown event {body.get('type')!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "node":
            continue
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise WireError(f"{cls.__name__} without {f.name}")
            continue
        values[f.name] = _typed(data[f.name], str(f.type), f"{cls.__name__}.{f.name}")
    try:
        return cls(**values, node=node)
    except TypeError as error:
        raise WireError(str(error)) from None


_SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}


def _typed(value: Any, annotation: str, name: str) -> Any:
    """`value` checked against a field's annotation (str, int, float, bool, datetime, `X | None`)."""
    kinds = [part.strip() for part in annotation.split("|")]
    if value is None:
        if "None" in kinds:
            return None
        raise WireError(f"{name}: null")
    for kind in kinds:
        if kind == "datetime" and isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise WireError(f"{name}: not a datetime") from None
            if parsed.tzinfo is None:
                raise WireError(f"{name}: a datetime without its offset")
            return parsed
        expected = _SCALARS.get(kind)
        if expected is not None and isinstance(value, expected) and (kind == "bool" or not isinstance(value, bool)):
            return float(value) if kind == "float" else value
    if not any(kind in _SCALARS or kind == "datetime" for kind in kinds) and isinstance(value, (str, int, float, bool)):
        return value  # a field of a type this module does not know: a scalar passes as it is
    raise WireError(f"{name}: expected {annotation}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _queue(data: Any) -> SharedQueue:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("callers"), list):
        raise WireError("bad queue")
    numbers = [data.get(k, 0) for k in ("logged_in", "available", "in_call")]
    longest = data.get("longest_wait", 0.0)
    if not all(_is_int(n) for n in numbers) or not isinstance(longest, (int, float)) or isinstance(longest, bool):
        raise WireError("bad queue counts")
    callers = []
    for entry in data["callers"]:
        if not (isinstance(entry, list) and len(entry) == 4 and _is_int(entry[0]) and isinstance(entry[1], str)
                and isinstance(entry[2], str) and isinstance(entry[3], (int, float)) and not isinstance(entry[3], bool)):
            raise WireError("bad queue caller")
        callers.append(SharedCaller(entry[0], entry[1], entry[2], float(entry[3])))
    return SharedQueue(data["name"], tuple(callers), numbers[0], numbers[1], float(longest), numbers[2])
