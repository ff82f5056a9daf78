"""The operator queue from AMI's live queue view, with the IVR's handover summary per caller.

With several `ivr serve` nodes on one PostgreSQL, the queues of the Asterisk servers that other
nodes see and this one does not follow this node's own (`ivr.nodes.all_queues`), each headed with
its Asterisk; a caller's hand-over is looked up among the nodes on that caller's Asterisk.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from ivr.http import clock, transactions
from ivr.http.transactions import DatabaseUnavailable
from ivr.nodes import all_queues
from ivr.privacy import mask_phone
from ivr.web.deps import WebContext, render, require, state, web
from ivr.web.display import format_seconds
from slots import store as slot_store

router = APIRouter()


def queue_rows(request: Request, ctx: WebContext) -> tuple[list[dict], bool]:
    ami = state(request, "ami")
    connected = bool(ami is not None and getattr(ami, "connected", False))
    snapshot = ami.queues.snapshot() if ami is not None else {}
    now = clock.now(request)
    sources = all_queues(snapshot, state(request, "nodes"), time.monotonic())
    several = len({source.asterisk for source in sources}) > 1
    queues = []
    for source in sources:
        q = source.state
        callers = []
        for c in sorted(q.callers, key=lambda c: c.position):
            handover = ctx.handovers.for_channel(c.channel, now, source.nodes)
            callers.append({
                "position": c.position,
                "caller": mask_phone(c.caller) or "（非通知）",
                "wait": format_seconds(c.wait_seconds),
                "summary": handover.summary if handover else "",
            })
        logged_in, available = q.logged_in, q.available
        in_call = getattr(q, "in_call", None)
        queues.append({
            "name": source.name,
            "asterisk": source.asterisk if several else "",
            "waiting": len(callers),
            "longest": format_seconds(q.longest_wait) if callers else "—",
            "logged_in": logged_in,
            "available": available,
            "in_call": in_call if in_call is not None else max(logged_in - available, 0),
            "callers": callers,
        })
    return queues, connected


def open_callbacks(request: Request) -> int | None:
    """Call-back requests nobody has taken yet; None when the store does not answer (the queue,
    from AMI, still shows)."""
    try:
        return transactions.of(request).run(slot_store.count_callbacks).open
    except DatabaseUnavailable:
        return None


@router.get("/queue")
def queue_page(request: Request, partial: int = 0, session=Depends(require("operator")), ctx: WebContext = Depends(web)):
    queues, connected = queue_rows(request, ctx)
    context = {"page": "queue", "queues": queues, "connected": connected,
               "recent": ctx.handovers.recent(clock.now(request))[:10], "open_callbacks": open_callbacks(request)}
    return render(request, "queue_table.html" if partial else "queue.html", context)
