"""The AudioSocket TCP server: one `CallConnection` per call, handed to a per-call handler.

    async def handler(conn: CallConnection) -> None:
        playback = conn.sender.play(pcm8k)          # paced 20 ms frames, silence when idle
        async for message in conn.inbound():        # Audio / Dtmf / Hangup / Error; ends at EOF
            if isinstance(message, Dtmf):
                conn.sender.flush()                  # barge-in
        ...
        await conn.hangup()                          # the dialplan continues after AudioSocket()

    server = AudioSocketServer(handler, "127.0.0.1", 9092)
    await server.start()

The connection reads the socket in its own task from the first byte, so Asterisk is never
blocked by a handler that is busy elsewhere, and caller hang-up (EOF) is seen at once: the
inbound iterator ends, queued playbacks finish with False and `conn.closed` is set. Inbound
messages wait in a queue of at most MAX_INBOUND; when it is full the connection stops reading
the socket until the handler takes some (TCP pushes back on the peer), so a peer sending faster
than real time cannot grow memory. A handler error is logged once with the call id and ends only
that call. `max_calls` (0: no limit) bounds the calls at once: a connection beyond it gets a
hangup message at once (the dialplan continues after AudioSocket()) and never reaches the handler.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from typing import AsyncIterator, Awaitable, Callable

from telephony.audiosocket.protocol import (
    Audio,
    Decoder,
    Hangup,
    Message,
    ProtocolError,
    Uuid,
    encode,
)
from telephony.audiosocket.sender import FrameClock, PacedSender

log = logging.getLogger(__name__)

Handler = Callable[["CallConnection"], Awaitable[None]]
READ_SIZE = 4096
#: Inbound messages kept for a handler that does not keep up (about 10 s of audio); beyond that
#: the connection stops reading the socket until the handler catches up. Nothing is dropped.
MAX_INBOUND = 500
#: How long a refused connection (beyond `max_calls`) may take to close after its hangup message.
REFUSE_GRACE = 1.0
_EOF = object()


class CallConnection:
    """One AudioSocket call: the UUID, inbound messages, and the paced `sender`."""

    def __init__(self, call_uuid: uuid_module.UUID, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, decoder: Decoder, frame_clock: FrameClock | None = None) -> None:
        self.uuid = call_uuid
        self.call_id = str(call_uuid)[:8]  # for logs
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        self._inbound: asyncio.Queue[object] = asyncio.Queue()  # bounded by `_put` (EOF always fits)
        self._room = asyncio.Event()  # set while the queue has room for one more message
        self._room.set()
        self.sender = PacedSender(writer, call_id=self.call_id)
        self.closed = asyncio.Event()
        self.hung_up_by_us = False
        self.error: ProtocolError | None = None
        if frame_clock is not None:
            frame_clock.add(self.sender)  # one shared 20 ms timer for every call
            self._sender_task: asyncio.Task[None] | None = None
        else:
            self._sender_task = asyncio.create_task(self.sender.run(), name=f"audiosocket-send-{self.call_id}")
        self._reader_task = asyncio.create_task(self._read_loop(), name=f"audiosocket-read-{self.call_id}")

    @property
    def peer(self) -> str:
        address = self._writer.get_extra_info("peername")
        return f"{address[0]}:{address[1]}" if address else "?"

    async def _read_loop(self) -> None:
        try:
            for message in self._decoder.feed(b""):  # whatever arrived together with the UUID
                await self._put(message)
            while True:
                chunk = await self._reader.read(READ_SIZE)
                if not chunk:
                    break
                for message in self._decoder.feed(chunk):
                    await self._put(message)
        except ProtocolError as exc:
            self.error = exc
            log.warning("call %s: bad AudioSocket data from Asterisk: %s", self.call_id, exc)
        except (ConnectionError, OSError) as exc:
            log.info("call %s: connection lost: %s", self.call_id, exc)
        finally:
            self._inbound.put_nowait(_EOF)
            self.sender.close()
            self.closed.set()

    async def _put(self, message: Message) -> None:
        """Queue one message; while the queue is full, wait (and so stop reading the socket)."""
        while self._inbound.qsize() >= MAX_INBOUND:
            self._room.clear()
            await self._room.wait()
        self._inbound.put_nowait(message)

    async def inbound(self) -> AsyncIterator[Message]:
        """Messages from Asterisk in order; ends at EOF. Raises `ProtocolError` on bad data."""
        while True:
            item = await self._inbound.get()
            if self._inbound.qsize() < MAX_INBOUND:
                self._room.set()
            if item is _EOF:
                self._inbound.put_nowait(_EOF)  # later iterations end at once too
                if self.error is not None:
                    raise self.error
                return
            yield item  # type: ignore[misc]

    async def hangup(self) -> None:
        """Send hangup (0x00) and close: Asterisk's AudioSocket() returns and the dialplan goes on."""
        if self._writer.is_closing():
            return
        self.hung_up_by_us = True
        self.sender.close()  # no frame is written after this, so the hangup is the last message
        if self._sender_task is not None:
            await asyncio.gather(self._sender_task, return_exceptions=True)
        try:
            self._writer.write(encode(Hangup()))
            await self._writer.drain()
        except (ConnectionError, OSError):
            pass
        await self._close_transport()

    async def _close_transport(self) -> None:
        self.sender.close()
        if not self._writer.is_closing():
            self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (ConnectionError, OSError, TimeoutError):
            pass

    async def aclose(self) -> None:
        """Close without a hangup message (Asterisk treats it the same) and stop both tasks."""
        await self._close_transport()
        tasks = [task for task in (self._sender_task, self._reader_task) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.closed.set()


class AudioSocketServer:
    """Accepts Asterisk's AudioSocket connections and runs `handler(conn)` for each."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 9092, *,
                 uuid_timeout: float = 5.0, hangup_grace: float = 10.0, shared_clock: bool = True,
                 reuse_port: bool = False, max_calls: int = 0) -> None:
        self._handler = handler
        #: Calls at once (0: no limit); a connection beyond them is refused with a hangup message.
        self.max_calls = max_calls
        #: SO_REUSEPORT: several processes listen on one port and the kernel spreads the calls.
        self.reuse_port = reuse_port
        self.host = host
        self.port = port
        self._uuid_timeout = uuid_timeout
        self._hangup_grace = hangup_grace
        self._server: asyncio.Server | None = None
        #: One 20 ms timer for all calls (None: each call paces itself with its own timer).
        self.frame_clock = FrameClock() if shared_clock else None
        self._calls: dict[asyncio.Task[None], CallConnection | None] = {}
        self.calls_total = 0
        self.calls_refused = 0
        self.handler_errors = 0

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  reuse_port=self.reuse_port or None)
        self.port = self._server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        log.info("AudioSocket server listening on %s:%d", self.host, self.port)

    def stop_accepting(self) -> None:
        """Stop listening; calls in progress go on."""
        if self._server is not None:
            self._server.close()

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no call is active; False if `timeout` passed first."""
        tasks = list(self._calls)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    async def close(self) -> None:
        """Stop listening and end every call now (their handlers are cancelled)."""
        self.stop_accepting()
        tasks = list(self._calls)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.frame_clock is not None:
            await self.frame_clock.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self.max_calls and len(self._calls) >= self.max_calls:
            await self._refuse(reader, writer)
            return
        self._calls[task] = None
        try:
            conn = await self._open(reader, writer)
            if conn is None:
                return
            self._calls[task] = conn
            self.calls_total += 1
            await self._run_handler(conn)
        except asyncio.CancelledError:
            # `close()` ended this call; the connection task ends quietly (close() awaits it).
            writer.close()
        finally:
            self._calls.pop(task, None)

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A call beyond `max_calls`: hangup message, then close (after the peer's own close, so the
        UUID it sent is read and the close is clean)."""
        self.calls_refused += 1
        log.warning("AudioSocket call refused: %d calls already (max_calls)", self.max_calls)
        try:
            writer.write(encode(Hangup()))
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(REFUSE_GRACE):
                while await reader.read(READ_SIZE):
                    pass
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _open(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> CallConnection | None:
        """Read up to the UUID message; anything else first is refused."""
        decoder = Decoder()
        first: Message | None = None
        try:
            async with asyncio.timeout(self._uuid_timeout):
                while first is None:
                    chunk = await reader.read(READ_SIZE)
                    if not chunk:
                        break
                    # Take only the first message; the decoder keeps the rest for the connection.
                    first = next(iter(decoder.feed(chunk)), None)
        except (TimeoutError, ProtocolError, ConnectionError, OSError) as exc:
            log.warning("AudioSocket connection refused: no valid UUID message (%s)", type(exc).__name__)
            writer.close()
            return None
        if not isinstance(first, Uuid):
            log.warning("AudioSocket connection refused: first message was not a UUID")
            writer.close()
            return None
        return CallConnection(first.value, reader, writer, decoder, self.frame_clock)

    async def _run_handler(self, conn: CallConnection) -> None:
        handler = asyncio.create_task(self._handler(conn), name=f"call-{conn.call_id}")
        closed = asyncio.create_task(conn.closed.wait())
        try:
            await asyncio.wait({handler, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not handler.done():
                # The caller hung up: the handler sees the end of `inbound()`; give it time to clean up.
                await asyncio.wait({handler}, timeout=self._hangup_grace)
            if not handler.done():
                log.warning("call %s: handler still running %.0f s after hang-up; cancelling",
                            conn.call_id, self._hangup_grace)
                handler.cancel()
            await asyncio.gather(handler, return_exceptions=True)
            if not handler.cancelled() and handler.exception() is not None:
                self.handler_errors += 1
                log.error("call %s: handler failed", conn.call_id, exc_info=handler.exception())
        except asyncio.CancelledError:
            handler.cancel()
            await asyncio.gather(handler, return_exceptions=True)
            raise
        finally:
            closed.cancel()
            await conn.aclose()
