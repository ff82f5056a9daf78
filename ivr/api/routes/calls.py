"""`/calls` and `/queues`: the calls in progress (live projection) and the operator queues (AMI).

With several `ivr serve` nodes on one PostgreSQL, both list every node's: the live projection holds
the other nodes' calls (their events, shared through the database), and `app.state.nodes` the
queues of the Asterisk servers that other nodes see and this one does not (`ivr.nodes.all_queues`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ivr.api.deps import LiveDep, NowDep, StaffOrOperator
from ivr.api.schemas import CallOut, Items, QueueCallerOut, QueueOut, local, mask_phone
from ivr.live import LiveCall
from ivr.nodes import all_queues

router = APIRouter(tags=["calls"])


def call_out(call: LiveCall, now, zone) -> CallOut:
    return CallOut(
        id=call.call_id, started=local(call.started, zone), elapsed_seconds=round(call.elapsed_seconds(now), 1),
        caller=call.caller, channel=call.channel, step=call.step, last_utterance=call.last_utterance,
        confidence=call.confidence, hold_placed=call.hold_placed, slot_id=call.slot_id,
        failures=call.failures, transferred=call.transferred, needs_help=call.needs_help, node=call.node,
    )


def _caller(entry) -> QueueCallerOut:
    """One waiting caller: telephony's `QueueCaller`, or a (position, caller, channel, wait) tuple."""
    if not hasattr(entry, "position"):
        position, caller, channel, wait = entry
    else:
        position, caller, channel, wait = entry.position, entry.caller, entry.channel, entry.wait_seconds
    return QueueCallerOut(position=int(position), caller=mask_phone(str(caller)), channel=str(channel),
                          wait_seconds=round(float(wait), 1))


def queue_out(name: str, state, asterisk: str = "") -> QueueOut:
    callers = [_caller(entry) for entry in state.callers]
    return QueueOut(name=name, callers=callers, logged_in=int(state.logged_in),
                    available=int(state.available), longest_wait=float(state.longest_wait), asterisk=asterisk)


@router.get("/calls", response_model=Items[CallOut], summary="Calls in progress")
def calls(role: StaffOrOperator, live: LiveDep, now: NowDep, request: Request) -> Items[CallOut]:
    zone = request.app.state.settings.tz
    return Items[CallOut](items=[call_out(c, now, zone) for c in live.snapshot(now)])


@router.get("/queues", response_model=Items[QueueOut], summary="Operator queues (from Asterisk)")
def queues(role: StaffOrOperator, request: Request) -> Items[QueueOut]:
    """This node's AMI view (empty while no AMI client is configured), then the queues of every other
    Asterisk that another node on the same database reports; `asterisk` tells them apart."""
    ami = request.app.state.ami
    snapshot = ami.queues.snapshot() if ami is not None else {}
    queues = all_queues(snapshot, getattr(request.app.state, "nodes", None), time.monotonic())
    return Items[QueueOut](items=[queue_out(q.name, q.state, q.asterisk) for q in queues])
