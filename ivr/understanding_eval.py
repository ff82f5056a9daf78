"""`ivr eval understanding`: does the dialog understand phone-line answers, by sound and by the step's closed set?

Each case is an answer a caller gives at one step of `dialogs/scripts/vaccine.yaml` (ticket number,
birth date, date, time, yes/no, the menu) or a non-answer (「えーと」), with the value it means and the
step's closed set (the open dates, the times offered that day). Each is synthesized in several
voices (Open JTalk at several speeds and pitches, espeak-ng), passed through the phone channel
(8 kHz μ-law, band limit, white noise) and recognized by the real recognizer with the hints the
engine gives for that step.

Two readings of the same recognizer output are scored:

- **by sound + constraints**: a real `dialogs.engine.Engine`, driven by keys and store results to
  the step (so its closed set, hints and confidence rule are the ones a call would have), is fed
  `Utterance(nbest, confidence)`; what it does next is classified from its actions
  (`read_turn`): the value accepted (the step it moves to, the value it stores), a confirmation
  question (a `Say(kind="readback")` then `Listen("yesno")`: the engine is then told 「はい」 to learn
  which value it was confirming), a reprompt or keypad step (missed), or a hand-over.
- **plain text, top hypothesis**: `dialogs.understand.from_speech(step, nbest[0])`, no reading, no
  closed set, no n-best.

A turn is *correct* when the engine acts on the true value or asks to confirm it (confirmations are
counted separately), *wrong* when it acts on or confirms another value, *missed* when it asks again
(or hands over). For a non-answer the right outcome is no value.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from dialogs.engine import Engine
from dialogs.messages import (
    Action, CheckOperators, Digits, Listen, Say, StoreCall, StoreResult, Transfer, Utterance,
)
from dialogs.script import Script, load_script
from dialogs.understand import from_speech
from ivr.listen_hints import hints_for
from ivr.speech.tts import Voice

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_PATH = ROOT / "dialogs" / "scripts" / "vaccine.yaml"
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:understanding:begin -->", "<!-- bench:understanding:end -->"
TITLE = "## Understanding (ivr eval understanding)"
TODAY = date(2026, 11, 30)  # a Monday
# "Mild" line noise, and the clean line of `ivr eval asr`: the second tells understanding from recognition.
NOISE_LEVELS = (-45.0, -60.0)

TYPES = ("digits", "date", "time", "birthdate", "yesno", "choice", "non-answer")
CORRECT, CONFIRMED, WRONG, MISSED = "correct", "confirmed", "wrong", "missed"


def _d(day: int, month: int = 12) -> date:
    return date(2026, month, day)


# The open dates of the coming weeks (includes every date said below, and some that are not said).
OPEN_DAYS = tuple(_d(d) for d in (1, 2, 3, 4, 7, 8, 9, 10, 11, 14, 16, 17, 18, 20))
# A day's offered times: the morning-and-afternoon list, an afternoon, an evening clinic.
DAY_TIMES = tuple(time.fromisoformat(t) for t in ("09:00", "10:00", "11:00", "13:00", "14:30", "16:30"))
AFTERNOON = tuple(time.fromisoformat(t) for t in ("13:30", "14:00", "15:00", "15:30", "16:00"))
EVENING = tuple(time.fromisoformat(t) for t in ("17:00", "17:30", "18:30", "19:00"))
SLOT_DAY = _d(3)  # the day whose times are offered at the time step


@dataclass(frozen=True)
class Case:
    """One answer: what is said, at which step of the script, what it means, the step's closed set."""

    text: str
    step: str
    truth: object  # None: a non-answer (the right outcome is no value)
    type: str
    closed: tuple = ()  # open dates (date step) or offered times (time step)


def _cases() -> tuple[Case, ...]:
    c: list[Case] = []
    for text, value in (
        ("一二三四五六七八九〇です", "1234567890"),
        ("三三五五〇一七七九九", "3355017799"),
        ("接種券番号は、八八〇二四六一一五九です", "8802461159"),
        ("五五五一二〇〇三四八", "5551200348"),
        ("七〇二二、九一三六、〇〇", "7022913600"),
        ("四四六八、一〇二〇、三七", "4468102037"),
    ):
        c.append(Case(text, "ticket", value, "digits"))
    for text, value in (
        ("あさってでお願いします", _d(2)),
        ("しあさって", _d(3)),
        ("十二月九日", _d(9)),
        ("二十日", _d(20)),
        ("四日", _d(4)),
        ("八日でお願いします", _d(8)),
        ("九日", _d(9)),
        ("来週の水曜日", _d(9)),
        ("あしたです", _d(1)),
        ("十二月十日がいいです", _d(10)),
        ("十一日", _d(11)),
        ("十二月十六日の水曜日", _d(16)),
    ):
        c.append(Case(text, "date", value, "date", OPEN_DAYS))
    for text, value, offered in (
        ("十時でお願いします", "10:00", DAY_TIMES),
        ("四時半", "16:30", DAY_TIMES),
        ("九時", "09:00", DAY_TIMES),
        ("一時", "13:00", DAY_TIMES),
        ("午後二時半", "14:30", DAY_TIMES),
        ("十一時です", "11:00", DAY_TIMES),
        ("七時", "19:00", EVENING),
        ("六時半でお願いします", "18:30", EVENING),
        ("三時", "15:00", AFTERNOON),
        ("二時でお願いします", "14:00", AFTERNOON),
    ):
        c.append(Case(text, "time", time.fromisoformat(value), "time", offered))
    for text, value in (
        ("昭和二十五年三月四日です", date(1950, 3, 4)),
        ("平成三年八月九日", date(1991, 8, 9)),
        ("昭和十年十月十日", date(1935, 10, 10)),
        ("昭和四十四年一月七日です", date(1969, 1, 7)),
        ("昭和三十八年十一月二十日", date(1963, 11, 20)),
        ("平成十二年十二月二日", date(2000, 12, 2)),
    ):
        c.append(Case(text, "birthdate", value, "birthdate"))
    for text, value in (
        ("はい、お願いします", True),
        ("いいえ、違います", False),
        ("はい", True),
        ("ええ、そうです", True),
        ("いいえ", False),
        ("はい、それでお願いします", True),
    ):
        c.append(Case(text, "readback", value, "yesno"))
    for text, value in (
        ("予約したいです", "book"),
        ("確認をお願いします", "check"),
        ("キャンセルしたい", "cancel"),
        ("変更したいです", "move"),
        ("予約の取り消しをお願いします", "cancel"),
        ("日にちを変えたいです", "move"),
        ("新しく予約をお願いします", "book"),
    ):
        c.append(Case(text, "menu", value, "choice"))
    for text, step, closed in (
        ("ちょっと待ってください", "date", OPEN_DAYS),
        ("えーと", "time", DAY_TIMES),
        ("えーと、ちょっと待ってくださいね", "ticket", ()),
        ("もしもし", "menu", ()),
        ("ええと、なんだったかな", "birthdate", ()),
    ):
        c.append(Case(text, step, None, "non-answer", closed))
    return tuple(c)


CASES = _cases()


@dataclass(frozen=True)
class NamedVoice:
    name: str
    voice: Voice


VOICES: tuple[NamedVoice, ...] = (
    NamedVoice("ojt-1.0", Voice(speed=1.0, volume_dbfs=-6.0)),
    NamedVoice("ojt-0.85-low", Voice(speed=0.85, volume_dbfs=-4.0, half_tone=-3.0)),
    NamedVoice("ojt-1.15-high", Voice(speed=1.15, volume_dbfs=-9.0, half_tone=3.0)),
    NamedVoice("ojt-0.95-quiet", Voice(speed=0.95, volume_dbfs=-12.0, half_tone=-1.0)),
    NamedVoice("espeak", Voice(backend="espeak", speed=1.0, volume_dbfs=-6.0)),
)


def voices_named(names: str | None) -> tuple[NamedVoice, ...]:
    if not names:
        return VOICES
    known = {v.name: v for v in VOICES}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown voice(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return tuple(known[n] for n in wanted)


def limited(cases: Sequence[Case], limit: int | None) -> tuple[Case, ...]:
    """The first `limit` cases of each answer type (all when None)."""
    if limit is None:
        return tuple(cases)
    seen: dict[str, int] = {}
    kept = []
    for case in cases:
        seen[case.type] = seen.get(case.type, 0) + 1
        if seen[case.type] <= limit:
            kept.append(case)
    return tuple(kept)


# ---------------------------------------------------------------------------------------- engine


def _slots(times: Iterable[time]) -> list[dict]:
    return [{"id": i, "date": SLOT_DAY.isoformat(), "time": f"{at:%H:%M}", "site": "市役所本庁舎", "available": 2}
            for i, at in enumerate(sorted(times), 1)]


def engine_at(script: Script, case: Case) -> tuple[Engine, Listen]:
    """A real engine, driven by keys and store results to the case's step: (engine, its Listen there)."""
    days = case.closed if case.step == "date" else ()
    engine = Engine(script, today=TODAY, open_days=days)
    offered = case.closed if case.step == "time" else DAY_TIMES
    route: list = [Digits("1"), Digits("1234567890#"), Digits("19600101#"), Digits(f"{SLOT_DAY:%m%d}#"),
                   StoreResult("find_available", True, {"slots": _slots(offered)}),
                   Digits(f"{min(offered):%H%M}#"), StoreResult("hold", True, {"hold_id": 1})]
    actions = engine.start()
    for event in route:
        if engine.step == case.step and actions and isinstance(actions[-1], Listen):
            break
        actions = engine.handle(event)
    if engine.step != case.step or not isinstance(actions[-1], Listen):
        raise RuntimeError(f"could not drive the engine to step {case.step!r} (at {engine.step!r}: {actions!r})")
    return engine, actions[-1]


@dataclass(frozen=True)
class Turn:
    """What the dialog did with an answer.

    act: accept (acted on `value`), confirm (asked to confirm `value`), reprompt, keypad,
         operator (a hand-over), restart (back to the menu), other.
    """

    act: str
    value: object = None
    said: str = ""  # the readback or reprompt text, for the list of misses


def read_turn(script: Script, step_name: str, actions: Sequence[Action], values: Mapping[str, object],
              entered: Sequence[str]) -> Turn:
    """Classify the engine's answer to one utterance at `step_name`.

    `actions` is what `handle` returned, `values` the engine's values after it, `entered` the steps
    entered during the turn (the tail of `engine.history`).
    """
    step = script.steps[step_name]
    said = next((a.text for a in actions if isinstance(a, Say)), "")
    if any(isinstance(a, (CheckOperators, Transfer)) for a in actions):
        return Turn("operator", said=said)
    if entered:
        if entered[0] == script.restart:  # an accepted answer never leads back to the menu
            return Turn("restart", said=said)
        return Turn("accept", _accepted(step, values, entered[0]), said=said)
    last = actions[-1] if actions else None
    if isinstance(last, Listen):
        readback = next((a.text for a in actions if isinstance(a, Say) and a.kind == "readback"), None)
        if readback is not None and last.kind == "yesno" and step.ask != "yesno":
            return Turn("confirm", said=readback)
        if last.keypad:
            return Turn("keypad", said=said)
        return Turn("reprompt", said=said)
    return Turn("other", said=said)


def _accepted(step, values: Mapping[str, object], entered: str) -> object:
    """The value the engine accepted at `step`, from the step it went on to and the values it stored."""
    if step.ask in ("yesno", "choice") and not step.store_as:
        outcome = next((k for k, target in step.next.items() if target == entered), None)
        return {"yes": True, "no": False}.get(outcome, outcome) if step.ask == "yesno" else outcome
    if step.ask == "time":
        return values.get("time")
    return values.get(step.store_as or step.ask or "value")


def classify(truth: object, turn: Turn) -> str:
    """correct | confirmed | wrong | missed (for a non-answer, truth None: no value is correct)."""
    if truth is None:
        return WRONG if turn.act in ("accept", "confirm", "operator", "restart") else CORRECT
    if turn.act == "accept":
        return CORRECT if turn.value == truth else WRONG
    if turn.act == "confirm":
        return CONFIRMED if turn.value == truth else WRONG
    return MISSED


def engine_turn(script: Script, case: Case, nbest: tuple[str, ...], confidence: float,
                prepared: tuple[Engine, Listen] | None = None) -> Turn:
    """Feed one recognition to an engine waiting at the case's step; a confirmation is answered 「はい」
    so that the confirmed value is known."""
    engine, _ = prepared or engine_at(script, case)
    mark = len(engine.history)
    actions = engine.handle(Utterance(nbest, confidence))
    turn = read_turn(script, case.step, actions, engine.values, engine.history[mark:])
    if turn.act != "confirm":
        return turn
    mark = len(engine.history)
    after = engine.handle(Utterance(("はい",), 1.0))
    confirmed = read_turn(script, case.step, after, engine.values, engine.history[mark:])
    return Turn("confirm", confirmed.value if confirmed.act == "accept" else None, said=turn.said)


def plain_turn(script: Script, case: Case, nbest: tuple[str, ...]) -> Turn:
    """The baseline: the top hypothesis parsed as spelled, no closed set."""
    value = from_speech(script.steps[case.step], nbest[0], today=TODAY) if nbest else None
    return Turn("reprompt") if value is None else Turn("accept", value)


# ---------------------------------------------------------------------------------------- running


@dataclass
class Record:
    case: Case
    voice: str
    nbest: tuple[str, ...]
    confidence: float
    decode_seconds: float
    sound: Turn
    plain: Turn
    noise_dbfs: float = NOISE_LEVELS[0]
    sound_result: str = field(init=False)
    plain_result: str = field(init=False)

    def __post_init__(self) -> None:
        self.sound_result = classify(self.case.truth, self.sound)
        self.plain_result = classify(self.case.truth, self.plain)


def synthesize(case: Case, voice: NamedVoice, *, seed: int, noise_dbfs: float) -> bytes:
    from ivr.speech.evaluation import synthesize_phone

    return synthesize_phone(case.text, voice.voice, seed=seed, noise_dbfs=noise_dbfs)


def run(recognizer, cases: Sequence[Case], voices: Sequence[NamedVoice], *,
        noise_levels: Sequence[float] = NOISE_LEVELS, script: Script | None = None,
        progress: Callable[[Record], None] | None = None) -> list[Record]:
    """Synthesize, recognize and score every case in every voice at every noise level (one utterance at
    a time; the same noise seed for a case and voice at every level)."""
    script = script or load_script(SCRIPT_PATH)
    records = []
    for noise in noise_levels:
        seed = 0
        for voice in voices:
            for case in cases:
                seed += 1
                pcm8k = synthesize(case, voice, seed=seed, noise_dbfs=noise)
                prepared = engine_at(script, case)
                result = recognizer.recognize_sync(pcm8k, hints_for(prepared[1]))
                nbest = tuple(t for t in (result.nbest or (result.text,)) if t)  # as ivr.session builds the Utterance
                confidence = float(result.confidence or 0.0)
                record = Record(case, voice.name, nbest, confidence, result.decode_seconds,
                                engine_turn(script, case, nbest, confidence, prepared), plain_turn(script, case, nbest),
                                noise)
                records.append(record)
                if progress:
                    progress(record)
    return records


def reference(cases: Sequence[Case], script: Script | None = None) -> list[Record]:
    """The engine and the baseline given the exact text that was spoken (no audio, confidence 1.0):
    what fails here fails in understanding, whatever the recognizer does."""
    script = script or load_script(SCRIPT_PATH)
    return [Record(case, "text", (case.text,), 1.0, 0.0, engine_turn(script, case, (case.text,), 1.0),
                   plain_turn(script, case, (case.text,)), float("nan")) for case in cases]


# ---------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Tally:
    turns: int
    correct: int  # correct + confirmed
    confirmed: int
    wrong: int
    wrong_confirmed: int
    missed: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.turns if self.turns else float("nan")


def tally(records: Sequence[Record], column: str) -> Tally:
    results = [getattr(r, f"{column}_result") for r in records]
    turns = [getattr(r, column) for r in records]
    return Tally(
        turns=len(results),
        correct=sum(r in (CORRECT, CONFIRMED) for r in results),
        confirmed=results.count(CONFIRMED),
        wrong=results.count(WRONG),
        wrong_confirmed=sum(r == WRONG and t.act == "confirm" for r, t in zip(results, turns)),
        missed=results.count(MISSED),
    )


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def confidence_figures(records: Sequence[Record]) -> dict[str, dict[str, float]]:
    """Whisper confidence of the turns (answers only) the engine got right, confirmed-right, and wrong."""
    groups = {
        "correct (acted on)": [r.confidence for r in records if r.case.truth is not None and r.sound_result == CORRECT],
        "correct (confirmed)": [r.confidence for r in records if r.case.truth is not None and r.sound_result == CONFIRMED],
        "wrong": [r.confidence for r in records if r.case.truth is not None and r.sound_result == WRONG],
        "missed": [r.confidence for r in records if r.case.truth is not None and r.sound_result == MISSED],
        "non-answers": [r.confidence for r in records if r.case.truth is None],
    }
    return {name: {"n": len(v), "median": statistics.median(v) if v else float("nan"), "p10": _quantile(v, 0.1),
                   "p90": _quantile(v, 0.9)} for name, v in groups.items()}


def threshold_effect(records: Sequence[Record], thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7)) -> list[tuple]:
    """For candidate `confirm_below` values: right answers acted on now that would be confirmed first,
    and wrong values acted on now that would be confirmed (the caller can say いいえ) instead."""
    rows = []
    answers = [r for r in records if r.case.truth is not None]
    for t in thresholds:
        right = sum(r.sound_result == CORRECT and r.confidence < t for r in answers)
        wrong = sum(r.sound_result == WRONG and r.sound.act == "accept" and r.confidence < t for r in answers)
        rows.append((t, right, sum(r.sound_result == CORRECT for r in answers), wrong,
                     sum(r.sound_result == WRONG and r.sound.act == "accept" for r in answers)))
    return rows


def _value_text(value: object) -> str:
    if isinstance(value, time):
        return f"{value:%H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return "–" if value is None else str(value)


def _turn_text(turn: Turn) -> str:
    if turn.act == "accept":
        return f"acted on {_value_text(turn.value)}"
    if turn.act == "confirm":
        return f"confirmed {_value_text(turn.value)} (「{turn.said}」)"
    return turn.act


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _noise_label(noise: float) -> str:
    return f"{noise:g} dBFS".replace("-", "−")


def render(records: Sequence[Record], *, command: str, meta: str, seconds: float,
           reference_records: Sequence[Record] = ()) -> str:
    """The markdown section: accuracy per answer type and overall, per voice, confidences, the misses,
    for each noise level; first the same answers given as exact text."""
    voices = list(dict.fromkeys(r.voice for r in records))
    levels = list(dict.fromkeys(r.noise_dbfs for r in records))
    cases = list(dict.fromkeys(r.case for r in records))
    lines = [TITLE, "", f"`{command}` on {meta}; {seconds / 60:.1f} min for {len(records)} utterances.", ""]
    lines += [
        f"{len(cases)} answers and non-answers at the steps of `dialogs/scripts/vaccine.yaml` (today "
        f"{TODAY:%Y-%m-%d}, a Monday) × {len(voices)} voices ({', '.join(voices)}: Open JTalk at several speeds, "
        "pitches and levels; espeak-ng reading Open JTalk's kana) × line noise "
        f"{' and '.join(_noise_label(n) for n in levels)} (white, through the phone channel: 300-3400 Hz, G.711 "
        "μ-law, 8 kHz), recognized by Whisper base (short window, beam 5, 3 hypotheses, one utterance at a time) "
        "with the hints the engine gives at that step, as the runtime passes them (ivr.listen_hints).",
        "",
        "**By sound + constraints**: a real `Engine` driven to the step by keys and store results (the open "
        "dates / the day's offered times as its closed set, the script's `confirm_below`) gets "
        "`Utterance(nbest, confidence)`; its actions are classified (`ivr.understanding_eval.read_turn`): a value "
        "accepted (the step it goes on to, the value it stores), a confirmation (a `readback` Say and "
        "`Listen(yesno)`; the engine is then answered はい to see the value), a reprompt or keypad step. "
        "**Plain text**: `from_speech(step, nbest[0])`, no reading, no closed set. Correct = the true value "
        "acted on or confirmed; for a non-answer, no value. Wrong = another value acted on or confirmed "
        "(of which confirmed in brackets); missed = asked again, or handed over.",
    ]
    if reference_records:
        s, p = tally(reference_records, "sound"), tally(reference_records, "plain")
        failures = [r for r in reference_records if r.sound_result in (WRONG, MISSED)]
        lines += ["", "### The exact text, no audio",
                  "", f"The spoken text itself as the only hypothesis (confidence 1.0): by sound {s.correct} of "
                  f"{s.turns} right, plain text {p.correct} of {p.turns}. Not right by sound: "
                  + ("none." if not failures else "")]
        if failures:
            lines += ["", "| type | step | said | truth | by sound | plain text |", "|---|---|---|---|---|---|"]
            lines += [f"| {r.case.type} | {r.case.step} | {_cell(r.case.text)} | {_value_text(r.case.truth)} "
                      f"| {r.sound_result}: {_cell(_turn_text(r.sound))} | {r.plain_result}: {_cell(_turn_text(r.plain))} |"
                      for r in failures]
    for noise in levels:
        lines += ["", f"### Line noise {_noise_label(noise)}", ""]
        lines += _level(records=[r for r in records if r.noise_dbfs == noise], voices=voices)
    return "\n".join(lines)


def _level(records: Sequence[Record], voices: Sequence[str]) -> list[str]:
    types = [t for t in TYPES if any(r.case.type == t for r in records)]
    lines = [
        "| answer type | turns | by sound: correct | of which confirmed | wrong | missed "
        "| plain text: correct | wrong | missed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def row(label: str, subset: Sequence[Record]) -> str:
        s, p = tally(subset, "sound"), tally(subset, "plain")
        bold = "**" if label == "overall" else ""
        return (f"| {bold}{label}{bold} | {s.turns} | {bold}{_pct(s.correct, s.turns)}{bold} ({s.correct}) "
                f"| {_pct(s.confirmed, s.turns)} ({s.confirmed}) | {s.wrong} ({s.wrong_confirmed}) | {s.missed} "
                f"| {bold}{_pct(p.correct, p.turns)}{bold} ({p.correct}) | {p.wrong} | {p.missed} |")

    for t in types:
        lines.append(row(t, [r for r in records if r.case.type == t]))
    lines.append(row("overall", records))
    lines += ["", "| voice | turns | by sound: correct | confirmed | wrong | missed | plain text: correct |",
              "|---|---|---|---|---|---|---|"]
    for v in voices:
        subset = [r for r in records if r.voice == v]
        s, p = tally(subset, "sound"), tally(subset, "plain")
        lines.append(f"| {v} | {s.turns} | {_pct(s.correct, s.turns)} | {s.confirmed} | {s.wrong} | {s.missed} "
                     f"| {_pct(p.correct, p.turns)} |")
    lines += ["", "Whisper confidence (exp of the top hypothesis' score) by the outcome of the turn by sound, "
              "answers only (non-answers apart), to calibrate `confirm_below` (the vaccine script sets none: 0):", "",
              "| turns | n | median | p10 | p90 |", "|---|---|---|---|---|"]
    for name, f in confidence_figures(records).items():
        lines.append(f"| {name} | {f['n']} | {f['median']:.2f} | {f['p10']:.2f} | {f['p90']:.2f} |")
    lines += ["", "| confirm_below | right answers acted on that would be confirmed first "
              "| wrong values acted on that would be confirmed instead |", "|---|---|---|"]
    for t, right, right_all, wrong, wrong_all in threshold_effect(records):
        lines.append(f"| {t:.1f} | {right} of {right_all} | {wrong} of {wrong_all} |")
    misses = [r for r in records if r.sound_result in (WRONG, MISSED)]
    lines += ["", f"<details><summary>Turns not right by sound ({len(misses)}): what was said, what Whisper heard "
              "(n-best), what the engine did; the plain-text outcome last.</summary>", "",
              "| voice | type | said | truth | recognized (n-best) | conf. | by sound | plain text |",
              "|---|---|---|---|---|---|---|---|"]
    for r in misses:
        heard = " / ".join(r.nbest) if r.nbest else "(nothing)"
        lines.append(f"| {r.voice} | {r.case.type} | {_cell(r.case.text)} | {_value_text(r.case.truth)} "
                     f"| {_cell(heard)} | {r.confidence:.2f} | {r.sound_result}: {_cell(_turn_text(r.sound))} "
                     f"| {r.plain_result}: {_cell(_turn_text(r.plain))} |")
    return lines + ["", "</details>"]


def machine_note(load_start: float) -> str:
    load_end = os.getloadavg()[0]
    revision = "unknown revision"
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "dialogs"], capture_output=True,
                               text=True, check=True).stdout.strip()
        revision = f"dialogs/ at {head}" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return (f"{platform.machine()} ({os.cpu_count()} cores), {datetime.now(UTC):%Y-%m-%d}, {revision}; 1-minute "
            f"load average {load_start:.1f} at the start, {load_end:.1f} at the end (shared machine)")


def write_section(text: str, path: Path = BENCHMARKS) -> None:
    if str(ROOT) not in sys.path:  # bench/ is the checkout's, not an installed package
        sys.path.insert(0, str(ROOT))
    from bench.sections import replace_section

    replace_section(path, BEGIN, END, text)





def record_json(r: Record) -> dict:
    return {
        "voice": r.voice, "noise_dbfs": r.noise_dbfs, "type": r.case.type, "step": r.case.step, "said": r.case.text,
        "truth": _value_text(r.case.truth), "nbest": list(r.nbest), "confidence": round(r.confidence, 3),
        "decode_seconds": round(r.decode_seconds, 3),
        "by_sound": {"result": r.sound_result, "act": r.sound.act, "value": _value_text(r.sound.value), "said": r.sound.said},
        "plain": {"result": r.plain_result, "value": _value_text(r.plain.value)},
    }
