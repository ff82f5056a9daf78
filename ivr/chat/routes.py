"""/chat/: the resident types (or taps a button), the line answers in text. The page is a plain
form (post, then redirect back), so it works without JavaScript; every POST checks the room's CSRF
token and every request the client's rate limit."""

from __future__ import annotations

import hmac
import logging
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ivr.chat.room import ChatRoom, ChatRooms
from ivr.http import clock
from ivr.http.clients import client_of

logger = logging.getLogger(__name__)

PREFIX = "/chat"
COOKIE = "madoguchi_chat"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def rooms(request: Request) -> ChatRooms:
    return request.app.state.chat.rooms


def limited(request: Request) -> None:
    chat = request.app.state.chat
    wait = chat.limit.take(client_of(request, chat.proxies), clock.now(request))
    if wait:
        raise ChatRefused(429, f"アクセスが 多すぎます。{wait}秒ほど 待ってから、もう一度 ためしてください。", wait)


class ChatRefused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


router = APIRouter(prefix=PREFIX, dependencies=[Depends(limited)])


def _page(request: Request, room: ChatRoom, status_code: int = 200) -> Response:
    context = {"room": room, "messages": room.messages, "buttons": room.buttons, "prefix": PREFIX}
    response = TEMPLATES.TemplateResponse(request, "chat.html", context, status_code=status_code)
    response.set_cookie(COOKIE, room.id, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.app.state.chat.secure_cookies)
    return response


async def _room(request: Request) -> ChatRoom:
    room = rooms(request).get(request.cookies.get(COOKIE))
    if room is None:
        room = await rooms(request).open()
        if room is None:
            raise ChatRefused(503, "いま チャットが こんでいます。しばらく してから ためすか、電話で 予約してください。", 30)
    return room


@router.get("/")
async def chat_page(request: Request):
    room = await _room(request)
    await room.turn()
    return _page(request, room)


async def _checked(request: Request, room: ChatRoom) -> dict[str, str]:
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, room.csrf):
        raise ChatRefused(403, "画面を ひらいてから 時間が たちました。はじめから もう一度 ためしてください。")
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/")
async def send(request: Request):
    room = rooms(request).get(request.cookies.get(COOKIE))
    if room is None:
        return RedirectResponse(f"{PREFIX}/", status_code=303)
    form = await _checked(request, room)
    text = form.get("text", "").strip()
    if text and not room.ended:
        await room.turn(text)
    return RedirectResponse(f"{PREFIX}/", status_code=303)


@router.post("/new")
async def start_over(request: Request):
    room = rooms(request).get(request.cookies.get(COOKIE))
    if room is not None:
        await _checked(request, room)
        await rooms(request).close(room.id)
    response = RedirectResponse(f"{PREFIX}/", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


async def refused_page(request: Request, error: ChatRefused):
    response = TEMPLATES.TemplateResponse(request, "refused.html", {"message": error.message, "prefix": PREFIX},
                                          status_code=error.status)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response
