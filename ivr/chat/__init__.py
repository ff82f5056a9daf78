"""The chat channel at /chat/: the phone's dialog script, run by the same engine and normalizers,
with the same holds and bookings (channel `chat`), as text with buttons for the choices.

`install(app, settings)` mounts the page on the app that the app factory (`ivr.app`) builds. The
script (`MADOGUCHI_DIALOG_SCRIPT`) is loaded at the first chat, once per process; chats live in
this process's memory (behind several workers, a client must keep to one of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dialogs.script import load_script
from ivr.chat.room import ChatRooms, store_runner
from ivr.chat.routes import PREFIX, ChatRefused, refused_page, router
from ivr.config import Settings
from ivr.http.clients import RateLimit

STATIC = Path(__file__).parent / "static"
IDLE_SECONDS = 20 * 60
MAX_ROOMS = 2000
REQUESTS_PER_MINUTE = 60


@dataclass
class ChatSite:
    rooms: ChatRooms
    limit: RateLimit
    proxies: tuple
    secure_cookies: bool


def install(app: FastAPI, settings: Settings, *, requests_per_minute: int = REQUESTS_PER_MINUTE) -> ChatSite:
    state = app.state

    def now() -> datetime:
        return state.clock()

    script = cache(lambda: load_script(settings.dialog_script))
    rooms = ChatRooms(script, store_runner(lambda: state.sessionmaker, settings, now),
                      today=lambda: now().astimezone(settings.tz).date(), now=now,
                      idle_seconds=IDLE_SECONDS, max_rooms=MAX_ROOMS)
    site = ChatSite(rooms, RateLimit(requests_per_minute, timedelta(minutes=1)), settings.proxy_networks(),
                    settings.production)
    state.chat = site
    app.include_router(router, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="chat-static")
    app.add_exception_handler(ChatRefused, refused_page)
    return site
