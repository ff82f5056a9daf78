"""Call-back requests: a caller who cannot reach an operator (none logged in, outside staffed hours,
the line busy) leaves a number; staff and operators list the requests and mark them.

The number is kept in full (digits only) because someone has to dial it; views carry it beside a
masked form, and the audit log only ever sees the masked form. There is one open request per
phone, service and local day: asking again returns the open one, and a partial unique index keeps
it so when two calls ask at once.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, tzinfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slots.checks import check_name
from slots.errors import CallbackAlreadyOpen, CallbackChanged, InvalidInput, InvalidPhone, NotFound
from slots.models import CallbackRequest
from slots.rows import audit
from slots.timeutil import from_db, to_db
from slots.views import CallbackCounts, CallbackStatus, CallbackView

C = CallbackRequest.__table__
SEPARATORS = frozenset(" -\u30fc\u2010\u2212")  # after NFKC: spaces, hyphens, the long-vowel mark, minus
PHONE_LENGTHS = (10, 11)
MAX_LIST = 500
MAX_ID = 2**31 - 1  # the id column's range: a larger id is simply unknown (not a database error)
OPEN_INDEX = "uq_callback_requests_open"


def normalize_phone(phone: str) -> str:
    """A Japanese number as digits only: "090-1234-5678" -> "09012345678" (full-width digits too).

    10 or 11 digits starting with 0 (but not 00, the international prefix); else InvalidPhone.
    """
    text = unicodedata.normalize("NFKC", phone) if isinstance(phone, str) else ""
    digits = "".join(ch for ch in text if ch not in SEPARATORS)
    if not (digits.isascii() and digits.isdigit() and len(digits) in PHONE_LENGTHS and digits.startswith("0")
            and not digits.startswith("00")):
        raise InvalidPhone("a phone number is 10 or 11 digits starting with 0")
    return digits


def mask_phone(digits: str) -> str:
    """All but the last four digits hidden, as `ivr.privacy.mask_phone` does."""
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def callback_status(value: object) -> CallbackStatus:
    try:
        return CallbackStatus(value)
    except ValueError:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in CallbackStatus)}") from None


def _view(row) -> CallbackView:
    return CallbackView(
        id=row.id, phone=row.phone, phone_masked=mask_phone(row.phone), service=row.service, reason=row.reason,
        status=CallbackStatus(row.status), call_id=row.call_id, created_at=from_db(row.created_at),
        updated_at=from_db(row.updated_at), updated_by=row.updated_by,
    )


def _row(session: Session, callback_id: int, *, lock: bool = False):
    query = select(C).where(C.c.id == callback_id)
    return session.execute(query.with_for_update() if lock else query).first()


def _open_on(session: Session, phone: str, service: str, day: date):
    query = select(C).where(C.c.phone == phone, C.c.service == service, C.c.day == day, C.c.status == "open")
    return session.execute(query).first()


def _is_open_clash(error: IntegrityError) -> bool:
    text = str(error.orig)
    return OPEN_INDEX in text or "callback_requests.phone" in text


def request_callback(session: Session, *, phone: str, service: str, reason: str, call_id: str | None,
                     now: datetime, tz: tzinfo = UTC) -> CallbackView:
    """Record a request to be called back; the open one of the same phone and service that day
    (in `tz`, the municipality's zone) if there is one. InvalidPhone for a number that is not one."""
    digits = normalize_phone(phone)
    check_name(service, "service", 64)
    check_name(reason, "reason", 64)
    if call_id is not None:
        check_name(call_id, "call_id", 64)
    at = to_db(now, "now")
    day = now.astimezone(tz).date()
    existing = _open_on(session, digits, service, day)
    if existing is not None:
        return _view(existing)
    try:
        with session.begin_nested():  # a concurrent request that wins the index only undoes this insert
            new_id = session.execute(insert(C).values(
                phone=digits, service=service, reason=reason, status="open", call_id=call_id, day=day,
                created_at=at, updated_at=None, updated_by=None,
            ).returning(C.c.id)).scalar_one()
    except IntegrityError as error:
        existing = _open_on(session, digits, service, day) if _is_open_clash(error) else None
        if existing is None:
            raise
        return _view(existing)
    return _view(_row(session, new_id))


def list_callbacks(session: Session, *, status: CallbackStatus | str | None = None,
                   day_start: datetime | None = None, day_end: datetime | None = None,
                   limit: int = 100, offset: int = 0) -> list[CallbackView]:
    """Requests made in [day_start, day_end), oldest first (the order to call them back in)."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput("offset must not be negative")
    query = select(C)
    if status is not None:
        query = query.where(C.c.status == callback_status(status).value)
    if day_start is not None:
        query = query.where(C.c.created_at >= to_db(day_start, "day_start"))
    if day_end is not None:
        query = query.where(C.c.created_at < to_db(day_end, "day_end"))
    query = query.order_by(C.c.created_at, C.c.id).limit(limit).offset(offset)
    return [_view(row) for row in session.execute(query)]


def count_callbacks(session: Session) -> CallbackCounts:
    """How many requests stand in each status now."""
    query = select(C.c.status, func.count()).group_by(C.c.status)
    return CallbackCounts(by_status={CallbackStatus(status): count for status, count in session.execute(query)})


def set_callback_status(session: Session, callback_id: int, status: CallbackStatus | str, *, actor: str,
                        now: datetime, expected: CallbackStatus | str | None = None) -> CallbackView:
    """Mark a request `open`, `called` or `done` (audited, the number masked); the same status again
    changes nothing. Re-opening one while another is open for the same phone, service and day is
    CallbackAlreadyOpen. With `expected`, a request that is no longer in that status (someone else
    marked it first: two operators must not both call the same resident) is CallbackChanged."""
    new = callback_status(status)
    before = callback_status(expected) if expected is not None else None
    check_name(actor, "actor", 64)
    at = to_db(now, "now")
    if not isinstance(callback_id, int):
        raise InvalidInput("a call-back request id is an integer")
    row = _row(session, callback_id, lock=True) if 1 <= callback_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no call-back request {callback_id}")
    if before is not None and row.status != before.value:
        raise CallbackChanged(f"call-back request {callback_id} is {row.status}, not {before.value}",
                              current=row.status)
    if row.status == new.value:
        return _view(row)
    clash = CallbackAlreadyOpen("another call-back request of this phone and service is open that day")
    if new is CallbackStatus.OPEN and _open_on(session, row.phone, row.service, row.day) is not None:
        raise clash
    try:
        with session.begin_nested():
            session.execute(update(C).where(C.c.id == callback_id).values(
                status=new.value, updated_at=at, updated_by=actor))
    except IntegrityError as error:
        if _is_open_clash(error):
            raise clash from None
        raise
    audit(session, at, actor, "callback_status", detail={
        "callback_id": callback_id, "phone": mask_phone(row.phone), "from": row.status, "to": new.value,
    })
    return _view(_row(session, callback_id))
