"""The answers a chat offers as buttons for the question the dialog is asking: a choice's options
(their `label:`, else their first word), はい / いいえ, and the open times of a day. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from dialogs.script import Step

MAX_TIMES = 12


@dataclass(frozen=True)
class Button:
    label: str
    text: str  # what tapping it sends, as if typed


def buttons(step: Step | None, values: dict) -> list[Button]:
    if step is None or step.ask is None:
        return []
    if step.ask == "choice":
        return [Button(option.label or option.words[0], option.words[0]) for option in step.options if option.words]
    if step.ask == "yesno":
        return [Button("はい", "はい"), Button("いいえ", "いいえ")]
    if step.ask == "time" and step.among:
        offered = sorted({str(slot["time"]) for slot in values.get(step.among) or [] if "time" in slot})
        return [_time_button(time.fromisoformat(text)) for text in offered[:MAX_TIMES]]
    return []


def _time_button(at: time) -> Button:
    return Button(f"{at.hour}:{at.minute:02d}", f"{at.hour}時{at.minute}分" if at.minute else f"{at.hour}時")
