"""The fixed prompts warmed into the synthesizer's cache at start-up (ivr.prompts)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from dialogs.engine import Engine, Say, Silence, Utterance
from dialogs.script import load_script
from dialogs.render import render
from dialogs.script import placeholders
from ivr.prompts import SCRIPT_PLACEHOLDERS, fixed_prompts, warm_prompts
from ivr.session import APOLOGY_TRANSFER
from ivr.speech.tts import PromptCache, Synthesizer, Voice

SCRIPTS = Path(__file__).resolve().parents[2] / "dialogs" / "scripts"


class CountingBackend:
    """Stands in for Open JTalk: a few bytes per text, and a count of what was synthesized."""

    def __init__(self) -> None:
        self.voice = Voice()
        self.texts: list[str] = []

    def synthesize(self, text: str) -> bytes:
        self.texts.append(text)
        return text.encode()


def test_every_prompt_of_the_opening_turns_is_fixed():
    for name in ("vaccine.yaml", "checkup.yaml"):
        script = load_script(SCRIPTS / name)
        fixed = set(fixed_prompts(script))
        engine = Engine(script, today=date(2026, 11, 25))
        actions = engine.start() + engine.handle(Utterance(("天気はどうですか",), 0.9)) + engine.handle(Silence())
        said = [a.text for a in actions if isinstance(a, Say)]
        assert said and set(said) <= fixed, name
        keypad = engine.handle(Silence())
        assert {a.text for a in keypad if isinstance(a, Say)} <= fixed, name  # the keypad step too
        assert APOLOGY_TRANSFER in fixed and script.messages["transfer"] in fixed
        assert not any("{" in text for text in fixed)


def test_prompts_with_call_data_are_left_out():
    script = load_script(SCRIPTS / "vaccine.yaml")
    fixed = fixed_prompts(script)
    assert all(text.strip() for text in fixed) and len(fixed) == len(set(fixed))
    with_data = [s.say for s in script.steps.values() if set(placeholders(s.say)) - SCRIPT_PLACEHOLDERS]
    assert with_data
    for text in with_data:  # e.g. 予約番号は、{code}。 must not be cached as 予約番号は、。
        assert render(text, {}, script) not in fixed, text


def test_warming_fills_the_cache_once(tmp_path):
    script = load_script(SCRIPTS / "vaccine.yaml")
    backend = CountingBackend()
    synthesizer = Synthesizer(backend, PromptCache(tmp_path))  # type: ignore[arg-type]
    assert asyncio.run(warm_prompts(synthesizer, script)) == len(backend.texts) >= len(fixed_prompts(script))
    for text in fixed_prompts(script):
        assert synthesizer.cache.get(synthesizer.voice.key(text.strip())) is not None
    again = Synthesizer(CountingBackend(), PromptCache(tmp_path))  # type: ignore[arg-type]
    assert asyncio.run(warm_prompts(again, script)) == 0  # the next start-up reads the disk cache


class SlowBackend(CountingBackend):
    def synthesize(self, text: str) -> bytes:
        import time

        time.sleep(0.05)
        return super().synthesize(text)


def test_warming_stops_between_prompts_when_cancelled(tmp_path):
    script = load_script(SCRIPTS / "vaccine.yaml")
    backend = SlowBackend()
    synthesizer = Synthesizer(backend, PromptCache(tmp_path))  # type: ignore[arg-type]

    async def cancel_soon() -> None:
        task = asyncio.create_task(warm_prompts(synthesizer, script))
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(cancel_soon())
    rendered = len(backend.texts)
    assert 0 < rendered < len(fixed_prompts(script))
