"""`/callbacks`: the call-back requests callers left when no operator could answer; mark them.

Staff see every number in full. An operator sees only its last four digits until the entry is
`called` (someone is calling back), then in full, so that the list itself gives away no numbers
(`ivr.privacy.shows_callback_phone`, the dashboard's rule too). A body with `expected` changes the
entry only if it still has that status: 409 `callback_changed` tells a second operator that someone
else took it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ivr.api.deps import NowDep, SettingsDep, StaffOrOperator, StoreDep
from ivr.api.schemas import CallbackOut, CallbackStatusIn, Items, Problem
from ivr.privacy import shows_callback_phone
from slots import store
from slots.views import CallbackStatus, CallbackView

router = APIRouter(prefix="/callbacks", tags=["callbacks"])
MAX_LIMIT = 500


def shows_phone(role: str, view: CallbackView) -> bool:
    return shows_callback_phone(role, view.status.value)


@router.get("", response_model=Items[CallbackOut], response_model_exclude_none=True,
            summary="List call-back requests")
def list_callbacks(
    role: StaffOrOperator, settings: SettingsDep, db: StoreDep,
    status: Annotated[CallbackStatus | None, Query(description="open, called or done")] = None,
    date: Annotated[date | None, Query(description="the day the requests were made (local)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Items[CallbackOut]:
    """Oldest first: the order to call back in."""
    day_start = day_end = None
    if date is not None:
        day_start = datetime.combine(date, time(), settings.tz)
        day_end = day_start + timedelta(days=1)
    views = db.run(store.list_callbacks, status=status, day_start=day_start, day_end=day_end,
                   limit=limit, offset=offset)
    return Items[CallbackOut](items=[CallbackOut.of(v, settings.tz, show_phone=shows_phone(role, v)) for v in views])


@router.post("/{callback_id}", response_model=CallbackOut, response_model_exclude_none=True,
             summary="Mark a call-back request", responses={404: {"model": Problem, "description": "not_found"},
                                                             409: {"model": Problem,
                                                                   "description": "callback_already_open, "
                                                                                  "callback_changed"}})
def mark(callback_id: int, body: CallbackStatusIn, role: StaffOrOperator, settings: SettingsDep, db: StoreDep,
         now: NowDep) -> CallbackOut:
    """`called` when someone starts calling back, `done` when it is dealt with, `open` to put it back."""
    view = db.run(store.set_callback_status, callback_id, body.status, actor=f"api:{role}", now=now,
                  expected=body.expected)
    return CallbackOut.of(view, settings.tz, show_phone=shows_phone(role, view))
