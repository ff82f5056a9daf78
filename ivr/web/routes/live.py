"""Calls in progress: the page, and a Server-Sent Events stream fed by the event bus."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from ivr.web.deps import WebContext, now_utc, render, require, state, web
from ivr.web.display import format_seconds

logger = logging.getLogger(__name__)
router = APIRouter()

COALESCE_SECONDS = 0.1  # events arriving together become one update
KEEPALIVE_SECONDS = 15.0
STREAM_MAX_SECONDS = 300.0  # the browser reconnects by itself; bounds shutdown waits


def call_rows(request: Request) -> list[dict]:
    live = state(request, "live")
    now = now_utc()
    rows = []
    for call in live.snapshot(now) if live is not None else []:
        elapsed = call.elapsed_seconds(now)
        rows.append({
            "id": call.call_id,
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


@router.get("/live")
def live_page(request: Request, session=Depends(require("operator"))):
    return render(request, "live.html", {"page": "live", "calls": call_rows(request)})


@router.get("/live/stream")
async def live_stream(request: Request, session=Depends(require("operator")), ctx: WebContext = Depends(web)):
    bus = state(request, "bus")

    async def events() -> AsyncIterator[str]:
        yield _message(call_rows(request))
        if bus is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_MAX_SECONDS
        async with bus.subscribe() as queue:
            while loop.time() < deadline:
                try:
                    await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                # let the live projection apply the same events first, then send one update
                await asyncio.sleep(COALESCE_SECONDS)
                while not queue.empty():
                    queue.get_nowait()
                yield _message(call_rows(request))

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _message(rows: list[dict]) -> str:
    return "event: calls\ndata: " + json.dumps(rows, ensure_ascii=False) + "\n\n"
