"""The store and clock as the pages use them: one transaction per call, the API's clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import HTTPException, Request

from ivr.web.deps import now_utc, state
from slots.db import run_in_transaction


def now(request: Request) -> datetime:
    clock = state(request, "clock")
    return clock() if clock is not None else now_utc()


def run(request: Request, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    factory = state(request, "sessionmaker")
    if factory is None:
        raise HTTPException(503, "データベースの準備ができていません。しばらくしてから再度お試しください。")
    return run_in_transaction(factory, fn, *args, **kw)
