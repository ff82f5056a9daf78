"""The line in front of the IVR: its Japanese prompts, and what its dialplan reports over AMI.

Admission happens in Asterisk (telephony/asterisk/extensions.conf, queue `madoguchi-line`): at most
`Settings.line_seats` calls reach the IVR at once, callers beyond wait in arrival order, and past
the waiting limits they hear a busy message and may leave a call-back request, all without an IVR
session. `line_prompts(settings)` is every phrase that dialplan plays (rendered by Open JTalk into
Asterisk sound files where the config is installed); `LineEvents` turns the dialplan's UserEvents
into bus events and stores the call-back requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ivr.config import Settings
from ivr.events import CallbackRequested, EventBus, LineAdmission
from ivr.speech.tts import load_synthesizer

log = logging.getLogger(__name__)

LINE_EVENT = "MadoguchiLine"
CALLBACK_EVENT = "MadoguchiCallback"
RESULTS = ("waiting", "admitted", "busy")

FIXED_PROMPTS = {
    "line-crowded": "お電話ありがとうございます。ただいま、お電話が大変混み合っております。",
    "line-hold-on": "順番におつなぎいたしますので、このままお待ちください。",
    "busy": "お電話ありがとうございます。ただいま、お電話が大変混み合っており、おつなぎすることができません。"
            "申し訳ございません。",
    "callback-offer-own": "折り返しのお電話をご希望でしたら、いまおかけの電話番号でよろしければ1を、"
                          "別の電話番号をご希望でしたら2を、押してください。",
    "callback-offer": "折り返しのお電話をご希望でしたら、1を押してください。",
    "callback-number": "折り返し先の電話番号を市外局番から押して、最後にシャープを押してください。",
    "callback-invalid": "電話番号を確認できませんでした。",
    "callback-done": "承りました。担当の者から、順番に折り返しお電話いたします。お電話ありがとうございました。",
    "busy-goodbye": "恐れ入りますが、しばらくたってから、おかけ直しください。お電話ありがとうございました。",
}


def line_prompts(settings: Settings) -> dict[str, str]:
    """Sound name -> Japanese text: the fixed phrases, one per waiting position and one per
    expected wait in minutes (whole phrases, so counters read naturally: 1分 is いっぷん)."""
    prompts = dict(FIXED_PROMPTS)
    for n in range(1, settings.line_max_waiting + 1):
        prompts[f"position-{n}"] = f"現在、{n}番目にお待ちいただいております。"
    for n in range(1, settings.line_max_wait_minutes + 1):
        prompts[f"wait-{n}"] = f"お待ちいただく時間は、およそ{n}分の見込みです。"
    return prompts


def render_line_sounds(synthesizer: Any, prompts: dict[str, str]) -> dict[str, bytes]:
    """Sound name -> 8 kHz 16-bit mono PCM (the synthesizer's prompt cache keeps repeated installs fast)."""
    return {name: synthesizer.render_sync(text) for name, text in prompts.items()}


def line_sounds(settings: Settings) -> dict[str, bytes]:
    """Every line prompt rendered with the IVR's own voice (Open JTalk, 8 kHz), for the config install."""
    synthesizer = load_synthesizer(settings)
    try:
        return render_line_sounds(synthesizer, line_prompts(settings))
    finally:
        synthesizer.close()


def phone_digits(caller: str) -> str:
    """A caller ID or typed number as a domestic number: +81 9012345678 -> 09012345678."""
    return "0" + caller[3:] if caller.startswith("+81") else caller


class LineEvents:
    """Follows the dialplan's `MadoguchiLine` and `MadoguchiCallback` UserEvents on an AMI client.

    `request_callback(phone, reason, call_id) -> bool` stores a request (blocking: run in a thread);
    the number is never logged or published. `close()` waits for requests being stored."""

    def __init__(self, bus: EventBus, service: str, request_callback: Callable[[str, str, str], bool]) -> None:
        self.bus, self.service, self.request_callback = bus, service, request_callback
        self._tasks: set[asyncio.Task[None]] = set()

    def follow(self, client: Any) -> None:
        client.on("UserEvent", self.apply)

    def apply(self, message: Any) -> None:
        name = message.get("UserEvent")
        call_id = message.get("UUID") or ""
        if name == LINE_EVENT:
            result = message.get("Result") or ""
            if result in RESULTS:
                position = message.get("Position") or "0"
                self.bus.publish(LineAdmission(call_id, result, int(position) if position.isdigit() else 0))
        elif name == CALLBACK_EVENT:
            reason = message.get("Reason") or "busy"
            task = asyncio.create_task(self._store(phone_digits(message.get("Phone") or ""), reason, call_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _store(self, phone: str, reason: str, call_id: str) -> None:
        try:
            ok = await asyncio.to_thread(self.request_callback, phone, reason, call_id)
        except Exception:  # noqa: BLE001 - one failed request never stops the line
            log.exception("call %s: the call-back request could not be stored", call_id[:8])
            ok = False
        if not ok:
            log.warning("call %s: call-back request (%s) not stored", call_id[:8], reason)
        self.bus.publish(CallbackRequested(call_id, self.service, reason, ok))

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
