"""`ivr asr transcribe FILE.wav...`, `ivr eval asr` and `ivr eval understanding`."""

from __future__ import annotations

import json
import statistics
import time
import wave
from pathlib import Path

import click

from ivr.commands import with_overrides
from ivr.speech.asr import NO_HINTS, Hints, load_recognizer
from ivr.speech.audio import ASR_RATE, PHONE_RATE, AudioError
from ivr.speech.models import ModelError

BACKEND = click.option("--backend", type=click.Choice(["auto", "whisper", "vosk"]), default=None)


def read_wav(path: Path) -> tuple[bytes, int]:
    """8 kHz or 16 kHz mono 16-bit WAV -> (pcm, rate)."""
    try:
        with wave.open(str(path)) as handle:
            rate, channels, width = handle.getframerate(), handle.getnchannels(), handle.getsampwidth()
            pcm = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a readable WAV file ({exc})") from exc
    if channels != 1 or width != 2 or rate not in (PHONE_RATE, ASR_RATE):
        raise AudioError(f"{path}: need mono 16-bit 8 kHz or 16 kHz, got {channels} ch, {8 * width} bit, {rate} Hz")
    return pcm, rate


@click.group()
def asr() -> None:
    """Speech recognition tools."""


@asr.command("transcribe")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@BACKEND
@click.pass_context
def transcribe(ctx: click.Context, files: tuple[Path, ...], backend: str | None) -> None:
    """Print one JSON object per file: text, n-best, confidence, decode seconds."""
    settings = with_overrides(ctx.obj, asr_backend=backend)
    try:
        recognizer = load_recognizer(settings, parallel=1)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = False
    try:
        for path in files:
            try:
                pcm, rate = read_wav(path)
            except AudioError as exc:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
                failed = True
                continue
            result = recognizer.recognize_sync(pcm, NO_HINTS, rate)
            record = {
                "file": str(path),
                "text": result.text,
                "nbest": list(result.nbest),
                "confidence": round(result.confidence, 3),
                "decode_seconds": round(result.decode_seconds, 3),
                "audio_seconds": round(result.audio_seconds, 3),
                "backend": result.backend,
            }
            click.echo(json.dumps(record, ensure_ascii=False))
    finally:
        recognizer.close()
    if failed:
        raise SystemExit(1)


@click.group("eval")
def eval_group() -> None:
    """Evaluations that report figures for docs/BENCHMARKS.md."""


@eval_group.command("asr")
@click.option("--backend", type=click.Choice(["whisper", "vosk"]), multiple=True, default=("whisper",), show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N phrases per voice.")
@click.option("--hints/--no-hints", default=False, show_default=True, help="Pass the booking key words as hints.")
@click.option("--noise-dbfs", type=float, default=-60.0, show_default=True, help="White line noise level.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
def eval_asr(
    ctx: click.Context,
    backend: tuple[str, ...],
    limit: int | None,
    hints: bool,
    noise_dbfs: float,
    json_out: Path | None,
) -> None:
    """CER (kana readings) and latency per backend on synthesized booking phrases through a phone channel."""
    from ivr.speech.evaluation import HINT_WORDS, PHRASES, VOICES, build_test_set, score_recognizer

    turn_hints = Hints(words=HINT_WORDS) if hints else NO_HINTS

    started = time.monotonic()
    samples = build_test_set(PHRASES[:limit] if limit else PHRASES, VOICES, noise_dbfs=noise_dbfs)
    click.echo(f"test set: {len(samples)} utterances, {len(VOICES)} voices, built in {time.monotonic() - started:.1f} s", err=True)
    report = []
    for name in backend:
        settings = with_overrides(ctx.obj, asr_backend=name)
        try:
            recognizer = load_recognizer(settings, parallel=1, max_batch=1)
        except ModelError as exc:
            click.echo(f"{name}: not evaluated: {exc}", err=True)
            continue
        try:
            entry = {"backend": name, "hints": hints, "noise_dbfs": noise_dbfs,
                     **score_recognizer(recognizer, samples, turn_hints)}
        finally:
            recognizer.close()
        report.append(entry)
        click.echo(
            f"| {name} | {entry['utterances']} | {100 * entry['cer']:.1f} % | {entry['latency_median_s']:.2f} "
            f"| {entry['latency_p95_s']:.2f} | {entry['audio_median_s']:.1f} |"
        )
        for voice, value in entry["per_voice_cer"].items():
            click.echo(f"|   {voice} | | {100 * value:.1f} % | | | |")
    if json_out:
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=2))


@eval_group.command("understanding")
@click.option("--backend", type=click.Choice(["whisper", "vosk"]), default="whisper", show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N utterances of each answer type.")
@click.option("--voices", default=None, help="Comma-separated voice names (default: all): "
              "ojt-1.0, ojt-0.85-low, ojt-1.15-high, ojt-0.95-quiet, espeak.")
@click.option("--noise-dbfs", type=float, multiple=True, default=(-45.0, -60.0), show_default=True,
              help="White line noise level(s); repeat for several.")
@click.option("--write", is_flag=True, help="Replace the section in docs/BENCHMARKS.md.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Every turn as JSON (said, truth, n-best, confidence, outcomes).")
@click.pass_context
def eval_understanding(
    ctx: click.Context,
    backend: str,
    limit: int | None,
    voices: str | None,
    noise_dbfs: tuple[float, ...],
    write: bool,
    json_out: Path | None,
) -> None:
    """Turn accuracy of the dialog's understanding (by sound + closed sets) against plain-text parsing,
    on synthesized phone-line answers at the steps of the vaccine script."""
    import os

    from ivr import understanding_eval as ue

    try:
        chosen = ue.voices_named(voices)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--voices") from exc
    cases = ue.limited(ue.CASES, limit)
    load_start = os.getloadavg()[0]
    started = time.monotonic()
    settings = with_overrides(ctx.obj, asr_backend=backend)
    try:
        recognizer = load_recognizer(settings, parallel=1, max_batch=1)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    total = len(cases) * len(chosen) * len(noise_dbfs)
    click.echo(f"{len(cases)} answers x {len(chosen)} voices x noise {', '.join(f'{n:g}' for n in noise_dbfs)} dBFS"
               f" = {total} utterances", err=True)

    def progress(record: ue.Record) -> None:
        heard = " / ".join(record.nbest) or "(nothing)"
        click.echo(f"  [{record.voice} {record.noise_dbfs:g}] {record.case.text} -> {heard} "
                   f"({record.confidence:.2f}): {record.sound_result} / {record.plain_result}", err=True)

    try:
        warm = ue.synthesize(ue.CASES[0], chosen[0], seed=0, noise_dbfs=noise_dbfs[0])
        recognizer.recognize_sync(warm)  # warm-up, not counted
        records = ue.run(recognizer, cases, chosen, noise_levels=noise_dbfs, progress=progress)
    finally:
        recognizer.close()
    seconds = time.monotonic() - started
    argv = ["ivr eval understanding"]
    if backend != "whisper":
        argv.append(f"--backend {backend}")
    if limit is not None:
        argv.append(f"--limit {limit}")
    if voices:
        argv.append(f"--voices {voices}")
    if tuple(noise_dbfs) != ue.NOISE_LEVELS:
        argv += [f"--noise-dbfs {n:g}" for n in noise_dbfs]
    if write:
        argv.append("--write")
    text = ue.render(records, command=" ".join(argv), meta=ue.machine_note(load_start), seconds=seconds,
                     reference_records=ue.reference(cases))
    click.echo(text)
    decode = [r.decode_seconds for r in records]
    click.echo(f"\nrun time {seconds:.0f} s; median decode {statistics.median(decode):.2f} s", err=True)
    if json_out:
        json_out.write_text(json.dumps([ue.record_json(r) for r in records], ensure_ascii=False, indent=1))
    if write:
        ue.write_section(text)
        click.echo(f"wrote the section to {ue.BENCHMARKS}", err=True)


commands = [asr, eval_group]
