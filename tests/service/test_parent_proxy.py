"""What an extra HTTP process answers itself and what it forwards to the main process, and how the
main process learns the client's address (`ivr.service.parent_proxy`)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from ivr.service.parent_proxy import PEER_HEADER, PeerFromChild, ToParent, forwarded_headers, served_locally


@pytest.mark.parametrize(("path", "local"), [
    ("/api/v1/slots", True), ("/api/v1/slots/7/close", True), ("/api/v1/holds/1.abc", True),
    ("/api/v1/bookings", True), ("/yoyaku/", True), ("/yoyaku", True),
    ("/api/v1/slotsx", False), ("/api/v1/calls", False), ("/api/v1/batches", False), ("/metrics", False),
    ("/healthz", False), ("/chat/", False), ("/live", False), ("/", False), ("/yoyakux", False),
])
def test_what_an_extra_process_answers_itself(path, local):
    assert served_locally(path) is local


def test_forwarded_headers_carry_the_peer_and_never_the_clients_claim():
    headers = [(b"host", b"example"), (b"connection", b"keep-alive"), (b"x-madoguchi-peer", b"203.0.113.9"),
               (b"transfer-encoding", b"chunked"), (b"cookie", b"a=b")]
    assert forwarded_headers(headers, "192.0.2.1") == [(b"host", b"example"), (b"cookie", b"a=b"),
                                                       (PEER_HEADER, b"192.0.2.1")]


async def _seen(scope) -> dict:
    got = {}

    async def app(scope, receive, send):
        got.update(scope)

    await PeerFromChild(app)(scope, None, None)
    return got


def test_the_main_process_believes_the_peer_header_only_over_its_unix_socket():
    header = [(b"host", b"x"), (PEER_HEADER, b"192.0.2.1")]
    unix = asyncio.run(_seen({"type": "http", "server": ("/tmp/m.sock", None), "client": None, "headers": header}))
    assert unix["client"] == ("192.0.2.1", 0) and unix["headers"] == [(b"host", b"x")]
    tcp = asyncio.run(_seen({"type": "http", "server": ("127.0.0.1", 8080), "client": ("198.51.100.7", 5),
                             "headers": header}))
    assert tcp["client"] == ("198.51.100.7", 5) and tcp["headers"] == [(b"host", b"x")]


def parent_app() -> Starlette:
    async def echo(request: Request):
        return JSONResponse({"client": request.client.host if request.client else None,
                             "body": (await request.body()).decode(), "query": request.url.query,
                             "path": request.url.path})

    async def stream(request: Request):
        async def chunks():
            for word in ("one ", "two ", "three"):
                yield word
                await asyncio.sleep(0.01)
        return StreamingResponse(chunks(), media_type="text/plain")

    return Starlette(routes=[Route("/login", echo, methods=["GET", "POST"]), Route("/stream", stream)])


def local_app() -> Starlette:
    async def slots(request: Request):
        return PlainTextResponse("local")
    return Starlette(routes=[Route("/api/v1/slots", slots)])


async def _through_an_extra_process(tmp_path) -> list[httpx.Response]:
    path = str(tmp_path / "main.sock")
    inner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    inner.bind(path)
    server = uvicorn.Server(uvicorn.Config(PeerFromChild(parent_app()), log_config=None, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[inner]))
    proxy = ToParent(local_app(), path)
    try:
        transport = httpx.ASGITransport(app=proxy, client=("192.0.2.44", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://madoguchi") as client:
            return [await client.get("/api/v1/slots"),
                    await client.post("/login?next=%2Flive", content=b"user=a", headers={"X-Madoguchi-Peer": "1.2.3.4"}),
                    await client.get("/stream"), await client.get("/nowhere")]
    finally:
        await proxy.client.aclose()
        server.should_exit = True
        await serving
        inner.close()


def test_an_extra_process_answers_its_paths_and_forwards_the_rest(tmp_path):
    local, login, stream, missing = asyncio.run(_through_an_extra_process(tmp_path))
    assert local.text == "local"
    assert login.json() == {"client": "192.0.2.44", "body": "user=a", "query": "next=%2Flive", "path": "/login"}
    assert stream.text == "one two three"
    assert missing.status_code == 404


async def _main_process_gone(tmp_path) -> httpx.Response:
    proxy = ToParent(local_app(), str(tmp_path / "nobody.sock"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=proxy), base_url="http://madoguchi") as client:
        answer = await client.get("/login")
    await proxy.client.aclose()
    return answer


def test_an_extra_process_without_its_main_process_answers_502(tmp_path):
    assert asyncio.run(_main_process_gone(tmp_path)).status_code == 502
