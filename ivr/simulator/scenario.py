"""Scenario files: what a simulated caller says, presses or does, turn by turn.

```yaml
name: booking by speech
caller_id: "09012345678"        # what the IVR sees as CALLERID(num)
voice: {speed: 1.05, half_tone: -3}   # the caller's synthetic voice (not the IVR's)
turns:
  - say: 接種券番号は1234567890です      # speech, after the IVR's prompt ends
    expect: 接種券                        # optional: words the prompt being answered should contain
  - press: "1234567890#"                 # keys (DTMF)
  - silence: 6                           # say nothing for 6 s
  - wait_prompt: true                    # only wait for the next prompt to end
  - leave_queue: madoguchi-line          # wait (up to the call's timeout) until the call, after
                                         # waiting in this Asterisk queue, leaves it (admitted)
  - hangup: true                         # hang up now
  - expect_queue: operators              # the call must now wait in this Asterisk queue
  - say: 10時半で                          # only if the prompt just heard contains one of these
    if_heard: 空きがありません|どちら       # (the turn is skipped otherwise; needs transcription)
```
`say` and `press` may name days relative to the call: `{tomorrow:%m%d}#`, `{today+3:%-m月%-d日}`
(strftime formats; the day is taken in the municipality's time zone).

Every turn first waits for the IVR to finish talking (`after: prompt`, the default), or for it to
start talking and barges in half a second later (`after: start`), or acts at once (`after: now`). After the last turn the caller stays on the line until the IVR
ends the call (`end: wait`, default) or hangs up (`end: hangup`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

ACTIONS = ("say", "press", "silence", "hangup", "wait_prompt", "expect_queue", "leave_queue")
DTMF_KEYS = set("0123456789*#ABCD")


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the turn."""

    def __init__(self, file: str, message: str, turn: int | None = None) -> None:
        where = f"{file}, turn {turn}" if turn is not None else file
        super().__init__(f"{where}: {message}")
        self.file, self.turn = file, turn


@dataclass(frozen=True)
class Voice:
    speed: float = 1.05
    half_tone: float = -3.0
    level_dbfs: float = -6.0


@dataclass(frozen=True)
class Turn:
    action: str  # one of ACTIONS
    value: Any = None  # text, keys, seconds, queue name
    expect: str = ""
    after: str = "prompt"  # prompt | start | now
    if_heard: str = ""  # alternatives separated by `|`; empty: always


@dataclass(frozen=True)
class Scenario:
    name: str
    turns: tuple[Turn, ...]
    caller_id: str = "0312345678"
    voice: Voice = field(default_factory=Voice)
    end: str = "wait"  # wait | hangup
    file: str = "<scenario>"


_DAY = re.compile(r"\{(today|tomorrow)(?:\+(\d{1,3}))?(?::([^{}]*))?\}")


def expand_days(text: str, today: date) -> str:
    """`{tomorrow:%m%d}` -> `1125`; `{today+3:%-m月%-d日}` -> `11月27日`; default format ISO."""
    def day(match: re.Match[str]) -> str:
        offset = (1 if match.group(1) == "tomorrow" else 0) + int(match.group(2) or 0)
        when = today + timedelta(days=offset)
        return when.strftime(match.group(3)) if match.group(3) else when.isoformat()

    return _DAY.sub(day, text)


def load_scenario(path: str | Path, *, today: date | None = None) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), f"not valid YAML: {exc}") from exc
    return parse_scenario(data, file=str(path), today=today)


def parse_scenario(data: Any, *, file: str = "<scenario>", today: date | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(file, "expected a mapping with `turns`")
    unknown = set(data) - {"name", "description", "caller_id", "voice", "turns", "end"}
    if unknown:
        raise ScenarioError(file, f"unknown keys {sorted(unknown)}")
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ScenarioError(file, "`turns` must be a non-empty list")
    caller_id = str(data.get("caller_id", "0312345678"))
    if not caller_id.isdigit():
        raise ScenarioError(file, "`caller_id` must be digits")
    end = data.get("end", "wait")
    if end not in ("wait", "hangup"):
        raise ScenarioError(file, "`end` must be wait or hangup")
    return Scenario(
        name=str(data.get("name") or Path(file).stem),
        turns=tuple(_turn(t, i, file, today) for i, t in enumerate(turns, 1)),
        caller_id=caller_id, voice=_voice(data.get("voice") or {}, file), end=end, file=file,
    )


def _voice(data: Any, file: str) -> Voice:
    if not isinstance(data, dict) or set(data) - {"speed", "half_tone", "level_dbfs"}:
        raise ScenarioError(file, "`voice` takes speed, half_tone, level_dbfs")
    try:
        voice = Voice(**{k: float(v) for k, v in data.items()})
    except (TypeError, ValueError) as exc:
        raise ScenarioError(file, "`voice` values must be numbers") from exc
    if not 0.5 <= voice.speed <= 2.0:
        raise ScenarioError(file, "`voice.speed` must be between 0.5 and 2.0")
    return voice


def _turn(data: Any, index: int, file: str, today: date | None) -> Turn:
    if not isinstance(data, dict):
        raise ScenarioError(file, "a turn is a mapping like {say: ...}", index)
    actions = [key for key in ACTIONS if key in data]
    if len(actions) != 1:
        raise ScenarioError(file, f"a turn needs exactly one of {', '.join(ACTIONS)}", index)
    unknown = set(data) - set(ACTIONS) - {"expect", "after", "if_heard"}
    if unknown:
        raise ScenarioError(file, f"unknown keys {sorted(unknown)}", index)
    action, value = actions[0], data[actions[0]]
    if action in ("say", "press") and isinstance(value, (str, int)) and not isinstance(value, bool):
        value = str(value)
        if "{" in value:
            if today is None:
                raise ScenarioError(file, "relative days like {tomorrow} need today's date", index)
            value = expand_days(value, today)
    if action == "say" and (not isinstance(value, str) or not value.strip()):
        raise ScenarioError(file, "`say` needs the words to speak", index)
    if action == "press":
        value = str(value)
        if not value or set(value) - DTMF_KEYS:
            raise ScenarioError(file, "`press` takes keys 0-9 * # A-D", index)
    if action == "silence":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 120:
            raise ScenarioError(file, "`silence` takes seconds (0-120)", index)
        value = float(value)
    if action in ("hangup", "wait_prompt") and value is not True:
        raise ScenarioError(file, f"`{action}` takes `true`", index)
    if action in ("expect_queue", "leave_queue") and (not isinstance(value, str) or not value):
        raise ScenarioError(file, f"`{action}` takes a queue name", index)
    after = data.get("after", "prompt")
    if after not in ("prompt", "start", "now"):
        raise ScenarioError(file, "`after` must be prompt, start or now", index)
    if_heard = str(data.get("if_heard", ""))
    if action == "leave_queue" and (if_heard or data.get("expect") or "after" in data):
        raise ScenarioError(file, "`leave_queue` takes no `after`, `expect` or `if_heard`", index)
    if (if_heard or data.get("expect")) and after != "prompt":
        raise ScenarioError(file, "`if_heard` and `expect` need the whole prompt: they go with `after: prompt`", index)
    return Turn(action=action, value=value, expect=str(data.get("expect", "")), after=after, if_heard=if_heard)
