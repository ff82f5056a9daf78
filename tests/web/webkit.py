"""Helpers shared by the web tests: the queue view's shape, screenshots, the municipality's today."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from ivr.config import Settings
from ivr.operator_queues import QueueView
from ivr.web.users import UserFile, make_user
from telephony.ami.protocol import AmiMessage

PASSWORD = "correct-horse-battery"
TOKENS = {"staff": "staff-token-0123456789abcdef", "operator": "operator-token-0123456789abcdef",
          "admin": "admin-token-0123456789abcdef", "channel": "channel-token-0123456789abcdef"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class FakeAmi:
    """The AMI client as the dashboard sees it: its real live queue view, fed with AMI events by the test."""

    queues: QueueView = field(default_factory=QueueView)
    connected: bool = True


def web_settings(url: str) -> Settings:
    tokens = ",".join(f"{role}:{token}" for role, token in TOKENS.items())
    return Settings(db=url, api_tokens=tokens, person_key="test-person-key", session_secret="test-session-secret")


def make_users(path: Path) -> UserFile:
    users = UserFile(path)
    for role in ("operator", "staff", "admin"):
        users.add(make_user(f"{role}1", role, PASSWORD))
    return users


def ami_event(**headers: str) -> AmiMessage:
    return AmiMessage(tuple((name, value) for name, value in headers.items()))


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def today_in(settings: Settings) -> date:
    return datetime.now(settings.tz).date()
