"""Administration: web users (add, remove) and an overview of the configured role tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ivr.web.deps import WebContext, csrf_form, render, require, web
from ivr.web.users import WEB_ROLES, UserError, make_user

router = APIRouter()


def _page(request: Request, ctx: WebContext, *, form=None, error="", flash="", status_code=200):
    users = sorted(ctx.auth.users.load().values(), key=lambda u: u.username)
    tokens = ctx.settings.tokens()
    counts: dict[str, int] = {}
    for role in tokens.values():
        counts[role] = counts.get(role, 0) + 1
    context = {"page": "admin", "users": users, "roles": WEB_ROLES, "token_counts": sorted(counts.items()),
               "form": form or {"role": "operator"}, "error": error, "flash": flash,
               "flash_kind": "bad" if error else "ok"}
    return render(request, "admin.html", context, status_code)


@router.get("/admin")
def admin_page(request: Request, session=Depends(require("admin")), ctx: WebContext = Depends(web)):
    return _page(request, ctx)


@router.post("/admin/users")
def add_user(request: Request, form: dict = Depends(csrf_form), session=Depends(require("admin")),
             ctx: WebContext = Depends(web)):
    try:
        if form.get("password", "") != form.get("password2", ""):
            raise UserError("確認用のパスワードが一致しません。")
        ctx.auth.users.add(make_user(form.get("username", "").strip(), form.get("role", ""), form.get("password", "")))
    except UserError as error:
        kept = {"username": form.get("username", ""), "role": form.get("role", "operator")}
        return _page(request, ctx, form=kept, error=str(error), status_code=422)
    return _page(request, ctx, flash="ユーザーを追加しました。")


@router.post("/admin/users/delete")
def delete_user(request: Request, form: dict = Depends(csrf_form), session=Depends(require("admin")),
                ctx: WebContext = Depends(web)):
    username = form.get("username", "")
    if session.subject == f"u:{username}":
        return _page(request, ctx, error="ログイン中の自分自身は削除できません。", status_code=422)
    try:
        ctx.auth.users.remove(username)
    except UserError as error:
        return _page(request, ctx, error=str(error), status_code=404)
    return _page(request, ctx, flash="ユーザーを削除しました。")
