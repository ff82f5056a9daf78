"""Dialog scripts: YAML written by municipal staff -> validated, frozen models.

A script is a set of named steps. A step says a prompt, then either asks for one kind of input
(`ask`), calls a store operation (`do`), branches on a remembered value (`branch`), or just goes
on. `next` names the following step, or one step per outcome. Every error names the file, the
line and the step.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ASK_KINDS = ("digits", "date", "time", "birthdate", "yesno", "choice", "text")
OPS = ("find_available", "hold", "release_hold", "confirm", "lookup", "cancel", "reschedule", "request_callback",
       "transfer", "hangup")
TERMINAL_OPS = ("transfer", "hangup")
SAY_KINDS = ("prompt", "readback", "code")
LABEL_MAX = 16  # characters of an option's button label (chat)

# Outcomes each step must name (`next` as a mapping); `None` means a single `next`.
OP_OUTCOMES: dict[str, tuple[str, ...] | None] = {
    "find_available": ("ok", "full"),
    "hold": ("ok", "full"),
    "release_hold": None,
    "confirm": ("ok", "expired", "already_booked"),
    "lookup": ("ok", "not_found"),
    "cancel": ("ok",),
    "reschedule": ("ok", "full", "expired"),
    "request_callback": ("ok",),
}
OPTIONAL_OUTCOMES = ("error",)
# `none`: nothing left to offer (no place that day for a hold, none anywhere for find_available);
# without it, `full`.
NONE_OUTCOME_STEPS = ("find_available", "hold", "reschedule")
# `not_open`: the day's places are not bookable yet (their batch opens later: {opens}, and whether
# another day is open now, `open_elsewhere`); without it, `full` or `none` as for a full day.
NOT_OPEN_OUTCOME_STEPS = ("find_available",)
# Values each operation needs from earlier steps, and values it makes available.
OP_NEEDS = {
    "find_available": ("date",),
    "hold": ("slot",),
    "confirm": ("hold", "ticket", "birthdate"),
    "lookup": ("ticket", "birthdate"),
    "cancel": ("booking",),
    "reschedule": ("booking", "hold"),
}
OP_MAKES = {
    "find_available": ("day_slots", "open_times", "count", "places", "alternatives", "opens", "open_elsewhere"),
    "hold": ("hold", "alternatives"),
    "confirm": ("code",),
    "lookup": ("booking", "code", "booking_date", "booking_time", "site"),
    "reschedule": ("code",),
}
DEFAULT_STORE_AS = {"date": "date", "time": "time", "birthdate": "birthdate"}
DERIVED = {"day": "date"}  # placeholders computed from another value
GLOBAL_VALUES = ("title", "operator_key", "yes_key", "no_key")
_STEP_KEYS = {"say", "ask", "do", "branch", "next", "length", "options", "store_as", "among", "reprompt",
              "keypad", "hints", "kind", "interruptible"}
_SCRIPT_KEYS = {"name", "service", "title", "start", "restart", "operator_key", "max_failures", "on_silence",
                "messages", "steps", "yes_key", "no_key", "min_confidence", "confirm_below"}
_MESSAGES = {
    "reprompt": "恐れ入ります、もう一度お願いします。",
    "transfer": "オペレーターにおつなぎします。そのままお待ちください。",
    "goodbye": "お電話ありがとうございました。失礼いたします。",
    "error": "申し訳ありません、ただいま処理ができませんでした。",
    "no_input": "お声が聞き取れませんでした。",
    # An answer heard with doubt is read back in one short question before it is used.
    "confirm": "{heard}ですね。",
    # The second miss: the same question, by keypad only.
    "keypad_digits": "ボタンで番号を押して、最後にシャープを押してください。",
    "keypad_date": "ボタンで、月と日を4桁で押してください。12月3日なら、イチ、ニー、ゼロ、サンです。",
    "keypad_time": "ボタンで、時間を4桁で押してください。午後2時半なら、イチ、ヨン、サン、ゼロです。",
    "keypad_birthdate": "ボタンで、生年月日を西暦8桁で押してください。千九百六十五年五月六日なら、イチ、キュウ、ロク、ゴー、ゼロ、ゴー、ゼロ、ロクです。",
    "keypad_yesno": "はいの場合は{yes_key}、いいえの場合は{no_key}を押してください。",
    "keypad_choice": "ボタンでお選びください。",
    # Nobody to hand over to (outside staffed hours, or no operator logged in).
    "no_operator": "申し訳ありません。ただいま、オペレーターにおつなぎできません。",
    "operator_hours": "受付時間は、{operator_hours}です。",
    "callback_offer": "担当者からの折り返しのお電話をご希望ですか。ご希望の場合は{yes_key}、不要の場合は{no_key}を押すか、お話ください。",
    "callback_number": "折り返し先のお電話番号を、市外局番からボタンで押して、最後にシャープを押してください。",
    "callback_done": "承りました。受付時間内に、担当者からお電話いたします。",
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class ScriptError(Exception):
    """A script problem, located: `file:line: step 'name': message`."""

    def __init__(self, file: str, line: int | None, step: str | None, message: str, errors: list | None = None):
        self.file, self.line, self.step, self.message = file, line, step, message
        self.errors: list[ScriptError] = errors or [self]
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: step '{self.step}': {self.message}" if self.step else f"{where}: {self.message}"


@dataclass(frozen=True)
class Option:
    key: str
    words: tuple[str, ...]
    dtmf: str | None = None
    value: str | None = None
    label: str | None = None  # the button a text channel (chat) shows for this option


@dataclass(frozen=True)
class Step:
    name: str
    line: int
    say: str = ""
    ask: str | None = None
    do: str | None = None
    branch: str | None = None
    next: dict[str, str] = field(default_factory=dict)  # outcome -> step; "next" when single
    length: int | None = None
    options: tuple[Option, ...] = ()
    store_as: str | None = None
    among: str | None = None
    reprompt: str | None = None
    keypad: str | None = None  # the keypad-only instruction after two misses (default: by input kind)
    hints: tuple[str, ...] = ()
    kind: str = "prompt"
    interruptible: bool = True
    field_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, self.line)

    @property
    def terminal(self) -> bool:
        return self.do in TERMINAL_OPS

    def outcomes(self) -> tuple[str, ...] | None:
        """The outcomes `next` must name, or None for a single `next`."""
        if self.do:
            return OP_OUTCOMES.get(self.do)
        if self.ask == "yesno":
            return ("yes", "no")
        if self.ask == "choice":
            return tuple(option.key for option in self.options)
        if self.ask == "time" and self.among:
            return ("ok", "full")
        if self.branch:
            return tuple(self.next)
        return None

    def makes(self) -> tuple[str, ...]:
        if self.do:
            return OP_MAKES.get(self.do, ())
        if self.ask in ("time",) and self.among:
            return ("time", "slot", "site", "alternatives")
        if self.ask and self.store_as:
            extra = (f"{self.store_as}_tail",) if self.ask == "digits" else ()
            return (self.store_as, *extra)
        return ()

    def needs(self) -> tuple[str, ...]:
        names = set(OP_NEEDS.get(self.do or "", ()))
        if self.among:
            names.add(self.among)
        if self.branch:
            names.add(self.branch)
        return tuple(sorted(names))


@dataclass(frozen=True)
class Script:
    file: str
    name: str
    service: str
    title: str
    start: str
    restart: str
    steps: dict[str, Step]
    operator_key: str = "0"
    max_failures: int = 3  # misses at one question before a hand-over: reprompt, keypad, then a person
    on_silence: str = "transfer"
    yes_key: str = "1"
    no_key: str = "2"
    min_confidence: float = 0.0  # recognitions below this count as not understood (intents still work)
    confirm_below: float = 0.0  # values recognized with less confidence are confirmed with the caller first
    messages: dict[str, str] = field(default_factory=lambda: dict(_MESSAGES))


def placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


# ---------------------------------------------------------------- loading with line numbers


class _BadValue(Exception):
    """A YAML value that is not plain data (an unknown tag, `!!int abc`, a 13th month...)."""

    def __init__(self, line: int, message: str):
        self.line, self.message = line, message


def _plain(node: yaml.Node) -> Any:
    """The node as plain data through the safe loader; `_BadValue` at its line for anything else."""
    if node is None:
        return None
    try:
        return yaml.safe_load(yaml.serialize(node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or node.start_mark
        raise _BadValue(mark.line + 1, f"unsupported YAML value: {getattr(exc, 'problem', None) or exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _BadValue(node.start_mark.line + 1, f"bad value for its type: {exc}") from None


def _text_keys(file: str, pairs: list, step: str | None, errors: list[ScriptError]) -> list:
    """The (key, value) pairs whose key is plain text; a list or mapping used as a key is an error."""
    plain = []
    for key, value in pairs:
        if isinstance(key, yaml.ScalarNode):
            plain.append((key, value))
        else:
            errors.append(ScriptError(file, key.start_mark.line + 1, step, "a key must be plain text, not a list or mapping"))
    return plain


def load_script(path: str | Path) -> Script:
    """Load and validate; raises ScriptError (with `.errors`, all problems found)."""
    script, errors = _build(Path(path))
    if errors:
        first = errors[0]
        raise ScriptError(first.file, first.line, first.step, first.message, errors)
    assert script is not None
    return script


def check_script(path: str | Path) -> list[ScriptError]:
    return _build(Path(path))[1]


def _build(path: Path) -> tuple[Script | None, list[ScriptError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [ScriptError(file, None, None, f"cannot read: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return None, [ScriptError(file, line, None, "not UTF-8 text: save the script as UTF-8")]
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        # Point at where the broken construct starts (an unclosed quote), not where parsing gave up.
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: only its position is known
            line, message = text[: exc.position].count("\n") + 1, f"bad YAML: {exc.reason}"
        else:
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            line, message = mark.line + 1 if mark else 1, f"bad YAML: {problem}" + (f" ({context})" if context else "")
        return None, [ScriptError(file, line, None, message)]
    if not isinstance(root, yaml.MappingNode):
        return None, [ScriptError(file, root.start_mark.line + 1 if root else 1, None,
                                  "a script must be a mapping with 'steps'")]
    errors: list[ScriptError] = []
    pairs = _text_keys(file, root.value, None, errors)
    top = {key.value: value for key, value in pairs}
    for key, value in pairs:
        if key.value not in _SCRIPT_KEYS:
            errors.append(ScriptError(file, key.start_mark.line + 1, None, f"unknown field '{key.value}'"))
    for required in ("name", "service", "start", "steps"):
        if required not in top:
            errors.append(ScriptError(file, 1, None, f"missing field '{required}'"))
    steps_node = top.get("steps")
    if steps_node is not None and not isinstance(steps_node, yaml.MappingNode):
        errors.append(ScriptError(file, steps_node.start_mark.line + 1, None, "'steps' must be a mapping"))
        steps_node = None
    steps: dict[str, Step] = {}
    for key, value in _text_keys(file, steps_node.value, None, errors) if steps_node is not None else ():
        step = _step(file, key, value, errors)
        if step is not None:
            if step.name in steps:
                errors.append(ScriptError(file, step.line, step.name, "duplicate step name"))
            steps[step.name] = step
    if any(e.step is None for e in errors) or steps_node is None:
        return None, errors
    settings, unreadable = {}, []
    for key, value in top.items():
        try:
            settings[key] = _plain(value) if key != "steps" else None
        except _BadValue as bad:
            unreadable.append(ScriptError(file, bad.line, None, f"'{key}': {bad.message}"))
    if unreadable:
        return None, errors + unreadable
    del settings["steps"]
    if not isinstance(settings.get("messages") or {}, dict):
        return None, [ScriptError(file, _line_of(top)("messages"), None, "'messages' must be a mapping")]
    messages = dict(_MESSAGES) | {str(k): str(v) for k, v in (settings.get("messages") or {}).items()}
    try:
        script = Script(
            file=file,
            name=str(settings["name"]),
            service=str(settings["service"]),
            title=str(settings.get("title", settings["name"])),
            start=str(settings["start"]),
            restart=str(settings.get("restart", settings["start"])),
            steps=steps,
            operator_key=str(settings.get("operator_key", "0")),
            max_failures=int(settings.get("max_failures", 3)),
            on_silence=str(settings.get("on_silence", "transfer")),
            yes_key=str(settings.get("yes_key", "1")),
            no_key=str(settings.get("no_key", "2")),
            min_confidence=float(settings.get("min_confidence", 0.0)),
            confirm_below=float(settings.get("confirm_below", 0.0)),
            messages=messages,
        )
    except (TypeError, ValueError, OverflowError):
        numbers = ("max_failures", "min_confidence", "confirm_below")
        return None, [ScriptError(file, _line_of(top)(n), None, f"'{n}' must be a number") for n in numbers
                      if not _is_number(settings.get(n, 0), whole=n == "max_failures")]
    from dialogs.validate import validate

    errors += validate(script, _line_of(top))
    errors.sort(key=lambda e: e.line or 0)
    return script, errors


def _is_number(value: Any, whole: bool = False) -> bool:
    try:
        int(value) if whole else float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _line_of(top: dict[str, yaml.Node]):
    def line(key: str) -> int:
        node = top.get(key)
        return node.start_mark.line + 1 if node is not None else 1

    return line


def _outcome(key: Any) -> str:
    """YAML 1.1 reads a bare `yes:` / `no:` as a boolean; staff mean the outcome names."""
    return {True: "yes", False: "no"}.get(key, str(key)) if isinstance(key, bool) else str(key)


def _step(file: str, key: yaml.Node, node: yaml.Node, errors: list[ScriptError]) -> Step | None:
    name, line = str(key.value), key.start_mark.line + 1
    if not _NAME_RE.match(name):
        errors.append(ScriptError(file, line, name, "step names are lower-case letters, digits and _"))
    if not isinstance(node, yaml.MappingNode):
        errors.append(ScriptError(file, line, name, "a step must be a mapping (say, ask, do, next...)"))
        return None
    fields: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for field_key, value in _text_keys(file, node.value, name, errors):
        lines[field_key.value] = field_key.start_mark.line + 1
        if field_key.value == "options" and isinstance(value, yaml.MappingNode):
            for option_key, _ in value.value:
                lines[f"option:{option_key.value}"] = option_key.start_mark.line + 1
        if field_key.value not in _STEP_KEYS:
            errors.append(ScriptError(file, field_key.start_mark.line + 1, name, f"unknown field '{field_key.value}'"))
            continue
        try:
            fields[field_key.value] = _plain(value)
        except _BadValue as bad:
            errors.append(ScriptError(file, bad.line, name, f"'{field_key.value}': {bad.message}"))

    def bad(field_name: str, message: str) -> None:
        errors.append(ScriptError(file, lines.get(field_name, line), name, message))

    for text_field in ("say", "ask", "do", "branch", "store_as", "among", "reprompt", "keypad", "kind"):
        if fields.get(text_field) is not None and not isinstance(fields[text_field], str):
            bad(text_field, f"'{text_field}' must be text")
            fields.pop(text_field)
    ask, do, branch = fields.get("ask"), fields.get("do"), fields.get("branch")
    if sum(x is not None for x in (ask, do, branch)) > 1:
        bad("ask" if ask else "do", "a step has at most one of 'ask', 'do', 'branch'")
    if ask is not None and ask not in ASK_KINDS:
        bad("ask", f"unknown input kind '{ask}' (one of {', '.join(ASK_KINDS)})")
    if do is not None and do not in OPS:
        bad("do", f"unknown store action '{do}' (one of {', '.join(OPS)})")
    nxt = fields.get("next")
    if isinstance(nxt, str):
        next_map = {"next": nxt}
    elif isinstance(nxt, dict):
        next_map = {_outcome(k): str(v) for k, v in nxt.items()}
    elif nxt is None:
        next_map = {}
    else:
        bad("next", "'next' must be a step name or a mapping of outcome to step")
        next_map = {}
    options = []
    raw_options = fields.get("options") or {}
    if not isinstance(raw_options, dict):
        bad("options", "'options' must be a mapping of option to {words, key}")
        raw_options = {}
    for option_key, spec in raw_options.items():
        spec = spec if isinstance(spec, dict) else {"words": spec}
        words = spec.get("words") or []
        if not isinstance(words, (str, list)):
            bad(f"option:{option_key}", f"option '{option_key}': 'words' must be a list of words")
            words = []
        words = [words] if isinstance(words, str) else list(words)
        label = spec.get("label")
        if label is not None and (not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX
                                  or not label.isprintable()):
            bad(f"option:{option_key}", f"option '{option_key}': 'label' must be a button text of 1 to "
                                        f"{LABEL_MAX} characters on one line")
            label = None
        options.append(Option(str(option_key), tuple(map(str, words)),
                              None if spec.get("key") is None else str(spec["key"]),
                              None if spec.get("value") is None else str(spec["value"]), label))
    length = fields.get("length")
    if length is not None and (not isinstance(length, int) or not 1 <= length <= 20):
        bad("length", "'length' must be a whole number from 1 to 20")
        length = None
    hints = fields.get("hints") or []
    if not isinstance(hints, (str, list)):
        bad("hints", "'hints' must be a list of words")
        hints = []
    kind = fields.get("kind", "prompt")
    if kind not in SAY_KINDS:
        bad("kind", f"unknown say kind '{kind}' (one of {', '.join(SAY_KINDS)})")
    try:
        return Step(
            name=name, line=line, say=str(fields.get("say") or ""), ask=ask, do=do, branch=branch,
            next=next_map, length=length, options=tuple(options), store_as=fields.get("store_as")
            or (DEFAULT_STORE_AS.get(ask) if ask else None), among=fields.get("among"),
            reprompt=fields.get("reprompt"), keypad=fields.get("keypad"), hints=tuple(map(str, hints if isinstance(hints, list) else [hints])),
            kind=kind, interruptible=bool(fields.get("interruptible", kind != "code")), field_lines=lines,
        )
    except TypeError as exc:  # pragma: no cover - guarded by the checks above
        bad("say", str(exc))
        return None
