"""bench/speech.py renders docs/BENCHMARKS.md's speech section from results (no models, no timing)."""

from __future__ import annotations

import pytest

from bench.sections import replace_section
from bench.speech import BEGIN, END, render


def accuracy_run(hints: bool, noise_dbfs: float, cer: float) -> dict:
    return {
        "backend": "whisper", "hints": hints, "noise_dbfs": noise_dbfs, "utterances": 48, "cer": cer,
        "per_voice_cer": {"speed 1.0 half_tone +0": 0.152, "speed 0.85 half_tone -3": 0.188, "speed 1.15 half_tone +3": 0.119},
        "latency_median_s": 0.39, "latency_p95_s": 0.74, "audio_median_s": 3.4,
        "errors": [["予約を取り消したいです。", "予約を取り決したいです。"], ["十二月三日です。", "12月3日です。"], ["日にち", "秘密"]],
    }


def concurrency_row(backend: str, calls: int, p50_s: float) -> dict:
    return {"backend": backend, "calls": calls, "utterances": 3 * calls, "p50_s": p50_s, "p95_s": 2 * p50_s,
            "max_s": 3 * p50_s, "memory_per_call_mib": 1.5, "wall_s": 20.0, "turns": 3, "model_mib": 185.0}


RESULTS = {
    "command": "python bench/speech.py --n 1 16 --turns 3 --throughput 24 --rounds 3 --write",
    "date": "2026-12-01", "machine": "x86_64", "cores": 2, "load_start": 1.25, "load_end": 3.5,
    "accuracy": {
        "phrases": 16,
        "runs": [accuracy_run(False, -60.0, 0.153), accuracy_run(True, -60.0, 0.092), accuracy_run(False, -50.0, 0.287)],
        "not_evaluated": {"vosk": "no Japanese Vosk model"},
    },
    "concurrency": [concurrency_row("whisper-batch", 1, 0.27), concurrency_row("whisper-batch", 16, 7.11),
                    concurrency_row("vosk", 1, 0.03), concurrency_row("vosk", 16, 0.96)],
    "throughput": [{"replicas": 1, "max_batch": 1, "utterances": 24, "rates": [2.9, 3.0, 2.94]},
                   {"replicas": 2, "max_batch": 4, "utterances": 24, "rates": [3.77, 3.7, 3.9]}],
    "prompts": {"speed": 0.9, "fixed_prompts": 8, "warm_s": 2.8,
                "seconds": {"fixed, memory cache": [0.00001] * 8, "dynamic, first phrase synthesized": [0.067, 0.097, 0.132]}},
}


EXPECTED = {
    "header": "## Speech: recognition accuracy, latency under concurrency, prompt audio\n",
    "command and date": "Written by `python bench/speech.py --n 1 16 --turns 3 --throughput 24 --rounds 3 --write` on 2026-12-01",
    "machine": "x86_64 with 2 cores",
    "load": "1-minute load average 1.2 at the start, 3.5 at the end",
    "test set": "16 booking phrases",
    "utterances": "= 48 utterances",
    "no hints": "| Whisper, no hints | −60 dBFS | 15.3 % | 0.39 | 0.74 | 3.4 |",
    "hints": "| Whisper, hints (予約、接種券番号、生年月日、日にち、時間、はい、いいえ) | −60 dBFS | 9.2 % |",
    "noisy line": "| Whisper, no hints | −50 dBFS | 28.7 % |",
    "per voice": "no hints, −60 dBFS: 15.2 % / 18.8 % / 11.9 %",
    "slips, the same reading left out": "Heard wrong without hints (the reading differs; the first 2): 予約を取り消したいです。 → 予約を取り決したいです。; 日にち → 秘密.",
    "missing backend": "Vosk has no Japanese accuracy figure (no Japanese Vosk model).",
    "concurrency command": "`python bench/asr_concurrency.py --n 1 16 --turns 3`",
    "first row names the backend": "| Whisper, 2 replicas, batching (≤ 4) | 1 | 3 | 0.27 | 0.54 | 0.81 | 1.5 |",
    "next rows do not": "|  | 16 | 48 | 7.11 | 14.22 | 21.33 | 1.5 |",
    "reading, saturated": "batching (≤ 4): median 0.27 s with one call; it reaches 1 s at 16 calls.",
    "reading, not saturated": "Vosk (streaming, Korean small model): median 0.03 s with one call; it stays under 1 s up to 16 calls.",
    "model memory": "185 MiB for Whisper base and 185 MiB for the small Korean Vosk model",
    "throughput base": "| 1 replica, no batching | 24 | 2.94 | 1.00× |",
    "throughput ratio": "| 2 replicas, batches ≤ 4 | 24 | 3.77 | 1.28× |",
    "fastest": "Fastest in this run: 2 replicas, batches ≤ 4.",
    "rounds": "taking turns for 3 rounds",
    "warm-up": "(8 prompts in 2.8 s)",
    "prompt row": "| dynamic, first phrase synthesized | 3 | 97.0 | 128.5 | 132.0 |",
}


@pytest.mark.parametrize("fragment", EXPECTED.values(), ids=EXPECTED.keys())
def test_the_section_shows(fragment: str) -> None:
    assert fragment in render(RESULTS)


def test_writing_replaces_only_the_speech_section(tmp_path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\n{BEGIN}\nold figures\n{END}\n\n<!-- bench:calls:begin -->\ncalls\n<!-- bench:calls:end -->\n")
    replace_section(doc, BEGIN, END, render(RESULTS))
    written = doc.read_text()
    assert "old figures" not in written
    assert written.count(BEGIN) == 1 and "| 2 replicas, batches ≤ 4 | 24 | 3.77 | 1.28× |" in written
    assert written.endswith("<!-- bench:calls:begin -->\ncalls\n<!-- bench:calls:end -->\n")
