"""Store errors and database outages as HTTP answers.

A store error keeps FastAPI's `{"detail": ...}` shape, with the machine-readable reason both in
`detail` and at the top level: `{"detail": {"reason", "message", "alternatives"?}, "reason",
"alternatives"?}`. A database that does not answer is a 503 with reason `db_unavailable`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ivr.api.deps import RateLimited
from ivr.api.schemas import SlotOut
from ivr.http.transactions import DatabaseUnavailable, is_outage
from ivr.opening import opening_notice
from slots.errors import (
    IdentityMismatch,
    InvalidBatch,
    InvalidInput,
    NotFound,
    SlotFull,
    StoreError,
    TooManyHolds,
)

logger = logging.getLogger(__name__)

STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    InvalidBatch: status.HTTP_422_UNPROCESSABLE_CONTENT,
    InvalidInput: status.HTTP_422_UNPROCESSABLE_CONTENT,
    IdentityMismatch: status.HTTP_403_FORBIDDEN,
    TooManyHolds: status.HTTP_429_TOO_MANY_REQUESTS,
}
RETRY_AFTER_SECONDS = 5


def store_error_body(error: StoreError, request: Request) -> dict:
    detail: dict = {"reason": error.reason, "message": str(error)}
    if isinstance(error, SlotFull):
        zone = request.app.state.settings.tz
        detail["alternatives"] = [SlotOut.of(v, zone).model_dump(mode="json") for v in error.alternatives]
    opens_at = getattr(error, "opens_at", None)
    if opens_at is not None:
        detail["opens_at"] = opens_at.astimezone(request.app.state.settings.tz).isoformat()
        detail["notice"] = opening_notice(opens_at, request.app.state.settings.tz)
    current = getattr(error, "current", None)  # callback_changed: the status someone else gave it
    if current is not None:
        detail["current"] = current
    return {"detail": detail, **{k: v for k, v in detail.items() if k != "message"}}


async def on_store_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StoreError)
    code = next((c for cls, c in STATUS.items() if isinstance(error, cls)), status.HTTP_409_CONFLICT)
    return JSONResponse(store_error_body(error, request), status_code=code)


async def on_db_error(request: Request, error: Exception) -> JSONResponse:
    """A database that does not answer (a `DatabaseUnavailable`, or an outage raised outside
    `Transactions.run`): 503 `db_unavailable`. Any other database error is not ours to answer."""
    if not isinstance(error, DatabaseUnavailable) and not is_outage(error):
        raise error
    cause = error.__cause__ if isinstance(error, DatabaseUnavailable) and error.__cause__ else error
    logger.warning("%s %s: database unavailable (%s)", request.method, request.url.path, type(cause).__name__)
    return JSONResponse(
        {"detail": "the database is not available; try again shortly", "reason": "db_unavailable"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def on_out_of_range(request: Request, error: Exception) -> JSONResponse:
    """A value the calendar or a column cannot hold (a year 1 date in UTC, an id past 32 bits on
    PostgreSQL, a NUL byte in text): the input is invalid, not the server. The value is not echoed."""
    logger.info("%s %s: input out of range (%s)", request.method, request.url.path, type(error).__name__)
    return JSONResponse({"detail": "a value in the request is out of range"},
                        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def on_invalid_request(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, without echoing the input (it may hold a ticket number or birth date)."""
    assert isinstance(error, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in error.errors()]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def on_rate_limited(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RateLimited)
    logger.info("%s %s: rate limit for a client address", request.method, request.url.path)
    detail = {"reason": "rate_limited", "message": f"too many requests from this address; retry after {error.retry_after} s"}
    return JSONResponse({"detail": detail, "reason": "rate_limited"}, status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                        headers={"Retry-After": str(error.retry_after)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RateLimited, on_rate_limited)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StoreError, on_store_error)
    app.add_exception_handler(DBAPIError, on_db_error)
    app.add_exception_handler(DataError, on_out_of_range)
    app.add_exception_handler(OverflowError, on_out_of_range)
    app.add_exception_handler(PoolTimeout, on_db_error)
