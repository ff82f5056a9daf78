"""The operator queue from AMI's live queue view, with the IVR's handover summary per caller."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ivr.api.schemas import mask_phone
from ivr.web import store
from ivr.web.deps import WebContext, render, require, state, web
from ivr.web.display import format_seconds

router = APIRouter()


def queue_rows(request: Request, ctx: WebContext) -> tuple[list[dict], bool]:
    ami = state(request, "ami")
    connected = bool(ami is not None and getattr(ami, "connected", False))
    snapshot = ami.queues.snapshot() if ami is not None else {}
    now = store.now(request)
    queues = []
    for name in sorted(snapshot):
        q = snapshot[name]
        callers = []
        for c in sorted(q.callers, key=lambda c: c.position):
            handover = ctx.handovers.for_channel(c.channel, now)
            callers.append({
                "position": c.position,
                "caller": mask_phone(c.caller) or "（非通知）",
                "wait": format_seconds(c.wait_seconds),
                "summary": handover.summary if handover else "",
            })
        logged_in, available = q.logged_in, q.available
        in_call = getattr(q, "in_call", None)
        queues.append({
            "name": name,
            "waiting": len(callers),
            "longest": format_seconds(q.longest_wait) if callers else "—",
            "logged_in": logged_in,
            "available": available,
            "in_call": in_call if in_call is not None else max(logged_in - available, 0),
            "callers": callers,
        })
    return queues, connected


@router.get("/queue")
def queue_page(request: Request, partial: int = 0, session=Depends(require("operator")), ctx: WebContext = Depends(web)):
    queues, connected = queue_rows(request, ctx)
    context = {"page": "queue", "queues": queues, "connected": connected,
               "recent": ctx.handovers.recent(store.now(request))[:10]}
    return render(request, "queue_table.html" if partial else "queue.html", context)
