"""The fixed prompts warmed into the synthesizer's cache at start-up (ivr.prompts)."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from dialogs.engine import Engine, Say, Silence, Utterance
from dialogs.script import load_script
from dialogs.render import render
from dialogs.script import placeholders
from ivr.config import Settings
from ivr.prompts import SCRIPT_PLACEHOLDERS, fixed_prompts, warm_prompts
from ivr.session import APOLOGY_TRANSFER
from ivr.speech.tts import PromptCache, Synthesizer, Voice, load_synthesizer
from tests.fixtures.waiting import until

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
        await until(lambda: len(backend.texts) >= 2, "warming rendered two prompts")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(cancel_soon())
    rendered = len(backend.texts)
    assert 0 < rendered < len(fixed_prompts(script))


# The prompt cache: bounded in memory, and never given a caller's data.

def test_the_memory_cache_is_a_bounded_lru(tmp_path):
    cache = PromptCache(None, max_entries=2)
    cache.put("a", b"A")
    cache.put("b", b"B")
    assert cache.get("a") == b"A"  # a is now the most recent
    cache.put("c", b"C")
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") == b"A" and cache.get("c") == b"C"


def test_a_prompt_evicted_from_memory_is_read_back_from_disk(tmp_path):
    cache = PromptCache(tmp_path, max_entries=1)
    cache.put("a", b"A")
    cache.put("b", b"B")
    assert len(cache) == 1 and cache.get("a") == b"A" and len(cache) == 1


def test_the_size_is_a_setting(tmp_path):
    assert Settings().prompt_cache_entries > 0
    synthesizer = load_synthesizer(Settings(prompt_cache_dir=tmp_path, prompt_cache_entries=7))
    assert synthesizer.cache.max_entries == 7


def test_private_prompts_are_never_written_to_disk_nor_kept(tmp_path):
    backend = CountingBackend()
    synthesizer = Synthesizer(backend, PromptCache(tmp_path))
    asyncio.run(synthesizer.render("予約番号は、ヨン、ゼロ、キュー。", private=True))
    asyncio.run(synthesizer.render("予約番号は、ヨン、ゼロ、キュー。", private=True))
    assert len(backend.texts) == 2 and len(synthesizer.cache) == 0 and not list(tmp_path.iterdir())
    asyncio.run(synthesizer.render("接種券番号をどうぞ。"))
    assert len(list(tmp_path.glob("*.slin"))) == 1
