"""Requests between an HTTP process (`ivr serve --http-processes K`) and the main process.

Every HTTP process listens on the one HTTP port (SO_REUSEPORT: the kernel spreads connections). An
extra process answers itself only what needs no state of the main process (`LOCAL_PATHS`: the
API's slots, holds and bookings, and the residents' site, all of it in the store and signed
cookies); everything else (the dashboard and its live views, the chat's conversations, the calls
and queues, /metrics, /healthz, batches, call-backs) it forwards, streamed, to the main process over
a Unix socket (`ToParent`). The main process takes the client's address from the forwarded request
(`PeerFromChild`), so that per-client limits and logs see the client, not the extra process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import httpx

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_PATHS = ("/api/v1/slots", "/api/v1/holds", "/api/v1/bookings", "/yoyaku")
PEER_HEADER = b"x-madoguchi-peer"  # the client's address, set by an extra process, believed over the Unix socket only
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}


def served_locally(path: str) -> bool:
    """Whether an extra HTTP process answers `path` itself (else the main process does)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in LOCAL_PATHS)


def forwarded_headers(headers: list[tuple[bytes, bytes]], peer: str | None) -> list[tuple[bytes, bytes]]:
    """The request's headers as the main process gets them: hop-by-hop ones dropped, any peer header
    the client sent replaced by the address the extra process saw."""
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != PEER_HEADER]
    return kept + [(PEER_HEADER, (peer or "").encode())]


class ToParent:
    """ASGI, in an extra HTTP process: `app` answers `served_locally` paths, the main process (over
    the Unix socket `parent_socket`) the rest, its answers streamed back as they come."""

    def __init__(self, app: Asgi, parent_socket: str) -> None:
        self.app = app
        self.client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=parent_socket),
                                        base_url="http://madoguchi-main", timeout=httpx.Timeout(60, read=None))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or served_locally(scope["path"]):
            await self.app(scope, receive, send)
            if scope["type"] == "lifespan":
                await self.client.aclose()
            return
        await self.forward(scope, receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = scope["raw_path"].decode("latin-1") if scope.get("raw_path") else scope["path"]
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        peer = scope["client"][0] if scope.get("client") else None
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        request = self.client.build_request(scope["method"], target, headers=forwarded_headers(scope["headers"], peer),
                                            content=_body(receive) if has_body else None)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.TransportError as error:
            logger.error("the main process did not answer %s %s: %s", scope["method"], scope["path"],
                         type(error).__name__)
            await _plain(send, 502, b"the main process does not answer\n")
            return
        try:
            relay = asyncio.create_task(_relay(response, send))
            gone = asyncio.create_task(_disconnect(receive))
            await asyncio.wait({relay, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (relay, gone):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay  # its error, if any, is the answer's
        finally:
            await response.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def _disconnect(receive: Receive) -> None:
    """Until the client leaves (a streamed answer, such as the dashboard's live view, ends then)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _relay(response: httpx.Response, send: Send) -> None:
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _plain(send: Send, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode())]})
    await send({"type": "http.response.body", "body": text})


class PeerFromChild:
    """ASGI, in the main process: a request that came over the Unix socket (from an extra HTTP
    process: only they can reach it) gets the client address the extra process saw; on the public
    port the header is dropped, so a client cannot claim an address."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            if any(k == PEER_HEADER for k, _ in headers):
                scope = dict(scope, headers=[(k, v) for k, v in headers if k != PEER_HEADER])
                server = scope.get("server")
                if server is not None and server[1] is None:  # a Unix socket: an extra process
                    peer = next(v for k, v in headers if k == PEER_HEADER).decode("latin-1")
                    scope["client"] = (peer, 0) if peer else None
        await self.app(scope, receive, send)
