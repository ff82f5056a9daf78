"""The app's clock (`app.state.clock`, set by the app factory): tests replace it."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request


def now(request: Request) -> datetime:
    """The current time (aware)."""
    return request.app.state.clock()
