"""Runs a dialog engine's `StoreCall` against the slot store and returns a `StoreResult`.

One module for every caller of the engine: real calls (`ivr.session`) and `ivr dialogs simulate`.
The engine speaks in local dates and times (`YYYY-MM-DD`, `HH:MM` in `Settings.tz`); the store
works in aware UTC. Store errors become values (`ok=False`, `reason`), never exceptions, and no
ticket number, birth date or phone number is ever logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from dialogs.messages import StoreCall, StoreResult
from ivr.config import Settings
from slots import store
from slots.db import run_in_transaction
from slots.errors import InvalidInput, SlotFull, StoreError
from slots.person import Person
from slots.views import BookingView, SlotView

log = logging.getLogger(__name__)


class DialogStore:
    """`execute(call, call_id=..., channel=...)` with a clock; shared by all calls of a process."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.factory, self.settings, self.clock = factory, settings, clock

    def execute(self, call: StoreCall, *, call_id: str, channel: str) -> StoreResult:
        return execute(self.factory, call, settings=self.settings, call_id=call_id, channel=channel, now=self.clock())


def execute(factory: sessionmaker[Session], call: StoreCall, *, settings: Settings, call_id: str, channel: str,
            now: datetime) -> StoreResult:
    op = _OPS.get(call.op)
    if op is None:
        return StoreResult(call.op, False, {}, "unknown_op")
    try:
        # One request key per attempt, made outside the transaction: a retry after a COMMIT that
        # succeeded (a dropped connection) gets the first hold or booking back instead of a second.
        context = _Context(settings, call_id, channel, now, request_key=uuid.uuid4().hex)
        value = run_in_transaction(factory, op, call.args, context)
    except SlotFull as error:
        alternatives = [_slot(s, settings) for s in error.alternatives if s.start > now]
        return StoreResult(call.op, False, {"alternatives": alternatives}, error.reason)
    except StoreError as error:
        log.info("call %s: %s refused: %s", call_id, call.op, error.reason)
        return StoreResult(call.op, False, {}, error.reason)
    except (KeyError, ValueError, TypeError) as error:
        log.warning("call %s: %s had bad arguments (%s)", call_id, call.op, type(error).__name__)
        return StoreResult(call.op, False, {}, "bad_arguments")
    except SQLAlchemyError as error:  # the dialog apologises and hands over; the call goes on
        log.error("call %s: %s failed, database unavailable (%s)", call_id, call.op, type(error).__name__)
        return StoreResult(call.op, False, {}, "db_unavailable")
    if value is None:
        return StoreResult(call.op, False, {}, "not_found")
    return StoreResult(call.op, True, value, None)


class _Context:
    def __init__(self, settings: Settings, call_id: str, channel: str, now: datetime, *, request_key: str):
        self.settings, self.call_id, self.channel, self.now = settings, call_id, channel, now
        self.request_key = request_key

    def person(self, args: dict[str, Any]) -> Person:
        if not args.get("ticket") or not args.get("birthdate"):
            raise InvalidInput("a ticket number and a birth date are needed")
        return Person.from_ticket(self.settings.person_key_bytes(), str(args["ticket"]),
                                  date.fromisoformat(str(args["birthdate"])))


def _slot(view: SlotView, settings: Settings) -> dict[str, Any]:
    local = view.start.astimezone(settings.tz)
    return {"id": view.id, "date": local.date().isoformat(), "time": f"{local:%H:%M}", "site": view.site,
            "available": view.available}


def _booking(view: BookingView, settings: Settings) -> dict[str, Any]:
    local = view.start.astimezone(settings.tz)
    return {"code": view.code, "status": view.status, "service": view.service, "site": view.site,
            "slot_id": view.slot_id, "date": local.date().isoformat(), "time": f"{local:%H:%M}"}


def _find_available(session: Session, args: dict, ctx: _Context) -> dict:
    tz = ctx.settings.tz
    day = date.fromisoformat(args["date"])
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = start + timedelta(days=1)
    found = store.find_available(session, args["service"], start, end, site=args.get("site"), now=ctx.now)
    slots = [_slot(s, ctx.settings) for s in found if s.start > ctx.now]
    alternatives: list[dict] = []
    if not slots:
        wanted = max(datetime.combine(day, time(12), tz).astimezone(UTC), ctx.now)
        nearest = store.nearest_available(session, args["service"], wanted, limit=ctx.settings.alternatives + 3,
                                          site=args.get("site"), now=ctx.now)
        alternatives = [_slot(s, ctx.settings) for s in nearest if s.start > ctx.now][: ctx.settings.alternatives]
        later = store.not_open_yet(session, args["service"], start, end, site=args.get("site"), now=ctx.now)
        if later:  # the day's places open later: when, in local time, as the caller will hear it
            opens = min(s.opens_at for s in later if s.opens_at is not None).astimezone(tz)
            return {"slots": [], "alternatives": alternatives, "opens": f"{opens:%Y-%m-%dT%H:%M}"}
    return {"slots": slots, "alternatives": alternatives}


def _hold(session: Session, args: dict, ctx: _Context) -> dict:
    held = store.hold(session, int(args["slot_id"]), ttl_seconds=ctx.settings.hold_ttl_seconds,
                      channel=ctx.channel, call_id=ctx.call_id, now=ctx.now, alternatives=ctx.settings.alternatives,
                      request_key=ctx.request_key)
    return {"hold_id": held.id, "slot_id": held.slot_id, "expires_at": held.expires_at.isoformat()}


def _release_hold(session: Session, args: dict, ctx: _Context) -> dict:
    store.release_hold(session, int(args["hold_id"]), now=ctx.now)
    return {}


def _confirm(session: Session, args: dict, ctx: _Context) -> dict:
    booking = store.confirm(session, int(args["hold_id"]), ctx.person(args), channel=ctx.channel, now=ctx.now,
                            request_key=ctx.request_key)
    return _booking(booking, ctx.settings)


def _lookup(session: Session, args: dict, ctx: _Context) -> dict | None:
    # The store's lookup matches ticket and birth date: a wrong birth date reads as "not found".
    booking = store.find_active_booking(session, ctx.person(args), args["service"])
    return None if booking is None else _booking(booking, ctx.settings)


def _cancel(session: Session, args: dict, ctx: _Context) -> dict:
    booking = store.cancel(session, str(args["code"]), channel=ctx.channel, now=ctx.now, person=ctx.person(args))
    return _booking(booking, ctx.settings)


def _reschedule(session: Session, args: dict, ctx: _Context) -> dict:
    hold_id = args.get("hold_id")
    booking = store.reschedule(session, str(args["code"]), int(args["slot_id"]), channel=ctx.channel, now=ctx.now,
                               hold_id=None if hold_id is None else int(hold_id),
                               person=ctx.person(args) if args.get("ticket") else None)
    return _booking(booking, ctx.settings)


def _request_callback(session: Session, args: dict, ctx: _Context) -> dict:
    """A bad or missing number is `invalid_phone` (the store's InvalidPhone); only its last four digits go back."""
    view = store.request_callback(session, phone=args.get("phone"), service=args["service"], reason=args["reason"],
                                  call_id=ctx.call_id, now=ctx.now, tz=ctx.settings.tz)
    return {"id": view.id, "phone_tail": view.phone[-4:]}


_OPS: dict[str, Callable[[Session, dict, _Context], dict | None]] = {
    "find_available": _find_available, "hold": _hold, "release_hold": _release_hold, "confirm": _confirm,
    "lookup": _lookup, "cancel": _cancel, "reschedule": _reschedule, "request_callback": _request_callback,
}
