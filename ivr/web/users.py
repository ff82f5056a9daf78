"""Web users: a small JSON file managed by admins from the dashboard.

Passwords are stored as scrypt hashes with a per-user salt; the file never holds a clear
password. Writes go through a temporary file and an atomic rename, so a crash never leaves a
half-written file. Roles: operator < staff < admin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

WEB_ROLES = ("operator", "staff", "admin")
ROLE_RANK = {"operator": 1, "staff": 2, "admin": 3}
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
MIN_PASSWORD = 10
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class UserError(ValueError):
    """Bad input for a user; the message is Japanese and shown as is on the page."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    salt: str
    password_hash: str


def hash_password(password: str, salt: str) -> str:
    return hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT).hex()


def make_user(username: str, role: str, password: str) -> User:
    if not USERNAME_RE.match(username):
        raise UserError("ユーザー名は半角英数字と _ . - の3〜32文字で入力してください。")
    if role not in WEB_ROLES:
        raise UserError("権限は operator・staff・admin のいずれかを選んでください。")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"パスワードは{MIN_PASSWORD}文字以上にしてください。")
    salt = secrets.token_hex(16)
    return User(username, role, salt, hash_password(password, salt))


def check_password(user: User, password: str) -> bool:
    return hmac.compare_digest(hash_password(password, user.salt), user.password_hash)


class UserFile:
    """The users file; every call re-reads it so several workers see the same users."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, User]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {item["username"]: User(**item) for item in raw.get("users", [])}

    def get(self, username: str) -> User | None:
        return self.load().get(username)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.get(username)
        if user is None:
            # Spend the same time as a real check so usernames cannot be probed by timing.
            hash_password(password, "00" * 16)
            return None
        return user if check_password(user, password) else None

    def add(self, user: User) -> None:
        with self._lock:
            users = self.load()
            if user.username in users:
                raise UserError("そのユーザー名はすでに使われています。")
            users[user.username] = user
            self._write(users)
        logger.info("web user added with role %s", user.role)

    def remove(self, username: str) -> None:
        with self._lock:
            users = self.load()
            if users.pop(username, None) is None:
                raise UserError("そのユーザーは見つかりません。")
            self._write(users)
        logger.info("web user removed")

    def _write(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"users": [vars(u) for u in sorted(users.values(), key=lambda u: u.username)]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
