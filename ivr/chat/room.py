"""One resident's chat: the phone's dialog (the same script, engine and store calls) run as text.

A room runs `ivr.call.dialog.DialogRun` in a task of its own: the engine's prompts become the
line's messages, the resident's messages its answers (typed digits count as keys, the rest as
speech), and store calls go through `ivr.store_calls` with channel `chat`, off the event loop. A
request waits until the dialog asks the next question or ends. `ChatRooms` owns every room's task:
a room idle for too long, or closed, gives its held place back and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dialogs.engine import Engine
from dialogs.messages import Digits, Hangup, Listen, OperatorStatus, Say, Silence, StoreCall, StoreResult, Transfer, Utterance
from dialogs.script import Script
from ivr.call.dialog import DialogRun, DialogSide
from ivr.chat.buttons import Button, buttons
from ivr.store_calls import execute

logger = logging.getLogger(__name__)

CHANNEL = "chat"
MAX_MESSAGES = 200
MAX_TEXT = 200
TURN_SECONDS = 30.0


@dataclass(frozen=True)
class Message:
    who: str  # "line" | "resident" | "code" | "end"
    text: str


def parse_text(text: str) -> Utterance | Digits | Silence:
    """What the resident typed: digits alone are keys (as on the phone's keypad), the rest speech."""
    text = unicodedata.normalize("NFKC", text).strip()[:MAX_TEXT]
    if not text:
        return Silence()
    compact = text.replace(" ", "").replace("-", "")
    if compact.isascii() and compact.isdigit():
        return Digits(compact)
    return Utterance((text,))


class ChatRoom(DialogSide):
    def __init__(self, room_id: str, engine: Engine, run_store: Callable[[StoreCall, str], StoreResult],
                 now: Callable[[], datetime]) -> None:
        self.id, self.csrf = room_id, secrets.token_urlsafe(24)
        self.dialog = DialogRun(engine)
        self.messages: list[Message] = []
        self.waiting: Listen | None = None
        self.ended = False
        self.last_seen = now()
        self._run_store, self._now = run_store, now
        self._answers: asyncio.Queue[str | None] = asyncio.Queue()
        self._turn = asyncio.Event()
        self.task: asyncio.Task | None = None

    # the dialog's side -------------------------------------------------------------
    async def say(self, say: Say, coming: Sequence) -> None:
        self._post("line", say.text)
        code = self.dialog.engine.values.get("code")
        if say.kind == "code" and code:
            self._post("code", str(code))

    async def listen(self, listen: Listen) -> Utterance | Digits | Silence | None:
        self.waiting = listen
        self._turn.set()
        text = await self._answers.get()
        self.waiting = None
        if text is None:
            return None
        self._post("resident", text)
        return parse_text(text)

    async def store(self, call: StoreCall) -> StoreResult:
        return await asyncio.to_thread(self._run_store, call, self.id)

    async def operators(self) -> OperatorStatus:
        return OperatorStatus(False)  # nobody answers a chat: the dialog offers what it offers a caller then

    # the page's side ---------------------------------------------------------------
    @property
    def buttons(self) -> list[Button]:
        engine = self.dialog.engine
        return buttons(engine.script.steps.get(engine.step), engine.values) if self.waiting else []

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"chat-{self.id[:8]}")

    async def turn(self, text: str | None = None) -> None:
        """Send `text` (None: just wait) and wait until the dialog asks again or ends."""
        self.last_seen = self._now()
        if text is not None and self.waiting is not None:
            self._turn.clear()
            await self._answers.put(text[:MAX_TEXT])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._turn.wait(), TURN_SECONDS)

    async def close(self) -> None:
        """Leave: the dialog stops and any place it holds is given back."""
        if self.task is not None and not self.task.done():
            await self._answers.put(None)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.task), TURN_SECONDS)
        if (held := self.dialog.give_back()) is not None:
            await self.store(held[1])

    async def _run(self) -> None:
        try:
            ending = await self.dialog.run(self)
            if isinstance(ending, Transfer):
                self._post("end", "この チャットでは ここまでです。電話で お問い合わせください。")
            elif isinstance(ending, Hangup):
                self._post("end", "おわりました。ありがとうございました。")
        except Exception:  # noqa: BLE001 - one chat's failure must not end the others
            logger.exception("chat %s: the dialog failed", self.id[:8])
            self._post("end", "もうしわけありません。うまく 動きませんでした。もう一度 はじめから ためしてください。")
        finally:
            self.ended = True
            self.waiting = None
            self._turn.set()

    def _post(self, who: str, text: str) -> None:
        self.messages.append(Message(who, text))
        del self.messages[:-MAX_MESSAGES]


class ChatRooms:
    """Every chat of this process, by room id; idle rooms are closed as new requests come."""

    def __init__(self, script_loader: Callable[[], Script], run_store: Callable[[StoreCall, str], StoreResult],
                 *, today: Callable[[], object], now: Callable[[], datetime], idle_seconds: int, max_rooms: int) -> None:
        self._load, self._run_store, self._today, self._now = script_loader, run_store, today, now
        self.idle_seconds, self.max_rooms = idle_seconds, max_rooms
        self._rooms: dict[str, ChatRoom] = {}

    def get(self, room_id: str | None) -> ChatRoom | None:
        return self._rooms.get(room_id or "")

    async def open(self) -> ChatRoom | None:
        """A new room with its dialog started; None when too many chats are open."""
        await self.sweep()
        if len(self._rooms) >= self.max_rooms:
            return None
        room = ChatRoom(secrets.token_urlsafe(24), Engine(self._load(), today=self._today()), self._run_store, self._now)
        self._rooms[room.id] = room
        room.start()
        return room

    async def close(self, room_id: str) -> None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            await room.close()

    async def sweep(self) -> None:
        now = self._now()
        stale = [r.id for r in self._rooms.values() if (now - r.last_seen).total_seconds() > self.idle_seconds]
        for room_id in stale:
            await self.close(room_id)

    async def close_all(self) -> None:
        for room_id in list(self._rooms):
            await self.close(room_id)


def store_runner(factory, settings, now: Callable[[], datetime]) -> Callable[[StoreCall, str], StoreResult]:
    def run(call: StoreCall, room_id: str) -> StoreResult:
        return execute(factory(), call, settings=settings, call_id=f"chat-{room_id[:12]}", channel=CHANNEL, now=now())
    return run
