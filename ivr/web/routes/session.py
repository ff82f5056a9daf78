"""Logging in and out: username and password, or a role token; the login form has its own CSRF cookie."""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from ivr.http.clients import client_of
from ivr.web.auth import COOKIE, AuthError
from ivr.web.deps import WebContext, current_session, now_utc, render, web

logger = logging.getLogger(__name__)
router = APIRouter()
LOGIN_COOKIE = "madoguchi_login"


def login_page(request: Request, ctx: WebContext, *, error: str = "", status_code: int = 200):
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": error}, status_code)
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=1800, httponly=True, samesite="strict", secure=ctx.secure_cookies
    )
    return response


@router.get("/login")
def get_login(request: Request, ctx: WebContext = Depends(web)):
    return login_page(request, ctx)


@router.post("/login")
async def post_login(request: Request, ctx: WebContext = Depends(web)):
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    submitted = str(form.get("login_csrf", ""))
    if not expected or not hmac.compare_digest(expected, submitted):
        return login_page(request, ctx, error="画面の有効期限が切れました。もう一度ログインしてください。", status_code=403)
    token = str(form.get("token", "")).strip()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    # Failures count against the client's address and, for a password, against the account too.
    keys = [f"addr:{client_of(request, ctx.proxies)}"]
    if username and not token:
        keys.append(f"user:{username.casefold()}")
    wait = max(ctx.throttle.retry_after(key, now=now_utc()) for key in keys)
    if wait:
        logger.warning("web login refused for %d s: too many failures for this account or address", wait)
        response = login_page(request, ctx, status_code=429, error=f"ログインの失敗が続いたため、しばらく受け付けません。"
                              f"{math.ceil(wait / 60)}分ほど待ってからお試しください。")
        response.headers["Retry-After"] = str(wait)
        return response
    if token:
        who = ctx.auth.login_token(token)
    elif username and password:
        # scrypt takes tens of milliseconds: never on the event loop, which also paces call audio
        who = await asyncio.to_thread(ctx.auth.login_password, username, password)
    else:
        return login_page(request, ctx, error="ユーザー名とパスワード、またはトークンを入力してください。", status_code=422)
    if who is None:
        for key in keys:
            ctx.throttle.failed(key, now=now_utc())
        logger.info("web login failed")
        return login_page(request, ctx, error="ログインできませんでした。入力内容をご確認ください。", status_code=401)
    for key in keys[1:]:  # the account's failures; the address's age out (a valid login must not reset them)
        ctx.throttle.succeeded(key)
    cookie, session = ctx.codec.issue(*who, now=now_utc())
    logger.info("web login with role %s", session.role)
    response = RedirectResponse("/live" if session.role != "admin" else "/admin", status_code=303)
    response.set_cookie(
        COOKIE, cookie, max_age=ctx.codec.max_age, httponly=True, samesite="strict", secure=ctx.secure_cookies
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, ctx: WebContext = Depends(web)):
    try:
        session = current_session(request, ctx)
    except AuthError:
        session = None
    form = await request.form()
    if session is not None and not hmac.compare_digest(session.csrf, str(form.get("csrf", ""))):
        raise AuthError(403, "ログアウトできませんでした。ページを読み込み直してください。")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
def home(session=Depends(current_session)):
    return RedirectResponse("/live" if session.allows("operator") else "/login", status_code=303)
