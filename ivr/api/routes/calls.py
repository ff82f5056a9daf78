"""`/calls` and `/queues`: the calls in progress (live projection) and the operator queues (AMI)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ivr.api.deps import LiveDep, NowDep, StaffOrOperator
from ivr.api.schemas import CallOut, Items, QueueCallerOut, QueueOut, local, mask_phone
from ivr.live import LiveCall

router = APIRouter(tags=["calls"])


def call_out(call: LiveCall, now, zone) -> CallOut:
    return CallOut(
        id=call.call_id, started=local(call.started, zone), elapsed_seconds=round(call.elapsed_seconds(now), 1),
        caller=call.caller, channel=call.channel, step=call.step, last_utterance=call.last_utterance,
        confidence=call.confidence, hold_placed=call.hold_placed, slot_id=call.slot_id,
        failures=call.failures, transferred=call.transferred, needs_help=call.needs_help,
    )


def _caller(entry) -> QueueCallerOut:
    """One waiting caller: telephony's `QueueCaller`, or a (position, caller, channel, wait) tuple."""
    if not hasattr(entry, "position"):
        position, caller, channel, wait = entry
    else:
        position, caller, channel, wait = entry.position, entry.caller, entry.channel, entry.wait_seconds
    return QueueCallerOut(position=int(position), caller=mask_phone(str(caller)), channel=str(channel),
                          wait_seconds=round(float(wait), 1))


def queue_out(name: str, state) -> QueueOut:
    callers = [_caller(entry) for entry in state.callers]
    return QueueOut(name=name, callers=callers, logged_in=int(state.logged_in),
                    available=int(state.available), longest_wait=float(state.longest_wait))


@router.get("/calls", response_model=Items[CallOut], summary="Calls in progress")
def calls(role: StaffOrOperator, live: LiveDep, now: NowDep, request: Request) -> Items[CallOut]:
    zone = request.app.state.settings.tz
    return Items[CallOut](items=[call_out(c, now, zone) for c in live.snapshot(now)])


@router.get("/queues", response_model=Items[QueueOut], summary="Operator queues (from Asterisk)")
def queues(role: StaffOrOperator, request: Request) -> Items[QueueOut]:
    """Empty while no AMI client is configured."""
    ami = request.app.state.ami
    snapshot = ami.queues.snapshot() if ami is not None else {}
    return Items[QueueOut](items=[queue_out(name, state) for name, state in sorted(snapshot.items())])
