"""Calls in progress: the page, and a Server-Sent Events stream fed by the event bus.

With several `ivr serve` nodes on one PostgreSQL, the bus also carries the other nodes' events, so
the page shows every node's calls; a サーバー column names each call's node once any call is not
this node's own (the page's `data-node`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from ivr.http import clock
from ivr.web.deps import WebContext, render, require, state, web
from ivr.web.display import format_seconds

logger = logging.getLogger(__name__)
router = APIRouter()

COALESCE_SECONDS = 0.1  # events arriving together become one update
# A stream ends after `WebContext.stream_seconds` and the browser reconnects at once (and gets a
# fresh snapshot), so an open page never holds up a server shutdown for longer than that.
RETRY_MS = 300


def call_rows(request: Request) -> list[dict]:
    live = state(request, "live")
    now = clock.now(request)
    rows = []
    for call in live.snapshot(now) if live is not None else []:
        elapsed = call.elapsed_seconds(now)
        rows.append({
            "id": call.call_id,
            "node": call.node,
            "caller": call.caller,
            "elapsed": round(elapsed, 1),
            "elapsed_text": format_seconds(elapsed),
            "step": call.step,
            "utterance": call.last_utterance,
            "confidence": None if call.confidence is None else round(call.confidence, 2),
            "hold": call.hold_placed,
            "failures": call.failures,
            "transferred": call.transferred,
            "help": call.needs_help,
        })
    return rows


def this_node(request: Request) -> str:
    nodes = state(request, "nodes")
    return nodes.name if nodes is not None else ""


@router.get("/live")
def live_page(request: Request, session=Depends(require("operator"))):
    calls, node = call_rows(request), this_node(request)
    return render(request, "live.html", {"page": "live", "calls": calls, "node": node,
                                         "several_nodes": any(c["node"] != node for c in calls)})


@router.get("/live/stream")
async def live_stream(request: Request, session=Depends(require("operator")), ctx: WebContext = Depends(web)):
    bus = state(request, "bus")

    async def events() -> AsyncIterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        yield _message(call_rows(request))
        if bus is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ctx.stream_seconds
        async with bus.subscribe() as queue:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    return
                # let the live projection apply the same events first, then send one update
                await asyncio.sleep(COALESCE_SECONDS)
                while not queue.empty():
                    queue.get_nowait()
                yield _message(call_rows(request))

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _message(rows: list[dict]) -> str:
    return "event: calls\ndata: " + json.dumps(rows, ensure_ascii=False) + "\n\n"
