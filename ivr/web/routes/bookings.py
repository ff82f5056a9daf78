"""Bookings: search by code (sent in a form body, never in the URL) or by day; cancel, move, CSV.

Operators see codes and identities masked; staff see what the store keeps (the store itself holds
only a masked ticket number and hashes, never the clear values).
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ivr.http import clock, transactions
from ivr.privacy import mask_code, mask_person
from ivr.web.deps import csrf_form, render, require
from ivr.web.display import csv_rows, format_local
from ivr.web.forms import FormError, day_bounds, parse_code, parse_day
from slots import store as slot_store
from slots.errors import NotFound, SlotClosed, SlotFull, StoreError

logger = logging.getLogger(__name__)
router = APIRouter()
MOVE_CHOICES = 12


def _row(booking, tz, *, full: bool) -> dict:
    return {
        "code": booking.code if full else mask_code(booking.code),
        "ref": booking.code if full else "",
        "status": booking.status,
        "service": booking.service,
        "site": booking.site,
        "start": format_local(booking.start, tz),
        "end": format_local(booking.end, tz, "%H:%M"),
        "channel": booking.channel,
        "created": format_local(booking.created_at, tz),
        "person": booking.person_masked if full else mask_person(booking.person_masked),
    }


def _page(request, session, *, results=(), detail=None, choices=(), errors=None, flash="", flash_kind="ok",
          day="", service="", status_code=200):
    full = session.allows("staff")
    tz = request.app.state.web.settings.tz
    services = transactions.of(request).run(slot_store.list_services)
    context = {
        "page": "bookings", "full": full, "results": [_row(b, tz, full=full) for b in results],
        "detail": _row(detail, tz, full=full) if detail else None, "choices": choices,
        "errors": errors or {}, "flash": flash, "flash_kind": flash_kind, "day": day, "service": service,
        "services": services,
    }
    return render(request, "bookings.html", context, status_code)


def _move_choices(session, booking, now, tz):
    slots = slot_store.nearest_available(session, booking.service, booking.start, limit=MOVE_CHOICES,
                                         now=now, exclude=booking.slot_id)
    return [(s.id, f"{format_local(s.start, tz, '%m/%d %H:%M')} {s.site}（空き{s.available}）")
            for s in sorted(slots, key=lambda s: s.start)]


def _lookup(session, code, now, tz, with_choices: bool):
    booking = slot_store.get_booking(session, code)
    choices = _move_choices(session, booking, now, tz) if booking and with_choices and booking.status == "confirmed" else []
    return booking, choices


def _show(request, session, code, *, flash="", flash_kind="ok", status_code=200):
    tz = request.app.state.web.settings.tz
    booking, choices = transactions.of(request).run(_lookup, code, clock.now(request), tz, session.allows("staff"))
    if booking is None:
        return _page(request, session, errors={"code": "その予約番号の予約は見つかりません。"}, status_code=404)
    return _page(request, session, detail=booking, choices=choices, flash=flash, flash_kind=flash_kind,
                 status_code=status_code)


def _posted_code(request, session, form):
    """The booking code from a form, or the page that says what is wrong with it."""
    try:
        return parse_code(form.get("code")), None
    except FormError as error:
        return None, _page(request, session, errors=error.errors, status_code=422)


@router.get("/bookings")
def bookings_page(request: Request, date: str = "", service: str = "", session=Depends(require("operator"))):
    if not date:
        return _page(request, session, service=service)
    try:
        day = parse_day(date)
    except FormError as error:
        return _page(request, session, errors=error.errors, day=date, service=service, status_code=422)
    start, end = day_bounds(day, request.app.state.web.settings.tz)
    results = transactions.of(request).run(slot_store.list_bookings, service=service or None,
                                         day_start=start, day_end=end)
    return _page(request, session, results=results, day=date, service=service)


@router.post("/bookings/search")
def search(request: Request, form: dict = Depends(csrf_form), session=Depends(require("operator"))):
    code, refused = _posted_code(request, session, form)
    if refused is not None:
        return refused
    return _show(request, session, code)


@router.post("/bookings/cancel")
def cancel(request: Request, form: dict = Depends(csrf_form), session=Depends(require("staff"))):
    code, refused = _posted_code(request, session, form)
    if refused is not None:
        return refused
    try:
        transactions.of(request).run(slot_store.cancel, code, channel="web", now=clock.now(request))
    except NotFound:
        return _page(request, session, errors={"code": "その予約番号の予約は見つかりません。"}, status_code=404)
    logger.info("booking cancelled from the web")
    return _show(request, session, code, flash="予約を取り消しました。枠の空きに戻しました。")


@router.post("/bookings/move")
def move(request: Request, form: dict = Depends(csrf_form), session=Depends(require("staff"))):
    code, refused = _posted_code(request, session, form)
    if refused is not None:
        return refused
    slot_id = form.get("slot_id", "")
    if not slot_id.isdigit():
        return _show(request, session, code, flash="変更先の枠を選んでください。", flash_kind="bad", status_code=422)
    try:
        transactions.of(request).run(slot_store.reschedule, code, int(slot_id), channel="web", now=clock.now(request))
    except SlotFull:
        return _show(request, session, code, flash="変更先の枠は満員になりました。別の枠を選んでください。",
                     flash_kind="bad", status_code=409)
    except (NotFound, SlotClosed):
        return _show(request, session, code, flash="変更先の枠は受付できません。別の枠を選んでください。",
                     flash_kind="bad", status_code=409)
    except StoreError:
        return _show(request, session, code, flash="この予約は変更できません。", flash_kind="bad", status_code=409)
    logger.info("booking moved from the web")
    return _show(request, session, code, flash="予約を変更しました。")


@router.get("/bookings/export.csv")
def export(request: Request, date: str = "", days: int = 1, service: str = "", session=Depends(require("staff"))):
    try:
        day = parse_day(date)
    except FormError as error:
        return _page(request, session, errors=error.errors, day=date, service=service, status_code=422)
    tz = request.app.state.web.settings.tz
    start, end = day_bounds(day, tz, days=max(1, min(days, 31)))
    bookings = transactions.of(request).run(slot_store.list_bookings, service=service or None,
                                          day_start=start, day_end=end)
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(bookings, tz, full=True))
    filename = f"bookings-{day.isoformat()}.csv"
    logger.info("bookings exported from the web: %d rows", len(bookings))
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
