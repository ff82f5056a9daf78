"""Call-back requests: callers who could not reach an operator left a number; call them back.

Open requests first, oldest first (the order to call back in), then those someone is calling. Who
sees a number in full is the API's rule (`ivr.privacy.shows_callback_phone`): staff always, an
operator once the entry is `called`, which is what 「折り返す」 does, so the operator who takes an
entry sees the number to dial. Each mark carries the status the page showed: a second operator
pressing 「折り返す」 on an entry someone already took is told so instead of calling the resident
twice. Numbers are never logged; the store audits each mark with the number masked.
"""

from __future__ import annotations

import logging
from datetime import tzinfo

from fastapi import APIRouter, Depends, Request

from ivr.http import clock, transactions
from ivr.privacy import shows_callback_phone
from ivr.web.auth import WebSession
from ivr.web.deps import csrf_form, render, require
from ivr.web.display import format_local
from ivr.web.forms import FormError, day_bounds, parse_day
from slots import store as slot_store
from slots.errors import CallbackAlreadyOpen, CallbackChanged, InvalidInput, NotFound
from slots.views import CallbackStatus, CallbackView

logger = logging.getLogger(__name__)
router = APIRouter()

STATUS_LABELS = {"open": "未対応", "called": "折り返し中", "done": "完了"}
REASON_LABELS = {
    "no_operator": "オペレーター不在", "outside_hours": "受付時間外", "busy": "回線混雑",
    "asked": "オペレーター希望", "not_understood": "音声を認識できず", "silence": "応答なし", "error": "システム障害",
}
MARKED = {"open": "未対応に戻しました。", "called": "折り返し中にしました。表示された番号に電話してください。",
          "done": "完了にしました。"}
SHOWS = ("active", "done")
ROWS_PER_STATUS = 500


def _row(view: CallbackView, tz: tzinfo, role: str) -> dict:
    full = shows_callback_phone(role, view.status.value)
    return {
        "id": view.id, "status": view.status.value, "status_label": STATUS_LABELS[view.status.value],
        "created": format_local(view.created_at, tz, "%m/%d %H:%M"), "service": view.service,
        "reason": REASON_LABELS.get(view.reason, view.reason), "phone": view.phone if full else view.phone_masked,
        "full": full, "updated": format_local(view.updated_at, tz, "%H:%M") if view.updated_at else "",
    }


def _listing(session, show: str, day_start, day_end):
    if show == "done":
        views = slot_store.list_callbacks(session, status=CallbackStatus.DONE, day_start=day_start,
                                          day_end=day_end, limit=ROWS_PER_STATUS)
    else:
        views = [v for status in (CallbackStatus.OPEN, CallbackStatus.CALLED)
                 for v in slot_store.list_callbacks(session, status=status, limit=ROWS_PER_STATUS)]
    return views, slot_store.count_callbacks(session)


def _page(request: Request, session: WebSession, *, show: str = "active", day: str = "", flash: str = "",
          flash_kind: str = "ok", errors: dict | None = None, status_code: int = 200):
    tz = request.app.state.web.settings.tz
    day = day or format_local(clock.now(request), tz, "%Y-%m-%d")
    start = end = None
    if show == "done" and not errors:
        start, end = day_bounds(parse_day(day), tz)
    views, counts = transactions.of(request).run(_listing, show, start, end)
    context = {
        "page": "callbacks", "show": show, "day": day, "flash": flash, "flash_kind": flash_kind,
        "errors": errors or {}, "rows": [] if errors else [_row(v, tz, session.role) for v in views],
        "open": counts.open, "called": counts.by_status.get(CallbackStatus.CALLED, 0),
        "full": session.allows("staff"), "labels": STATUS_LABELS,
    }
    return render(request, "callbacks.html", context, status_code)


@router.get("/callbacks")
def callbacks_page(request: Request, show: str = "active", date: str = "", session=Depends(require("operator"))):
    if show not in SHOWS:
        return _page(request, session, errors={"show": "表示する一覧を選んでください。"}, status_code=422)
    if show == "done" and date:
        try:
            parse_day(date)
        except FormError as error:
            return _page(request, session, show=show, day=date, errors=error.errors, status_code=422)
    return _page(request, session, show=show, day=date)


def _parse_mark(form: dict[str, str]) -> tuple[int, CallbackStatus, CallbackStatus] | None:
    """(id, new status, the status the page showed) from the form, or None."""
    callback_id = form.get("id", "")
    try:
        status, expected = CallbackStatus(form.get("status")), CallbackStatus(form.get("expected"))
    except ValueError:
        return None
    if not (callback_id.isascii() and callback_id.isdigit() and len(callback_id) <= 10):
        return None
    return int(callback_id), status, expected


@router.post("/callbacks/mark")
def mark(request: Request, form: dict = Depends(csrf_form), session=Depends(require("operator"))):
    parsed = _parse_mark(form)
    if parsed is None:
        return _page(request, session, flash="操作を正しく指定してください。", flash_kind="bad", status_code=422)
    callback_id, status, expected = parsed
    try:
        transactions.of(request).run(slot_store.set_callback_status, callback_id, status, expected=expected,
                                     actor=f"web:{session.display_name}"[:64], now=clock.now(request))
    except CallbackChanged as changed:
        message = f"ほかの担当者が先に「{STATUS_LABELS.get(changed.current, changed.current)}」にしました。一覧を確認してください。"
        return _page(request, session, flash=message, flash_kind="bad", status_code=409)
    except CallbackAlreadyOpen:
        message = "同じ電話番号・用件の未対応の依頼がほかにあるため、未対応に戻せません。"
        return _page(request, session, flash=message, flash_kind="bad", status_code=409)
    except (NotFound, InvalidInput):
        return _page(request, session, flash="その依頼は見つかりません。", flash_kind="bad", status_code=404)
    logger.info("call-back request %d marked %s from the web", callback_id, status.value)
    return _page(request, session, flash=MARKED[status.value])
