"""Graph and value checks on a loaded script: unknown and unreachable steps, missing outcomes,
placeholders and store actions without a value, keypad answers."""

from __future__ import annotations

from collections.abc import Callable

from dialogs.script import (
    DERIVED, GLOBAL_VALUES, NONE_OUTCOME_STEPS, NOT_OPEN_OUTCOME_STEPS, OPTIONAL_OUTCOMES, Script, ScriptError, Step,
    placeholders,
)


def _successors(step: Step) -> set[str]:
    return set(step.next.values())


def _reachable(script: Script, roots: list[str]) -> set[str]:
    seen, todo = set(), [r for r in roots if r in script.steps]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(s for s in _successors(script.steps[name]) if s in script.steps)
    return seen


def _first_menu(script: Script) -> Step | None:
    """The first choice question a caller meets, following single `next` links from the start."""
    name, seen = script.start, set()
    while name in script.steps and name not in seen:
        seen.add(name)
        step = script.steps[name]
        if step.ask == "choice":
            return step
        if step.ask or step.do or step.branch or "next" not in step.next:
            return None
        name = step.next["next"]
    return None


def _ancestors(script: Script) -> dict[str, set[str]]:
    """For each step, the steps that can run before it on some path from the start."""
    parents: dict[str, set[str]] = {name: set() for name in script.steps}
    for name, step in script.steps.items():
        for child in _successors(step):
            if child in parents:
                parents[child].add(name)
    result = {}
    for name in script.steps:
        seen, todo = set(), list(parents[name])
        while todo:
            parent = todo.pop()
            if parent not in seen:
                seen.add(parent)
                todo.extend(parents[parent])
        result[name] = seen
    return result


def _check_question(script: Script, step: Step, err: Callable[[Step, str, str], None]) -> None:
    """Every question is answerable by voice and on the keypad."""
    if step.ask == "digits" and step.length is None:
        err(step, "ask", "a digits question needs 'length'")
    if step.ask in ("digits", "text") and not step.store_as:
        err(step, "ask", "a digits or text question needs 'store_as'")
    if step.ask == "choice":
        if not step.options:
            err(step, "options", "a choice needs 'options'")
        seen: set[str] = set()
        for option in step.options:
            where = f"option:{option.key}"
            if not option.words:
                err(step, where, f"option '{option.key}' has no words")
            if option.dtmf is None:
                err(step, where, f"option '{option.key}' has no keypad key")
            elif option.dtmf == script.operator_key:
                err(step, where, f"option '{option.key}' uses the operator key {script.operator_key}")
            elif option.dtmf in seen:
                err(step, where, f"key {option.dtmf} is already used by another option")
            if option.dtmf is not None:
                seen.add(option.dtmf)
    if step.among and step.ask != "time":
        err(step, "among", "'among' only applies to a time question")
    if step.ask and not step.say:
        err(step, "say", "a question needs a prompt ('say')")


def validate(script: Script, line_of: Callable[[str], int]) -> list[ScriptError]:
    errors: list[ScriptError] = []
    file = script.file

    def err(step: Step | None, field: str, message: str) -> None:
        line = step.line_of(field) if step else line_of(field)
        errors.append(ScriptError(file, line, step.name if step else None, message))

    for root in ("start", "restart"):
        target = getattr(script, root)
        if target not in script.steps:
            err(None, root, f"{root} names an unknown step '{target}'")
    if script.on_silence not in ("transfer", "end"):
        err(None, "on_silence", "on_silence must be 'transfer' or 'end'")
    if script.max_failures < 1:
        err(None, "max_failures", "max_failures must be at least 1")
    if not 0.0 <= script.min_confidence <= 1.0:
        err(None, "min_confidence", "min_confidence must be between 0 and 1")
    if not 0.0 <= script.confirm_below <= 1.0:
        err(None, "confirm_below", "confirm_below must be between 0 and 1")
    if not (script.operator_key.isdigit() and len(script.operator_key) == 1):
        err(None, "operator_key", "operator_key must be one keypad digit")
    for name, text in script.messages.items():
        try:
            placeholders(text)
        except ValueError as exc:
            err(None, "messages", f"message '{name}': {exc} (write {{{{ or }}}} for a brace said as is)")

    for step in script.steps.values():
        _check_question(script, step, err)
        for target in step.next.values():
            if target not in script.steps:
                err(step, "next", f"unknown step '{target}'")
        required = step.outcomes()
        if step.terminal:
            if step.next:
                err(step, "next", f"'{step.do}' ends the call: remove 'next'")
            continue
        if required is None:
            if set(step.next) != {"next"}:
                err(step, "next", "missing outcome: 'next' must name one step")
            continue
        if step.branch and not step.next:
            err(step, "next", "missing outcome: a branch needs 'next' with one step per value")
        for outcome in required:
            if outcome not in step.next:
                err(step, "next", f"missing outcome '{outcome}'")
        for outcome in step.next:
            takes_none = step.do in NONE_OUTCOME_STEPS or (step.ask == "time" and step.among)
            optional = outcome in OPTIONAL_OUTCOMES or (outcome == "none" and takes_none) or (
                outcome == "not_open" and step.do in NOT_OPEN_OUTCOME_STEPS)
            if outcome not in required and not optional:
                err(step, "next", f"unknown outcome '{outcome}' (expected {', '.join(required)})")

    menu = _first_menu(script)
    if menu is not None and not any("オペレーター" in text or "{operator_key}" in text
                                    for text in (menu.say, menu.reprompt or "", menu.keypad or "")):
        err(menu, "say", "the first menu (its say, reprompt or keypad) must say which key reaches an operator "
                         "(オペレーターは0…)")

    reachable = _reachable(script, [script.start, script.restart])
    for name, step in script.steps.items():
        if name not in reachable:
            err(step, "name", "unreachable step: no path from the start leads here")

    ancestors = _ancestors(script)
    for name, step in script.steps.items():
        available = set(GLOBAL_VALUES)
        for before in ancestors[name]:
            available.update(script.steps[before].makes())
        available.update(derived for derived, source in DERIVED.items() if source in available)
        for text_field in ("say", "reprompt", "keypad"):
            try:
                names = placeholders(getattr(step, text_field) or "")
            except ValueError as exc:  # "Single '}' encountered", "unmatched '{'"...
                err(step, text_field, f"'{text_field}': {exc} (write {{{{ or }}}} for a brace said as is)")
                continue
            for placeholder in names:
                if placeholder not in available:
                    err(step, text_field, f"placeholder '{{{placeholder}}}' has no value here (no earlier step sets it)")
        for needed in step.needs():
            if needed not in available:
                err(step, "do" if step.do else "ask" if step.ask else "branch",
                    f"needs a value '{needed}' that no earlier step sets")
    return errors
