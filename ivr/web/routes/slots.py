"""Slots: the availability grid, releasing a batch (preview first), closing a slot."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from ivr.http import clock, transactions
from ivr.web.deps import csrf_form, render, require
from ivr.web.display import build_grids, format_day, format_local, phone_reserve_text
from ivr.web.forms import BatchForm, FormError, day_bounds, parse_batch, parse_day
from slots import store as slot_store
from slots.batches import BatchSpec, preview_batch
from slots.errors import InvalidBatch, NotFound

logger = logging.getLogger(__name__)
router = APIRouter()
GRID_DAYS = 7
PREVIEW_ROWS = 60


def _grid_data(session, service, site, start, end, now):
    services = slot_store.list_services(session)
    slots = slot_store.list_slots(session, service, start, end, site=site or None, now=now) if service else []
    return services, slot_store.list_sites(session, service), slots


def _page(request: Request, query: dict, *, form: dict | None = None, errors: dict | None = None,
          flash: str = "", flash_kind: str = "ok", status_code: int = 200):
    settings = request.app.state.web.settings
    now = clock.now(request)
    today = now.astimezone(settings.tz).date()
    try:
        first = parse_day(query.get("from")) if query.get("from") else today
    except FormError:
        first, flash, flash_kind = today, "表示開始日が正しくないため、今日から表示しています。", "bad"
    service, site = (query.get("service") or "").strip(), (query.get("site") or "").strip()
    start = day_bounds(first, settings.tz)[0]
    services, sites, slots = transactions.of(request).run(_grid_data, service, site, start,
                                                          start + timedelta(days=GRID_DAYS), now)
    if not service and services:
        return RedirectResponse("/slots?" + urlencode({"service": services[0], "from": first.isoformat()}), 303)
    defaults = {"service": service, "site": site, "date_from": (today + timedelta(days=1)).isoformat(),
                "date_to": (today + timedelta(days=7)).isoformat(), "times": "09:00-12:00, 13:00-17:00",
                "every_minutes": "30", "capacity": "4", "opens_at": "", "phone_reserved_percent": "0",
                "phone_reserved_hours": "24"}
    context = {
        "page": "slots", "service": service, "site": site, "first": first, "services": services, "sites": sites,
        "grids": build_grids(slots, settings.tz, [first + timedelta(days=i) for i in range(GRID_DAYS)]), "format_day": format_day,
        "prev": (first - timedelta(days=GRID_DAYS)).isoformat(), "next": (first + timedelta(days=GRID_DAYS)).isoformat(),
        "form": form or defaults, "errors": errors or {}, "flash": flash, "flash_kind": flash_kind,
    }
    return render(request, "slots.html", context, status_code)


@router.get("/slots")
def slots_page(request: Request, session=Depends(require("staff"))):
    query = dict(request.query_params)
    flash = ""
    if "released" in query:
        flash = f"予約枠を{query['released']}件作成しました（既存のため作成しなかった枠: {query.get('skipped', '0')}件）。"
    elif "closed" in query:
        flash = "予約枠の受付を停止しました。既存の予約はそのまま有効です。"
    return _page(request, query, flash=flash)


def _spec(request: Request, form: dict) -> tuple[BatchForm, BatchSpec]:
    settings = request.app.state.web.settings
    today = clock.now(request).astimezone(settings.tz).date()
    parsed = parse_batch(form, settings.tz, today=today)
    try:
        spec = BatchSpec(parsed.service, parsed.site, parsed.date_from, parsed.date_to, parsed.times,
                         parsed.every_minutes, parsed.capacity, parsed.opens_at, settings.timezone,
                         phone_reserved_percent=parsed.phone_reserved_percent,
                         phone_reserved_hours=parsed.phone_reserved_hours)
    except InvalidBatch as error:
        message = "受付時間の帯が重なっています。" if "overlap" in str(error) else "作成する枠が多すぎるか、入力に誤りがあります。"
        raise FormError({"times": message}) from error
    return parsed, spec


@router.post("/slots/preview")
def preview(request: Request, form: dict = Depends(csrf_form), session=Depends(require("staff"))):
    try:
        parsed, spec = _spec(request, form)
    except FormError as error:
        return _page(request, form, form=form, errors=error.errors, status_code=422)
    spans = preview_batch(spec)
    tz = request.app.state.web.settings.tz
    if not spans:
        return _page(request, form, form=form, status_code=422,
                     errors={"every_minutes": "この条件では枠が1件も作成されません。受付時間と間隔を見直してください。"})
    days = sorted({s.astimezone(tz).date() for s, _ in spans})
    rows = [(format_day(s.astimezone(tz).date()), format_local(s, tz, "%H:%M"), format_local(e, tz, "%H:%M"))
            for s, e in spans[:PREVIEW_ROWS]]
    context = {"page": "slots", "form": form, "parsed": parsed, "count": len(spans), "days": len(days),
               "rows": rows, "more": max(len(spans) - PREVIEW_ROWS, 0),
               "opens_at": format_local(parsed.opens_at, tz) if parsed.opens_at else "すぐに受付開始",
               "phone_reserve": phone_reserve_text(spec)}
    return render(request, "slots_preview.html", context)


@router.post("/slots/release")
def release(request: Request, form: dict = Depends(csrf_form), session=Depends(require("staff"))):
    try:
        parsed, spec = _spec(request, form)
    except FormError as error:
        return _page(request, form, form=form, errors=error.errors, status_code=422)
    actor = f"web:{session.display_name}"[:64]
    result = transactions.of(request).run(slot_store.release_batch, spec, actor=actor,
                                          now=clock.now(request))
    logger.info("batch %s released from the web: %d created, %d skipped", result.batch_id, result.created, result.skipped)
    query = {"service": parsed.service, "site": parsed.site, "from": parsed.date_from.isoformat(),
             "released": result.created, "skipped": result.skipped}
    return RedirectResponse("/slots?" + urlencode(query), status_code=303)


@router.post("/slots/close")
def close(request: Request, form: dict = Depends(csrf_form), session=Depends(require("staff"))):
    back = {k: form.get(k, "") for k in ("service", "site", "from")}
    slot_id = form.get("slot_id", "")
    if not slot_id.isdigit():
        return _page(request, back, flash="受付を停止する枠が指定されていません。", flash_kind="bad", status_code=422)
    try:
        transactions.of(request).run(slot_store.close_slot, int(slot_id),
                                     actor=f"web:{session.display_name}"[:64], now=clock.now(request))
    except NotFound:
        return _page(request, back, flash="その予約枠は見つかりません。", flash_kind="bad", status_code=404)
    return RedirectResponse("/slots?" + urlencode({**back, "closed": 1}), status_code=303)
