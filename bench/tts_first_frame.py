"""Time to the first 20 ms audio frame of a prompt (target: under 150 ms).

Fixed prompts come from the warmed prompt cache (memory, or disk in a fresh process); dynamic
prompts (dates, times, codes) are synthesized sentence by sentence with `render_stream`.

    python bench/tts_first_frame.py

bench/speech.py runs it and writes the table into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, time as clock
from pathlib import Path

from ivr.config import Settings
from ivr.speech.evaluation import percentile
from dialogs.readings import date_reading, digits_reading, time_reading
from ivr.speech.tts import load_synthesizer

FIXED = (
    "お電話ありがとうございます。こちらはワクチン接種の予約窓口です。",
    "接種券番号を、お話しいただくか、ボタンで押してください。",
    "生年月日を、お話しください。例えば、昭和二十五年四月八日のようにお話しください。",
    "ご希望の日にちをお話しください。",
    "ご希望の時間をお話しください。",
    "申し訳ございません。もう一度お話しください。",
    "オペレーターにおつなぎします。少々お待ちください。",
    "ご予約を承りました。お電話ありがとうございました。",
)


def dynamic_prompts() -> list[str]:
    days = [date(2026, 12, d) for d in (1, 3, 8, 15, 22)]
    times = [clock(9, 0), clock(10, 30), clock(14, 30), clock(15, 15)]
    return [
        f"{date_reading(day)}、{time_reading(t)}でよろしいですか。予約番号は、{digits_reading(code)}です。"
        for day, t, code in zip(days * 2, times * 3, ("12345670", "80213456", "55501234", "90817263", "31415926"))
    ]


async def first_chunk(synthesizer, text: str, cache: bool) -> float:
    """Time to the first chunk; the rest is drained untimed (as if played) before the next prompt."""
    started, first = time.perf_counter(), None
    async for _chunk in synthesizer.render_stream(text, cache=cache):
        first = first or time.perf_counter() - started
    return first


async def measure(speed: float) -> dict:
    """Seconds to the first chunk per prompt kind, and how long warming the fixed prompts took."""
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(prompt_cache_dir=Path(scratch), tts_speed=speed)
        warm = load_synthesizer(settings)
        started = time.perf_counter()
        warm.warm(FIXED)
        warm_s = time.perf_counter() - started
        kinds = {"fixed, memory cache": [await first_chunk(warm, t, True) for t in FIXED]}
        fresh = load_synthesizer(settings)  # as a new process: only the disk cache
        kinds["fixed, disk cache (fresh process)"] = [await first_chunk(fresh, t, True) for t in FIXED]
        await first_chunk(fresh, "準備", False)
        kinds["dynamic, first phrase synthesized"] = [await first_chunk(fresh, t, False) for t in dynamic_prompts() * 3]
        whole = []
        for text in dynamic_prompts():
            t0 = time.perf_counter()
            await fresh.render(text, cache=False)
            whole.append(time.perf_counter() - t0)
        kinds["dynamic, whole prompt at once (for comparison)"] = whole
    return {"speed": speed, "fixed_prompts": len(FIXED), "warm_s": warm_s, "seconds": kinds}


def table(result: dict) -> str:
    lines = ["| prompt kind | n | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    for kind, seconds in result["seconds"].items():
        ms = [1000 * v for v in seconds]
        lines.append(f"| {kind} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=0.9)
    result = asyncio.run(measure(parser.parse_args().speed))
    print(f"warmed {result['fixed_prompts']} fixed prompts in {result['warm_s']:.2f} s")
    print(table(result))


if __name__ == "__main__":
    main()
