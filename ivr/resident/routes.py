"""The resident's pages under /yoyaku/: identify, choose a day and a time (held at once), confirm,
and see, change or cancel the booking. Server-rendered forms; every POST checks the visit's CSRF
token and every request the client's rate limit. Nothing here logs a ticket number, a birth date or
a booking code."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request

from ivr import opening
from ivr.http import clock, transactions
from ivr.resident import calendar
from ivr.resident.forms import FormErrors, parse_identity
from ivr.resident.site import (
    TOO_MANY_ACTIONS,
    ResidentError,
    check_rate,
    checked_form,
    redirect,
    render,
    site,
    visit_of,
)
from ivr.resident.visit import Visit
from slots import store
from slots.errors import AlreadyBooked, HoldExpired, NotFound, NotOpenYet, SlotClosed, SlotFull, StoreError
from slots.person import Person

logger = logging.getLogger(__name__)
CHANNEL = calendar.CHANNEL


def limited(request: Request) -> None:
    check_rate(request, site(request).requests)


router = APIRouter(prefix="/yoyaku", dependencies=[Depends(limited)])


def _now(request: Request) -> datetime:
    return clock.now(request)


def _today(request: Request) -> date:
    return _now(request).astimezone(site(request).settings.tz).date()


def _run(request: Request, fn, *args, **kw):
    return transactions.of(request).run(fn, *args, **kw)


def _identified(visit: Visit) -> Person:
    if visit.person is None:
        raise ResidentError(401, "はじめに 本人確認を してください",
                            "接種券の 番号と 生年月日を 入れてから、予約の 画面に すすんでください。")
    return visit.person


def _release(request: Request, visit: Visit) -> Visit:
    if visit.hold_id is not None:
        _run(request, store.release_hold, visit.hold_id, now=_now(request), actor=CHANNEL)
    return visit.without_hold()


def _when(request: Request, moment: datetime) -> dict:
    tz = site(request).settings.tz
    return {"day": calendar.day_label(moment.astimezone(tz).date()), "time": calendar.time_label(moment, tz),
            "year": moment.astimezone(tz).year}


def _booking(request: Request, person: Person):
    return _run(request, store.find_active_booking, person, site(request).options.service)


@router.get("/")
def start(request: Request):
    visit = visit_of(request)
    return render(request, visit, "start.html", {"form": {}, "errors": {}})


@router.post("/")
async def identify(request: Request):
    check_rate(request, site(request).actions, TOO_MANY_ACTIONS)
    visit = visit_of(request)
    form = await checked_form(request, visit)
    check_rate(request, site(request).identify)
    try:
        identity = parse_identity(form, today=_today(request))
    except FormErrors as error:
        shown = {k: v for k, v in form.items() if k in ("year", "month", "day")}
        return render(request, visit, "start.html", {"form": shown, "errors": error.errors}, 422)
    person = Person.from_ticket(site(request).settings.person_key_bytes(), identity.ticket, identity.birthdate)
    _release(request, visit)
    fresh = site(request).codec.new(_now(request))
    fresh = Visit(fresh.csrf, fresh.expires, person=person)
    return redirect(request, fresh, "/booking" if _booking(request, person) else "/calendar")


@router.get("/calendar")
def choose_day(request: Request, month: str | None = None):
    visit = visit_of(request)
    person = _identified(visit)
    ctx = site(request)
    if visit.changing is None and _booking(request, person) is not None:
        return redirect(request, visit, "/booking")
    today = _today(request)
    first = calendar.month_start(month, today, ctx.options.months_ahead)
    start = datetime.combine(first, time(), ctx.settings.tz)
    end = datetime.combine(calendar.next_month(first), time(), ctx.settings.tz)
    now = _now(request)
    slots = _run(request, store.list_slots, ctx.options.service, start, end, available_only=True, now=now,
                 channel=CHANNEL)
    places = calendar.open_places_by_day(slots, ctx.settings.tz, now)
    later = _run(request, store.not_open_yet, ctx.options.service, start, end, now=now)
    tz = ctx.settings.tz
    by_day = {day: opening.opening_notice(at, tz) for day, at in opening.openings_by_day(later, tz, now).items()}
    context = {
        "month": calendar.month(first, places, today, by_day),
        "prev": calendar.previous_month(first) if first > today.replace(day=1) else None,
        "next": calendar.next_month(first) if first < calendar.last_month(today, ctx.options.months_ahead) else None,
        "any_open": any(places.values()),
        "openings": [opening.opening_notice(at, tz) for at in opening.openings(later, now)],
    }
    return render(request, visit, "calendar.html", context)


@router.get("/day/{day}")
def choose_time(request: Request, day: str, full: int = 0):
    visit = visit_of(request)
    _identified(visit)
    ctx = site(request)
    today = _today(request)
    last = calendar.next_month(calendar.last_month(today, ctx.options.months_ahead))
    try:
        chosen = date.fromisoformat(day)
    except ValueError:
        chosen = None
    if chosen is None or not today <= chosen < last:
        raise ResidentError(404, "その 日は えらべません", "カレンダーから 日を えらんでください。")
    start = datetime.combine(chosen, time(), ctx.settings.tz)
    now = _now(request)
    slots = _run(request, store.list_slots, ctx.options.service, start, start + timedelta(days=1),
                 available_only=True, now=now, channel=CHANNEL)
    later = _run(request, store.not_open_yet, ctx.options.service, start, start + timedelta(days=1), now=now)
    context = {"day": chosen, "day_label": calendar.day_label(chosen), "month": f"{chosen:%Y-%m}",
               "times": calendar.times(slots, ctx.settings.tz, now), "full": bool(full),
               "openings": [opening.opening_notice(at, ctx.settings.tz) for at in opening.openings(later, now)]}
    return render(request, visit, "day.html", context)


def _hold(session, slot_id: int, *, service: str, ttl: int, now: datetime, request_key: str):
    slot = store.get_slot(session, slot_id, now=now)
    if slot.service != service:
        raise NotFound("another service's slot")
    held = store.hold(session, slot_id, ttl_seconds=ttl, channel=CHANNEL, now=now, request_key=request_key)
    return held, slot


@router.post("/hold")
async def hold(request: Request):
    check_rate(request, site(request).actions, TOO_MANY_ACTIONS)
    visit = visit_of(request)
    form = await checked_form(request, visit)
    _identified(visit)
    ctx = site(request)
    slot_id = form.get("slot_id", "")
    if not slot_id.isdigit() or len(slot_id) > 12:
        return redirect(request, visit, "/calendar")
    visit = _release(request, visit)
    now = _now(request)
    try:
        held, slot = _run(request, _hold, int(slot_id), service=ctx.options.service, ttl=ctx.options.hold_ttl_seconds,
                          now=now, request_key=uuid.uuid4().hex)
    except (SlotFull, NotOpenYet, SlotClosed, NotFound) as refused:
        back = form.get("day", "")
        full = "" if isinstance(refused, NotOpenYet) else "?full=1"  # the day's page says when it opens
        return redirect(request, visit, f"/day/{back}{full}" if _is_day(back) else "/calendar")
    logger.info("resident site: hold %d on slot %d", held.id, held.slot_id)
    return redirect(request, visit.with_hold(held.id, held.slot_id, held.expires_at), "/confirm")


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return len(text) == 10
    except ValueError:
        return False


def _expired(request: Request, visit: Visit):
    visit = _release(request, visit)
    return render(request, visit, "expired.html", {}, 409)


@router.get("/confirm")
def review(request: Request):
    visit = visit_of(request)
    _identified(visit)
    if visit.hold_id is None:
        return redirect(request, visit, "/calendar")
    now = _now(request)
    if visit.hold_expires <= now:
        return _expired(request, visit)
    slot = _run(request, store.get_slot, visit.slot_id, now=now)
    changing = None
    if visit.changing is not None:
        old = _booking(request, visit.person)
        changing = None if old is None else {**_when(request, old.start), "site": old.site}
    context = {"slot": slot, "when": _when(request, slot.start), "changing": changing,
               "expires": visit.hold_expires, "seconds_left": int((visit.hold_expires - now).total_seconds()),
               "until": calendar.clock_label(visit.hold_expires, site(request).settings.tz)}
    return render(request, visit, "confirm.html", context)


@router.post("/confirm")
async def confirm(request: Request):
    check_rate(request, site(request).actions, TOO_MANY_ACTIONS)
    visit = visit_of(request)
    await checked_form(request, visit)
    person = _identified(visit)
    if visit.hold_id is None:
        return redirect(request, visit, "/calendar")
    now = _now(request)
    if visit.hold_expires <= now:
        return _expired(request, visit)
    metrics = request.app.state.metrics
    try:
        if visit.changing is not None:
            _run(request, store.reschedule, visit.changing, visit.slot_id, channel=CHANNEL, now=now,
                 hold_id=visit.hold_id, person=person)
            done = "changed"
        else:
            booking = _run(request, store.confirm, visit.hold_id, person, channel=CHANNEL, now=now,
                           request_key=uuid.uuid4().hex)
            metrics.booking_made(booking.service, CHANNEL)
            done = "booked"
    except AlreadyBooked:
        return redirect(request, _release(request, visit), "/booking?already=1")
    except (HoldExpired, SlotFull):
        return _expired(request, visit)
    except StoreError as error:  # the booking to change is gone (cancelled elsewhere)
        logger.info("resident site: confirm refused (%s)", error.reason)
        visit = _release(request, visit)
        return redirect(request, Visit(visit.csrf, visit.expires, person=person), "/booking")
    logger.info("resident site: %s on slot %d", done, visit.slot_id)
    return redirect(request, Visit(visit.csrf, visit.expires, person=person), f"/booking?done={done}")


@router.post("/release")
async def release(request: Request):
    visit = visit_of(request)
    await checked_form(request, visit)
    return redirect(request, _release(request, visit), "/calendar")


@router.get("/booking")
def booking(request: Request, done: str = "", already: int = 0, cancelled: int = 0):
    visit = visit_of(request)
    person = _identified(visit)
    found = _booking(request, person)
    context = {"booking": found, "done": done if done in ("booked", "changed") else "", "already": bool(already),
               "cancelled": bool(cancelled), "when": None if found is None else _when(request, found.start)}
    return render(request, visit, "booking.html", context)


@router.post("/change")
async def change(request: Request):
    visit = visit_of(request)
    await checked_form(request, visit)
    found = _booking(request, _identified(visit))
    if found is None:
        return redirect(request, visit, "/booking")
    return redirect(request, Visit(visit.csrf, visit.expires, person=visit.person, changing=found.code), "/calendar")


@router.get("/cancel")
def cancel_page(request: Request):
    visit = visit_of(request)
    found = _booking(request, _identified(visit))
    if found is None:
        return redirect(request, visit, "/booking")
    return render(request, visit, "cancel.html", {"booking": found, "when": _when(request, found.start)})


@router.post("/cancel")
async def cancel(request: Request):
    visit = visit_of(request)
    await checked_form(request, visit)
    person = _identified(visit)
    found = _booking(request, person)
    if found is not None:
        _run(request, store.cancel, found.code, channel=CHANNEL, now=_now(request), person=person)
        request.app.state.metrics.booking_cancelled(CHANNEL)
        logger.info("resident site: booking on slot %d cancelled", found.slot_id)
    return redirect(request, _release(request, visit), "/booking?cancelled=1")


@router.post("/logout")
async def logout(request: Request):
    visit = visit_of(request)
    await checked_form(request, visit)
    _release(request, visit)
    return redirect(request, None, "/")
