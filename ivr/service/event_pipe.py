"""Events between processes: a worker's event bus forwarded to its parent's over a pipe.

A frame is a 4-byte big-endian length and a pickle of one `Event` (parent and child are the same
program, so pickles are safe here). `forward_events` is the child's side, `relay_events` the parent's.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
from collections.abc import Callable

from ivr.events import CallEnded, CallStarted, Event, EventBus
from slots.outcomes import CallOutcome

LENGTH_BYTES = 4


def encode(event: object) -> bytes:
    """One frame: an `Event`, or another message of ours (`ivr.service.metric_pipe.MetricCount`)."""
    data = pickle.dumps(event)
    return len(data).to_bytes(LENGTH_BYTES, "big") + data


async def read_event(reader: asyncio.StreamReader) -> object:
    """The next frame's object; `asyncio.IncompleteReadError` at the pipe's end."""
    size = int.from_bytes(await reader.readexactly(LENGTH_BYTES), "big")
    return pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child process


async def forward_events(bus: EventBus, fd: int) -> None:
    """A child's side: every event of its bus, framed, into pipe `fd` (until cancelled)."""
    transport, _ = await asyncio.get_running_loop().connect_write_pipe(
        asyncio.Protocol, os.fdopen(fd, "wb", buffering=0))

    def send(event: Event) -> None:
        if not transport.is_closing():  # the parent is gone: nobody to tell
            transport.write(encode(event))

    try:
        async with bus.subscribe() as queue:
            try:
                while True:
                    send(await queue.get())
            finally:  # cancelled at the end: what is queued still goes out
                while not queue.empty():
                    send(queue.get_nowait())
    finally:
        transport.close()


async def relay_events(fd: int, bus: EventBus, on_other: Callable[[object], None] | None = None) -> None:
    """The parent's side: publish into `bus` every event the child sends (any other message goes to
    `on_other`), until the pipe's EOF. A
    child that died mid-call (killed) never ends its calls: they are ended here, as failed, so that
    the dashboard, /api/v1/calls and /metrics do not keep them (the dialplan took the callers to a
    person: the session had set IVR_NEXT=operator)."""
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    open_calls: dict[str, float] = {}  # call id -> when it started (monotonic)
    try:
        while True:
            event = await read_event(reader)
            if isinstance(event, Event):
                if isinstance(event, CallStarted):
                    open_calls[event.call_id] = time.monotonic()
                elif isinstance(event, CallEnded):
                    open_calls.pop(event.call_id, None)
                bus.publish(event)
            elif on_other is not None:
                on_other(event)
    except asyncio.IncompleteReadError:
        pass
    finally:
        transport.close()
        for call_id, started in open_calls.items():
            bus.publish(CallEnded(call_id, outcome=CallOutcome.FAILED,
                                  duration_seconds=round(time.monotonic() - started, 3)))
