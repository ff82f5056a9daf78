"""Peak load: N booking calls arriving within a few seconds (a 9:00 rush), through the real Asterisk
into a real `ivr serve` process (SQLite, its own database, Whisper base, Open JTalk).

    python bench/peak.py [--calls 8,16,32,48] [--via local|sip|local,sip] [--workers K] [--spread 5]
                         [--profile] [--write]

The callers cost next to nothing, so that the figures are the product's: one asyncio process places
every call. `--via local` (the default): AMI `Originate` of `Local/probe@test-caller`, whose other
side runs an AudioSocket back to this process, as `ivr.simulator.caller` does. `--via sip`: each
caller is a SIP user agent of its own (`bench/sip_caller.py`) calling the `trunk` endpoint from
127.0.0.1, G.711 μ-law RTP both ways and RFC 4733 keys. `--via local,sip` runs a round of each for
every N; with `--write`, rows of a transport the run did not measure are kept from the section.

Each caller's answers are Open JTalk renderings in a caller voice unlike the IVR's (speed 1.05,
half tone −3, through the phone channel: band limit, noise, mu-law), made once before the first
call. A caller hears the IVR by loudness alone: a prompt ends after 0.7 s without voice, and which
prompt it was comes from its loudness envelope matched against the line's own prompts rendered
once in the IVR's voice (`bench/prompt_match.py`), not from a recognizer. Over Local channels keys are sent like the simulator sends them (AMI `PlayDTMF`
on the caller's side of the Local channel, so the IVR receives them like a phone's); over SIP as
RFC 4733 events in the caller's RTP.

Each caller books: 予約をお願いします; its own ticket number digit by digit; 昭和40年5月6日です; the
round's date; a time (callers spread over the day's 14 half-hour slots, each with room for all of
its callers); はい at the read-back; then it waits for the booking code and the IVR's hang-up. A
confirmation (「…ですね」) of what it said gets はい, of something else いいえ; a request for keys
(「ボタンで…」) gets the keys; a prompt it cannot place gets its last answer again.

Admission is the product's: Asterisk lets as many calls into the IVR at once as the line has seats
(the product's default unless `--seats`), and the others wait in its queue, hearing their position
and expected wait, or past the waiting limit (`--max-waiting`) the busy message, after which they
leave a call-back request with key 1.

Reported per N: bookings made (checked afterwards in the store per caller, and counted through the
HTTP API), callers who waited for a seat and how long, callers turned away, failures, reply latency, the wait from the final はい to the first
audio of 予約しました, booking call duration, the CPU and peak memory of the `ivr serve` process
tree (its synthesis workers included) from /proc, and this process's own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
import wave

import numpy as np
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.prompt_match import PREFIX, VOICED_DB, Parse, PromptLibrary, envelope  # noqa: E402
from bench.sections import replace_section  # noqa: E402
from bench.sip_caller import SipDialer  # noqa: E402
from dialogs.engine import callback_steps, keypad_prompt  # noqa: E402
from dialogs.readings import birthdate_reading, date_reading, digits_reading, time_reading  # noqa: E402
from dialogs.render import render as render_text  # noqa: E402
from dialogs.script import load_script  # noqa: E402
from ivr.config import Settings  # noqa: E402
from ivr.line import FIXED_PROMPTS, line_prompts  # noqa: E402
from ivr.session import APOLOGY_GOODBYE, APOLOGY_TRANSFER  # noqa: E402
from ivr.simulator.caller import CallerSimulator, SimulatorError, SimulatorConfig, _field  # noqa: E402
from ivr.speech.audio import phone_channel, resample  # noqa: E402
from ivr.speech.tts import OpenJTalkBackend, PromptCache, Voice, split_stream_pieces, voice_from_settings  # noqa: E402
from slots import store  # noqa: E402
from slots.batches import BatchSpec  # noqa: E402
from slots.db import make_engine, make_sessionmaker, run_in_transaction, upgrade  # noqa: E402
from slots.person import Person  # noqa: E402
from sqlalchemy import text  # noqa: E402
from telephony.ami.client import AmiClient  # noqa: E402
from telephony.asterisk import caller_ami_user  # noqa: E402
from telephony.asterisk_runtime import AsteriskRuntime, RuntimeConfig  # noqa: E402

BEGIN, END = "<!-- bench:peak:begin -->", "<!-- bench:peak:end -->"
#: the `--profile` run's part, inside the section: each kind of run replaces only its own part
PROFILE_BEGIN, PROFILE_END = "<!-- bench:peak-profile:begin -->", "<!-- bench:peak-profile:end -->"
PERSON_KEY = "bench-peak-person-key"
SERVICE, SITE = "vaccine", "市民会館"
BIRTH = date(1965, 5, 6)
SAID_BIRTH = "昭和40年5月6日です"
#: the caller's voice: faster and lower than the IVR's (Open JTalk's default voice at speed 0.9); the
#: simulator's default caller. At half tone +2 Whisper base heard 昭和 as 動画 and most times wrongly.
CALLER_VOICE = Voice(speed=1.05, half_tone=-3.0, volume_dbfs=-6.0)
RELEASE_TIMES = ("09:00-12:00", "13:00-17:00")
TIMES = tuple(dtime(h, m) for h in (9, 10, 11, 13, 14, 15, 16) for m in (0, 30))  # the 14 slots of a day
UNKNOWN = "〓"  # stands for a placeholder the caller cannot know, while a prompt is cut into pieces
SCRIPT_PLACEHOLDERS = {"title", "operator_key", "yes_key", "no_key"}
KNOWN_PLACEHOLDERS = {"title", "operator_key", "yes_key", "no_key", "day", "date", "time", "site", "birthdate"}
HEAD_FRAMES = 2  # audio kept from before a prompt's first voiced frame, for the matcher
MORE_WAIT = 3.0  # a prompt heard in part: how long to wait for the rest after its last voice
UNKNOWN_WAIT = 1.0  # a prompt not placed: how much longer to wait in case more comes (pieces pause ~1 s)
SAID_THEN_QUIET = 3.0  # after a statement, this long without voice: the line waits for an answer (it asks after 5 s)
VOICED_RMS = 32768 * 10 ** (VOICED_DB / 20)  # a 20 ms frame louder than VOICED_DB


def _numpy_rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt(samples @ samples / samples.size))


try:  # the C one is about a hundred times cheaper per 20 ms frame than numpy's call overhead
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    def _rms(pcm: bytes) -> float:
        return float(audioop.rms(pcm[: len(pcm) - len(pcm) % 2], 2))
except ImportError:  # Python 3.13 dropped audioop
    _rms = _numpy_rms


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_days(today: date, count: int) -> list[date]:
    """Days from today + 10 whose dates read regularly (11th-31st but the 14th, 20th, 24th: ついたち,
    はつか and the like are what a small recognizer gets wrong)."""
    days, day = [], today + timedelta(days=10)
    while len(days) < count:
        if day.day >= 11 and day.day not in (14, 20, 24):
            days.append(day)
        day += timedelta(days=1)
    return days


def make_tickets(count: int, rng: random.Random) -> list[str]:
    """Distinct 10-digit ticket numbers without zeros (ゼロ/レイ are the small recognizer's worst digits)
    and without a digit said twice in a row (Whisper base drops one of 7、7)."""
    tickets: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < count:
        digits = [rng.randint(1, 9)]
        while len(digits) < 10:
            digit = rng.randint(1, 9)
            if digit != digits[-1]:
                digits.append(digit)
        ticket = "".join(map(str, digits))
        if ticket not in tickets:
            tickets.add(ticket)
            ordered.append(ticket)
    return ordered


def said_time(at: dtime, *, minutes: bool = False) -> str:
    """午前10時半でお願いします; with `minutes`, 午前10時30分です (how a caller says it again)."""
    hour = f"{'午前' if at.hour < 12 else '午後'}{at.hour if at.hour <= 12 else at.hour - 12}時"
    if minutes:
        return f"{hour}{at.minute}分です" if at.minute else f"{hour}ちょうどです"
    return f"{hour}{'半' if at.minute == 30 else ''}でお願いします"


# -- process figures from /proc ----------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_usage(root: int, pids: list[int] | None = None) -> tuple[float, int]:
    """(CPU seconds of the tree, reaped children included; resident bytes of the tree)."""
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    cpu, rss = 0.0, 0
    for pid in pids if pids is not None else process_tree(root):
        fields = _stat(pid)
        if fields is None:
            continue
        cpu += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        rss += int(fields[21]) * page
    return cpu, rss


def peak_rss(pid: int) -> int:
    """VmHWM: the process's own peak resident set, bytes."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TreeSampler:
    """Samples the `ivr serve` tree's resident memory twice a second while a round runs."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        pids: list[int] = []
        for sample in range(10**9):
            if sample % 30 == 0:  # the tree itself changes rarely (a synthesis worker replaced)
                pids = process_tree(self.root)
            self.peak = max(self.peak, tree_usage(self.root, pids)[1])
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self.peak = tree_usage(self.root)[1]
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.peak


# -- what the caller says and what it knows the line says --------------------------------------
@dataclass(frozen=True)
class Plan:
    index: int
    ticket: str
    caller_id: str
    day: date
    at: dtime
    delay: float  # seconds after the round's start


@dataclass(frozen=True)
class Answer:
    speech: str  # what the caller says
    keys: str  # the same answer on the keypad
    again: str = ""  # what the caller says when asked again (people rephrase; the same audio gets the same mistake)


def answers_for(plan: Plan, script: Any) -> dict[str, Answer]:
    yes, no = "はい", "いいえ、違います"  # a bare いいえ in this voice, Whisper base hears as ねえ
    return {
        "menu": Answer("予約をお願いします", "1"),
        "ticket": Answer("、".join(plan.ticket), plan.ticket + "#"),
        "birthdate": Answer(SAID_BIRTH, BIRTH.strftime("%Y%m%d")),
        "date": Answer(f"{plan.day.month}月{plan.day.day}日でお願いします", f"{plan.day:%m%d}"),
        "time": Answer(said_time(plan.at), f"{plan.at:%H%M}", said_time(plan.at, minutes=True)),
        "time_full": Answer("一番早い時間でお願いします", f"{plan.at:%H%M}"),
        "readback": Answer(yes, script.yes_key),
        "change": Answer("日にちを変えます", "1"),  # after a no at a read-back of the wrong slot: date and time again
        "callback_offer": Answer(no, script.no_key),
        "not_found": Answer(no, script.no_key),
        "yes": Answer(yes, script.yes_key),
        "no": Answer(no, script.no_key),
    }


class Voices:
    """The caller's answers, rendered once (and kept on disk between runs)."""

    def __init__(self, cache_dir: Path) -> None:
        self.backend = OpenJTalkBackend(CALLER_VOICE)
        self.cache = PromptCache(cache_dir)
        self.audio: dict[str, tuple[bytes, float]] = {}  # text -> (pcm, seconds of silence after the speech)
        self.rendered = 0

    def render(self, text: str) -> tuple[bytes, float]:
        if text not in self.audio:
            key = CALLER_VOICE.key("phone-channel:" + text)
            pcm = self.cache.get(key)
            if pcm is None:
                wide = resample(self.backend.synthesize(text), 8000, 16000)
                pcm = phone_channel(wide, noise_dbfs=-60.0, seed=len(text))
                self.cache.put(key, pcm)
                self.rendered += 1
            env = envelope(pcm)
            voiced = [i for i, level in enumerate(env) if level > VOICED_DB]
            trailing = (len(env) - (voiced[-1] + 1)) * 0.010 if voiced else 0.0
            self.audio[text] = (pcm, trailing)
        return self.audio[text]


class LineVoice:
    """Pieces of the IVR's prompts in the IVR's own voice, rendered once (kept on disk between runs)."""

    def __init__(self, settings: Settings, cache_dir: Path) -> None:
        self.voice = voice_from_settings(settings)
        self.backend = OpenJTalkBackend(self.voice)
        self.cache = PromptCache(cache_dir)
        self.rendered = 0

    def __call__(self, text: str) -> bytes:
        key = self.voice.key(text.strip())
        pcm = self.cache.get(key)
        if pcm is None:
            pcm = self.backend.synthesize(text.strip())
            self.cache.put(key, pcm)
            self.rendered += 1
        return pcm


def pieces_of(template: str, values: dict, script: Any, *, known: set[str] = KNOWN_PLACEHOLDERS) -> list[str | None]:
    """A prompt as the session plays it (`split_stream_pieces`), None for a piece with unknown data."""
    def mark(match: re.Match[str]) -> str:
        name = match.group(1)
        return match.group(0) if name in known else UNKNOWN

    said = render_text(re.sub(r"\{(\w+)\}", mark, template), values, script)
    return [None if UNKNOWN in piece else piece for piece in (split_stream_pieces(said) or [said])]


def common_library(script: Any, line: LineVoice) -> PromptLibrary:
    """What the line can say to anybody: fixed prompts, and the heads of the others."""
    library = PromptLibrary(line)
    m = script.messages
    for label, message in (("say:transfer", m["transfer"]), ("say:goodbye", m["goodbye"]), ("say:error", m["error"]),
                           ("say:no_operator", m["no_operator"]), ("apology", APOLOGY_TRANSFER),
                           ("apology", APOLOGY_GOODBYE)):
        library.add(label, pieces_of(message, {}, script))
        library.add(label, [message])  # said in one piece (the session's apology)
    add_line_prompts(library)
    return library


def add_line_prompts(library: PromptLibrary) -> None:
    """What Asterisk's admission queue plays before a seat is free (sound files, one piece each):
    the entry announcement with the position and expected wait, the reminder every 30 s, and past the
    waiting limit the busy message with the call-back offer."""
    crowded, hold_on = FIXED_PROMPTS["line-crowded"], FIXED_PROMPTS["line-hold-on"]
    library.add("line:waiting", [crowded, None, hold_on])  # position-N, wait-M in between
    library.add("line:hold-on", [hold_on])
    library.add("line:busy", [FIXED_PROMPTS["busy"], FIXED_PROMPTS["callback-offer-own"]])
    library.add("line:callback-done", [FIXED_PROMPTS["callback-done"]])


def caller_library(base: PromptLibrary, script: Any, plan: Plan) -> PromptLibrary:
    """The common prompts plus the ones whose words this caller can foresee (its date, time, number)."""
    library = base.extended()
    m = script.messages
    values = {"date": plan.day, "time": plan.at, "site": SITE, "birthdate": BIRTH, "mode": "book"}
    for step in [*script.steps.values(), *callback_steps(script).values()]:
        if not step.say:
            continue
        kind = "ask" if step.ask else "say"
        library.add(f"{kind}:{step.name}", pieces_of(step.say, values, script))
        if step.ask:
            library.add(f"reprompt:{step.name}", pieces_of(step.reprompt or m["reprompt"] + step.say, values, script))
            # ... and about a value the IVR misheard (a read-back of another slot not understood)
            library.add(f"reprompt:{step.name}", pieces_of(step.reprompt or m["reprompt"] + step.say, values, script,
                                                           known=SCRIPT_PLACEHOLDERS))
            library.add(f"noinput:{step.name}", pieces_of(m["no_input"] + step.say, values, script))
            for lead in (m["reprompt"], m["no_input"]):
                library.add(f"keypad:{step.name}", pieces_of(keypad_prompt(script, step, lead), values, script))
    confirm = m["confirm"]
    heard = {
        "ticket": digits_reading(plan.ticket),
        "birthdate": birthdate_reading(BIRTH),
        "date": date_reading(plan.day, weekday=False),
        "time": time_reading(plan.at),
    }
    for step_name, reading in heard.items():
        library.add(f"confirm:{step_name}:yes", split_stream_pieces(confirm.replace("{heard}", reading)))
    menu = script.steps["menu"]
    for option in menu.options:
        if option.words:
            answer = "yes" if option.key == "book" else "no"
            library.add(f"confirm:menu:{answer}", split_stream_pieces(confirm.replace("{heard}", option.words[0])))
    return library


# -- one caller --------------------------------------------------------------------------------
class Ear:
    """When is the IVR talking? Like `ivr.simulator.prompts.PromptTracker` (same threshold), with one
    dot product per frame and no copy of the audio: `feed` returns "started", "ended" or None."""

    def __init__(self, gap: float) -> None:
        self.gap = gap
        self.talking = False
        self.last_voice = 0.0

    def feed(self, pcm: bytes, now: float) -> tuple[str | None, bool]:
        voiced = len(pcm) >= 2 and _rms(pcm) > VOICED_RMS
        if voiced:
            self.last_voice = now
            if not self.talking:
                self.talking = True
                return "started", True
            return None, True
        if self.talking and now - self.last_voice >= self.gap:
            self.talking = False
            return "ended", False
        return None, False


@dataclass
class CallLog:
    plan: Plan
    said: list[tuple[float, str, str]] = field(default_factory=list)  # (at, step, what)
    heard: list[tuple[float, list[str]]] = field(default_factory=list)  # (prompt start, labels)
    latencies: list[float] = field(default_factory=list)  # end of a spoken answer -> first audio of the reply
    key_latencies: list[float] = field(default_factory=list)
    yes_to_booked: float | None = None
    duration: float = 0.0
    ended_by: str = ""  # ivr | caller | timeout | error
    heard_booked: bool = False
    heard_apology: bool = False
    transferred: bool = False
    confirmations: int = 0
    reprompts: int = 0
    keypads: int = 0
    unknown: list[tuple[str, bytes]] = field(default_factory=list)  # prompts the caller could not place (after which answer)
    internal_pauses: int = 0  # prompts with a pause of 0.7 s or more inside
    pauses: list[float] = field(default_factory=list)  # those pauses, seconds without voice
    errors: list[str] = field(default_factory=list)
    heard_audio: bytes = b""  # everything the caller heard (kept for the calls that failed)
    booked: bool = False  # verified in the store afterwards
    booked_as_planned: bool = False
    waited: bool = False  # heard the admission queue's announcement: every seat was taken
    queue_wait: float | None = None  # connected -> the IVR's first prompt (the greeting)
    turned_away: bool = False  # heard the busy message (past the waiting limits)
    callback_left: bool = False  # ... and left a call-back request (heard it taken)


class Dialer(CallerSimulator):
    """The simulator's AudioSocket server, AMI channel tracking and Originate, without its scenarios."""

    async def connect(self, caller_id: str) -> LocalCall:
        cfg = self.config
        key = str(uuid.uuid4())
        ivr_id, caller_uid = str(uuid.uuid4()), str(uuid.uuid4())
        self._channels[ivr_id] = self._channels[caller_uid] = ""
        self._waiting[key] = asyncio.get_running_loop().create_future()
        reply = await self.ami.action(
            "Originate", Channel=f"Local/probe@{cfg.caller_context}", Context=cfg.inbound_context,
            Exten=cfg.inbound_exten, Priority="1", CallerID=f'"Peak" <{caller_id}>', Async="true",
            Timeout=str(int(cfg.answer_timeout * 1000)), ChannelId=ivr_id, OtherChannelId=caller_uid,
            Variable=f"CALLER_UUID={key},CALLER_AUDIOSOCKET={cfg.connect_host}:{self.server.port}")
        if str(_field(reply, "Response")).lower() == "error":
            raise SimulatorError(f"Originate refused: {_field(reply, 'Message')}")
        try:
            conn = await asyncio.wait_for(self._waiting[key], cfg.answer_timeout)
        except TimeoutError as exc:
            raise SimulatorError("Asterisk never connected the call") from exc
        return LocalCall(self, conn, key, ivr_id, caller_uid)

    def release(self, key: str, ivr_id: str, caller_uid: str) -> None:
        self._waiting.pop(key, None)
        self._channels.pop(ivr_id, None)
        self._channels.pop(caller_uid, None)
        event = self._done.pop(key, None)
        if event is not None:
            event.set()

    async def channel(self, uniqueid: str) -> str:
        for _ in range(200):
            if name := self._channels.get(uniqueid):
                return name
            await asyncio.sleep(0.05)
        raise SimulatorError("no AMI Newchannel event for the call")


class LocalCall:
    """A Local channel call as a caller uses it (like `bench.sip_caller.SipCall`): the AudioSocket
    connection of the caller's side, and keys by AMI `PlayDTMF` on that side's channel."""

    def __init__(self, dialer: Dialer, conn: Any, key: str, ivr_id: str, caller_uid: str) -> None:
        self.dialer, self.conn, self.ids = dialer, conn, (key, ivr_id, caller_uid)
        self.sender = conn.sender

    def inbound(self) -> Any:
        return self.conn.inbound()

    async def hangup(self) -> None:
        await self.conn.hangup()

    async def press(self, key: str) -> None:
        channel = await self.dialer.channel(self.ids[2])
        await self.dialer.ami.play_dtmf(channel, key)

    def release(self) -> None:
        self.dialer.release(*self.ids)


@dataclass(frozen=True)
class CallerConfig:
    gap: float = 0.7
    reply_timeout: float = 120.0
    call_timeout: float = 360.0  # from the greeting: a caller looping between two questions gives up (a booking takes 2 min)
    max_unknown: int = 8  # a misheard number costs up to four: two confirmations, twice
    digit_gap: float = 0.25


class Caller:
    """One simulated resident on the line."""

    def __init__(self, dialer: Dialer | SipDialer, plan: Plan, library: PromptLibrary, answers: dict[str, Answer],
                 voices: Voices, config: CallerConfig) -> None:
        self.dialer, self.plan, self.library, self.answers = dialer, plan, library, answers
        self.voices, self.config = voices, config
        self.log = CallLog(plan)
        self.loop = asyncio.get_running_loop()
        self.frames: list[bytes] = []
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.ear = Ear(config.gap)
        self.prompt_first: int | None = None  # frame index where the prompt being heard starts
        self.last_voiced = 0  # index after the last frame with voice
        self.parsed_to = 0  # index after the last frame of the latest parse
        self.pause_from = 0.0
        self.prompt_at = 0.0  # when it started
        self.answer_end: float | None = None  # end of the caller's last answer, awaiting the reply
        self.answer_was_speech = True
        self.final_yes_end: float | None = None
        self.step = "menu"  # the question the caller last answered
        self.asked: dict[str, int] = {}  # how often each question was answered
        self.last: tuple[str, Answer, bool] | None = None  # the last spoken answer (step, answer, a confirmation?)
        self.closed = False

    async def run(self) -> CallLog:
        await asyncio.sleep(self.plan.delay)
        try:
            conn = await self.dialer.connect(self.plan.caller_id)
        except Exception as exc:  # noqa: BLE001 - reported as a failed call
            self.log.errors.append(f"not connected: {exc}")
            self.log.ended_by = "error"
            return self.log
        self.conn = conn
        started = self.started = self.loop.time()
        reader = asyncio.create_task(self._read())
        try:
            async with asyncio.timeout(self.config.call_timeout) as self.deadline:
                await self._converse()
        except TimeoutError:
            self.log.errors.append("call still going at the time limit")
            self.log.ended_by = "timeout"
        except Exception as exc:  # noqa: BLE001
            self.log.errors.append(f"{type(exc).__name__}: {exc}")
            self.log.ended_by = "error"
        finally:
            if not self.closed:
                await conn.hangup()
            try:
                await asyncio.wait_for(reader, 5)
            except (TimeoutError, asyncio.CancelledError):
                reader.cancel()
            conn.release()
        self.log.duration = round(self.loop.time() - started, 2)
        self.log.heard_audio = b"".join(self.frames)
        return self.log

    # -- hearing ------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for message in self.conn.inbound():
                pcm = getattr(message, "pcm", None)
                if pcm is None:
                    continue
                self.frames.append(pcm)
                now = self.loop.time()
                event, voiced = self.ear.feed(pcm, now)
                if voiced:
                    self.last_voiced = len(self.frames)
                if event == "started":
                    if self.prompt_first is not None:  # the prompt goes on after a pause
                        self.log.pauses.append(round(now - self.pause_from, 3))
                    if self.prompt_first is None:
                        self.prompt_first = max(0, len(self.frames) - 1 - HEAD_FRAMES)
                        self.prompt_at = now
                        if self.answer_end is not None:
                            delay = round(now - self.answer_end, 3)
                            (self.log.latencies if self.answer_was_speech else self.log.key_latencies).append(delay)
                            self.answer_end = None
                    self.events.put_nowait(("started", now))
                elif event == "ended":
                    self.pause_from = self.ear.last_voice
                    self.events.put_nowait(("ended", self.last_voiced))
        finally:
            self.closed = True
            self.events.put_nowait(("closed", None))

    async def _converse(self) -> None:
        waiting_more, more = False, MORE_WAIT
        while True:
            timeout = more if waiting_more else self.config.reply_timeout
            try:
                kind, value = await asyncio.wait_for(self.events.get(), timeout)
            except TimeoutError:
                if waiting_more:  # the rest of a prompt heard in part never came: take it as it is
                    waiting_more = False
                    parse = self._parse(self.last_voiced)
                    if parse.last is not None and not _asks(parse.last.label):
                        # something said, then the line waits: it was a question the caller could not
                        # place (a read-back of a slot it did not ask for that starts like a statement)
                        parse = Parse(says=(), blocks=parse.blocks)
                    if not await self._react(parse):
                        return
                    continue
                self.log.errors.append(f"no reply from the IVR within {timeout:.0f} s after {self.step}")
                self.log.ended_by = "timeout"
                return
            if kind == "closed":
                self.log.ended_by = self.log.ended_by or "ivr"
                if self.prompt_first is not None and self.last_voiced > self.parsed_to:
                    # the line hung up less than a pause after its last words (over SIP the BYE comes
                    # at once): what it said last (予約しました and the code) still counts as heard
                    self._note(self._parse(self.last_voiced))
                return
            if kind == "started":
                waiting_more = False  # the rest of the prompt is coming in: wait for its end
                continue
            parse = self._parse(value)
            if parse.last is not None and parse.last.status == PREFIX:
                waiting_more, more = True, MORE_WAIT  # a pause inside the prompt: the rest is coming
                self.log.internal_pauses += 1
                continue
            if parse.last is None and not waiting_more:
                waiting_more, more = True, UNKNOWN_WAIT  # not placed: perhaps a pause inside it
                continue
            waiting_more = False
            if parse.last is not None and not _asks(parse.last.label):
                self._note(parse)  # something said, not asked (greeting, booking code, hand-over): listen on
                if parse.last.label.startswith("line:"):  # the queue's: the IVR's own prompts come later, apart
                    self.prompt_first = None
                else:  # the question comes next, at once; a line that stays quiet is waiting for an answer
                    waiting_more, more = True, SAID_THEN_QUIET
                continue
            if not await self._react(parse):
                return

    def _parse(self, end_frame: int) -> Parse:
        """The prompt being heard, from just before its first voiced frame to its last."""
        first = self.prompt_first if self.prompt_first is not None else max(0, end_frame - 1)
        self.parsed_to = end_frame
        return self.library.parse(b"".join(self.frames[first: max(first + 1, end_frame)]))

    # -- answering ----------------------------------------------------------------------------
    def _note(self, parse: Parse) -> None:
        labels = parse.labels
        if "line:waiting" in labels:
            self.log.waited = True
            self.deadline.reschedule(None)  # in line: the line itself limits the wait (then busy, call-back)
        if "line:callback-done" in labels:
            self.log.callback_left = True
        if self.log.queue_wait is None and labels and not labels[0].startswith("line:"):
            self.log.queue_wait = round(self.prompt_at - self.started, 3)  # the greeting: a seat was free
            self.deadline.reschedule(self.loop.time() + self.config.call_timeout)  # the time in line aside
        if "apology" in labels:
            self.log.heard_apology = True
        if "say:transfer" in labels or "say:operator" in labels:
            self.log.transferred = True
        if "say:booked" in labels and not self.log.heard_booked:
            self.log.heard_booked = True
            if self.final_yes_end is not None and labels[0] == "say:booked":
                self.log.yes_to_booked = round(self.prompt_at - self.final_yes_end, 3)
                self.log.heard.append((round(self.prompt_at, 3), labels))

    async def _react(self, parse: Parse) -> bool:
        """Answer the prompt just heard; False to end the conversation loop."""
        labels = parse.labels
        self._note(parse)
        self.log.heard.append((round(self.prompt_at, 3), labels))
        audio = b"".join(self.frames[self.prompt_first or 0:])
        self.prompt_first = None
        if not labels:
            # Not the next question, a reprompt, a keypad request or a confirmation of what was said
            # (those are all foreseen): a confirmation or read-back of something misheard. いいえ.
            self.log.unknown.append((self.step, audio))
            if len(self.log.unknown) > self.config.max_unknown:
                self.log.errors.append("too many prompts it could not place")
                return await self._hang_up()
            return await self._answer(self.step, self.answers["no"], confirm=True)
        kind, _, rest = labels[-1].partition(":")
        step = rest.split(":")[0]
        if labels[-1] == "line:busy":  # turned away politely: leave a call-back request to this number
            self.log.turned_away = True
            return await self._press("line-busy", "1")
        if kind == "confirm":
            self.log.confirmations += 1
            return await self._answer(self.step, self.answers["yes" if rest.endswith(":yes") else "no"], confirm=True)
        if kind in ("ask", "reprompt", "noinput", "keypad"):
            if kind in ("reprompt", "noinput"):
                self.log.reprompts += 1
            answer = self.answers.get(step)
            if answer is None and kind in ("reprompt", "noinput") and self.last is not None:
                # asked again about something the caller cannot foresee (a read-back of a misheard
                # slot not understood, 恐れ入ります、もう一度お願いします…): the same answer again
                return await self._answer(self.last[0], self.last[1], confirm=self.last[2])
            if answer is None:  # a question outside the booking (a call-back number, ...): give up
                self.log.errors.append(f"asked {labels[-1]}")
                return await self._hang_up()
            if kind == "keypad":
                self.log.keypads += 1
                return await self._press(step, answer.keys)
            if step == "change" and self.asked.get("change", 0) >= 2:
                self.log.errors.append("the IVR read back the wrong slot three times")
                return await self._hang_up()
            return await self._answer(step, answer)
        return True

    async def _answer(self, step: str, answer: Answer, *, confirm: bool = False) -> bool:
        phrase = answer.speech
        if not confirm:
            self.asked[step] = self.asked.get(step, 0) + 1
            if self.asked[step] > 1 and answer.again:
                phrase = answer.again
            self.step = step
        self.last = (step, answer, confirm)
        pcm, trailing = self.voices.render(phrase)
        self.log.said.append((round(self.loop.time(), 3), step, phrase))
        played = await self.conn.sender.play(pcm).done()
        if not played:
            return not self.closed
        self.answer_end = self.loop.time() - trailing
        self.answer_was_speech = True
        if step == "readback" and not confirm:
            self.final_yes_end = self.answer_end
        return True

    async def _press(self, step: str, keys: str) -> bool:
        self.log.said.append((round(self.loop.time(), 3), step, f"[keys {keys}]"))
        self.step = step
        for key in keys:
            await self.conn.press(key)
            await asyncio.sleep(self.config.digit_gap)
        self.answer_end = self.loop.time()
        self.answer_was_speech = False
        if step == "readback":
            self.final_yes_end = self.answer_end
        return True

    async def _hang_up(self) -> bool:
        self.log.ended_by = "caller"
        await self.conn.hangup()
        return False


def _asks(label: str) -> bool:
    """A prompt the caller must answer (the others it listens through)."""
    return label == "line:busy" or label.split(":")[0] in ("ask", "reprompt", "noinput", "keypad", "confirm")


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Round:
    calls: int
    day: date
    logs: list[CallLog]
    wall: float
    serve_cpu: float
    serve_peak_rss: int
    serve_hwm: int
    asterisk_cpu: float
    bench_cpu: float
    api_bookings: int
    outcomes: dict[str, int]
    load_before: float
    other_pytest: int  # other pytest processes seen at the round's start or end
    others_cpu: float  # CPU seconds the rest of the machine used during the round
    via: str = "local"  # how the calls came in: "local" (Local channels) or "sip" (the trunk)


def api_bookings(http: str, token: str, day: date) -> int:
    url = f"http://{http}/api/v1/bookings?service={SERVICE}&date={day.isoformat()}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        items = json.load(response)["items"]
    return sum(1 for item in items if item.get("status") == "confirmed")


def other_pytests() -> int:
    out = subprocess.run(["ps", "aux"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if "pytest" in line)


async def settle(pid: int, *, quiet: float = 0.15, longest: float = 90.0) -> None:
    """Wait until the `ivr serve` tree is idle (prompt warming, the last calls' records)."""
    deadline = time.monotonic() + longest
    before = tree_usage(pid)[0]
    while time.monotonic() < deadline:
        await asyncio.sleep(2.0)
        now = tree_usage(pid)[0]
        if (now - before) / 2.0 < quiet:
            return
        before = now


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir: Path = args.workdir
        self.rng = random.Random(args.seed)
        self.index = 0

    def plans(self, n: int, day: date, tickets: list[str]) -> list[Plan]:
        delays = sorted(self.rng.uniform(0, self.args.spread) for _ in range(n))
        delays = [d - delays[0] for d in delays]  # the first call at once
        plans = []
        for i in range(n):
            self.index += 1
            plans.append(Plan(self.index, tickets[self.index - 1], f"090{self.index:08d}", day,
                              TIMES[i % len(TIMES)], round(delays[i], 3)))
        return plans

    async def run(self, rounds: list[int], vias: list[str]) -> tuple[list[Round], dict]:
        """One round per N and transport (for each N, the transports one after the other), after one
        warm-up call per transport (placed together)."""
        args, workdir = self.args, self.workdir
        defaults = Settings()
        self.seats = args.seats or defaults.line_seats
        self.max_waiting = defaults.line_max_waiting if args.max_waiting is None else args.max_waiting
        runs = [(n, via) for n in rounds for via in vias]
        url = f"sqlite:///{workdir / 'peak.db'}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        settings = Settings()
        tz = settings.tz
        today = datetime.now(tz).date()
        days = bench_days(today, len(runs) + 1)  # the first for the warm-up calls
        for n, day in zip([len(vias), *(n for n, _ in runs)], days):
            spec = BatchSpec(service=SERVICE, site=SITE, date_from=day, date_to=day, times=RELEASE_TIMES,
                             every_minutes=30, capacity=math.ceil(n / len(TIMES)) + 1, timezone=settings.timezone)
            run_in_transaction(factory, store.release_batch, spec, actor="bench", now=datetime.now(UTC))

        # what the callers say and what they know the line says: rendered once, before any call
        script = load_script(ROOT / "dialogs" / "scripts" / "vaccine.yaml")
        tickets = make_tickets(len(vias) + sum(n for n, _ in runs), self.rng)
        plans_by_round = [self.plans(n, day, tickets) for n, day in zip([len(vias), *(n for n, _ in runs)], days)]
        started = time.monotonic()
        line, voices = LineVoice(settings, workdir / "cache-line"), Voices(workdir / "cache-caller")
        base = common_library(script, line)
        prepared: dict[int, tuple[PromptLibrary, dict[str, Answer]]] = {}
        for plan in (p for plans in plans_by_round for p in plans):
            answers = answers_for(plan, script)
            for answer in answers.values():
                for phrase in filter(None, (answer.speech, answer.again)):
                    voices.render(phrase)
            prepared[plan.index] = (caller_library(base, script, plan), answers)
        prep = {"seconds": round(time.monotonic() - started, 1), "line_pieces": line.rendered,
                "caller_phrases": voices.rendered}
        print(f"prepared {len(prepared)} callers in {prep['seconds']} s "
              f"({line.rendered} line pieces and {voices.rendered} phrases rendered)", flush=True)

        secret, token = uuid.uuid4().hex, uuid.uuid4().hex
        ami_port, audiosocket, http = free_port(), f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        sip_port = free_port(socket.SOCK_DGRAM)
        asterisk = AsteriskRuntime(RuntimeConfig(
            ami_user="madoguchi-bench", ami_secret=secret, instance=f"peak-{os.getpid()}", ami_port=ami_port,
            sip_bind=f"127.0.0.1:{sip_port}", audiosocket=audiosocket, test_context=True,
            line_seats=self.seats, line_max_waiting=self.max_waiting, trunk_host="127.0.0.1",  # the carrier's address
            sounds={name: line(text) for name, text in line_prompts(settings).items()}))
        asterisk.up()
        env = {**os.environ, "MADOGUCHI_DB": url, "MADOGUCHI_HTTP": http, "MADOGUCHI_AUDIOSOCKET": audiosocket,
               "MADOGUCHI_AMI": f"127.0.0.1:{ami_port}", "MADOGUCHI_AMI_USER": "madoguchi-bench",
               "MADOGUCHI_AMI_SECRET": secret, "MADOGUCHI_PERSON_KEY": PERSON_KEY,
               "MADOGUCHI_API_TOKENS": f"staff:{token}", "MADOGUCHI_MODELS_DIR": str(ROOT / "asr_models"),
               "MADOGUCHI_PROMPT_CACHE_DIR": str(workdir / "ivr-prompts"), "MADOGUCHI_ASR_BACKEND": "whisper",
               "MADOGUCHI_DIALOG_SCRIPT": str(ROOT / "dialogs" / "scripts" / "vaccine.yaml"),
               "MADOGUCHI_LOG_LEVEL": "WARNING"}
        command = [str(Path(sys.executable).with_name("ivr")), "serve"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        log = (workdir / "serve.log").open("wb")
        serve = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        ami = AmiClient("127.0.0.1", ami_port, caller_ami_user("madoguchi-bench"), secret)  # may Originate
        dialer: Dialer | None = None
        sip = SipDialer(("127.0.0.1", sip_port), answer_timeout=60)
        spy: subprocess.Popen | None = None
        extra: dict = {"prep": prep, "seats": self.seats, "max_waiting": self.max_waiting}
        try:
            await ami.start()
            if not await ami.wait_connected(timeout=20):
                raise RuntimeError("AMI login failed")
            await self._wait_listening(serve, audiosocket, http)
            dialer = Dialer(ami, lambda voice: None, config=SimulatorConfig(answer_timeout=60))
            await dialer.start()
            config = CallerConfig(gap=args.gap, reply_timeout=args.reply_timeout)

            dialers = {"local": dialer, "sip": sip}

            async def place(plans: list[Plan], vias: list[str]) -> list[CallLog]:
                callers = [Caller(dialers[via], p, *prepared[p.index], voices, config) for p, via in zip(plans, vias)]
                return list(await asyncio.gather(*(c.run() for c in callers)))

            await settle(serve.pid)
            # renders what the IVR caches, loads what it loads lazily (Asterisk's SIP side too)
            warm = await place(plans_by_round[0], vias)
            extra["warmup"] = [summary_of(log) | {"via": via} for log, via in zip(warm, vias)]
            if args.profile:
                spy = start_profiler(serve.pid, workdir / "profile.txt")
                threads0 = thread_cpu(serve.pid)
            results = []
            for (n, via), day, plans in zip(runs, days[1:], plans_by_round[1:]):
                await settle(serve.pid)
                load, pytests = os.getloadavg()[0], other_pytests()
                asterisk_pid = asterisk.pid()
                cpu0, bench0, busy0 = tree_usage(serve.pid)[0], own_cpu(), machine_busy()
                ast0 = tree_usage(asterisk_pid)[0] if asterisk_pid else 0.0
                sampler = TreeSampler(serve.pid)
                sampler.start()
                since = datetime.now(UTC)
                t0 = time.monotonic()
                logs = await place(plans, [via] * n)
                wall = time.monotonic() - t0
                peak = await sampler.stop()
                cpu1, bench1, busy1 = tree_usage(serve.pid)[0], own_cpu(), machine_busy()
                ast1 = tree_usage(asterisk_pid)[0] if asterisk_pid else 0.0
                await asyncio.sleep(2)  # the last call records land
                self._verify(factory, logs)
                with factory() as session:
                    outcomes = dict(session.execute(text(
                        "SELECT outcome, count(*) FROM call_records WHERE started_at >= :since GROUP BY outcome"),
                        {"since": since.replace(tzinfo=None)}).all())
                others = (busy1 - busy0) - (cpu1 - cpu0) - (bench1 - bench0) - (ast1 - ast0)
                results.append(Round(n, day, logs, wall, cpu1 - cpu0, peak, peak_rss(serve.pid), ast1 - ast0,
                                     bench1 - bench0, await asyncio.to_thread(api_bookings, http, token, day),
                                     outcomes, load, max(pytests, other_pytests()), others, via))
                print(render_round(results[-1]), flush=True)
                self._save(results[-1])
            if spy is not None:
                threads = {key: cpu - threads0.get(key, 0.0) for key, cpu in thread_cpu(serve.pid).items()}
                extra["profile"] = stop_profiler(spy, workdir / "profile.txt", threads, serve.pid)
            extra["load"] = os.getloadavg()[0]
            return results, extra
        finally:
            if spy is not None and spy.poll() is None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            if dialer is not None:
                await dialer.close()
            await sip.close()
            await ami.close()
            serve.terminate()
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
            asterisk.down()
            engine.dispose()

    async def _wait_listening(self, serve: subprocess.Popen, audiosocket: str, http: str) -> None:
        """The IVR loads Whisper and Open JTalk before it listens."""
        for address in (audiosocket, http):
            host, port = address.split(":")
            for _ in range(1500):
                try:
                    with socket.create_connection((host, int(port)), timeout=1):
                        break
                except OSError:
                    if serve.poll() is not None:
                        raise RuntimeError(f"ivr serve exited: {(self.workdir / 'serve.log').read_text()[-3000:]}")
                    await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"ivr serve never listened on {address}")

    def _verify(self, factory: Any, logs: list[CallLog]) -> None:
        for log in logs:
            person = Person.from_ticket(PERSON_KEY.encode(), log.plan.ticket, BIRTH)
            found = run_in_transaction(factory, store.find_active_booking, person, SERVICE)
            log.booked = found is not None
            if found is not None:
                start = found.start.astimezone(Settings().tz)
                log.booked_as_planned = start.date() == log.plan.day and start.time() == log.plan.at

    def _save(self, result: Round) -> None:
        """Each call's transcript by labels, and the prompts callers could not place (as WAV)."""
        folder = self.workdir / f"round-{result.via}-{result.calls}"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.wav"):
            stale.unlink()
        calls = []
        for log in result.logs:
            calls.append({**summary_of(log), "heard": log.heard, "said": log.said})
            if not log.booked and not log.turned_away and log.heard_audio:  # the whole call, to find out why
                write_wav(folder / f"call-{log.plan.index}.wav", log.heard_audio)
            for k, (step, pcm) in enumerate(log.unknown):
                write_wav(folder / f"unknown-{log.plan.index}-{k}-after-{step}.wav", pcm)
        (folder / "calls.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1, default=str))


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(pcm)


def summary_of(log: CallLog) -> dict:
    return {"index": log.plan.index, "ticket": log.plan.ticket, "time": f"{log.plan.at:%H:%M}",
            "delay": log.plan.delay, "booked": log.booked, "as_planned": log.booked_as_planned,
            "heard_booked": log.heard_booked, "ended_by": log.ended_by, "duration": log.duration,
            "latencies": log.latencies, "key_latencies": log.key_latencies, "yes_to_booked": log.yes_to_booked,
            "confirmations": log.confirmations, "reprompts": log.reprompts, "keypads": log.keypads,
            "unknown": len(log.unknown), "internal_pauses": log.internal_pauses, "pauses": log.pauses, "transferred": log.transferred,
            "apology": log.heard_apology, "errors": log.errors}


# -- profile -----------------------------------------------------------------------------------
def thread_cpu(root: int) -> dict[tuple[int, int, str], float]:
    """CPU seconds of every thread (native ones too) of the `ivr serve` tree, by (pid, tid, comm)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[tuple[int, int, str], float] = {}
    for pid in process_tree(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                fields = raw.rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            comm = raw.split("(", 1)[1].rsplit(")", 1)[0]
            out[(pid, int(tid), comm)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def start_profiler(pid: int, out: Path) -> subprocess.Popen:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise RuntimeError("py-spy is missing: .venv/bin/python -m pip install py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
                             "--threads", "--subprocesses", "--nonblocking", "--rate", "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def stop_profiler(spy: subprocess.Popen, out: Path, threads: dict[tuple[int, int, str], float], root: int) -> dict:
    cpu = tree_usage(spy.pid)[0]
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    summary = summarise_profile(out)
    names = summary.pop("names")
    by_thread: Counter[str] = Counter()
    for (pid, tid, comm), seconds in threads.items():
        process, name = names.get(tid, (None, None))
        if process is None:
            process = "ivr serve" if pid == root else "child process"
            name = f"native threads ({_NUMBERED.sub('*', comm)})"
        by_thread[f"{process} / {name}"] += seconds
    summary["thread_cpu"] = [(where, round(seconds, 1)) for where, seconds in by_thread.most_common(12) if seconds >= 0.05]
    return summary | {"spy_cpu": cpu}


_NUMBERED = re.compile(r"(?<=[_-])\d+$")


def thread_group(name: str) -> str:
    """asyncio_3 -> asyncio_*, ThreadPoolExecutor-0_1 -> ThreadPoolExecutor-0_*, whisper-1 -> whisper-*."""
    return _NUMBERED.sub("*", name.strip())


def summarise_profile(path: Path) -> dict:
    """Own time (the sampled leaf frame) by function and by thread group, from py-spy's raw output."""
    by_function: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    function_threads: dict[str, Counter[str]] = {}
    names: dict[int, tuple[str, str]] = {}  # tid -> (process, thread group)
    function_origins: dict[str, Counter[str]] = {}  # the innermost frame of ours above the leaf
    total = 0
    if not path.exists():
        return {"total": 0, "functions": [], "threads": [], "names": names}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        samples = int(count)
        frames = stack.split(";")
        process = "ivr serve"
        thread = "?"
        rest = []
        for frame in frames:
            if frame.startswith("process "):
                process = ("synthesis worker" if "spawn_main" in frame else "multiprocessing helper"
                           if "multiprocessing" in frame else "IVR worker" if "--ivr-only" in frame else "ivr serve")
            elif frame.startswith("thread ("):
                thread = thread_group(frame.split(": ", 1)[1] if ": " in frame else frame)
                tid = frame[len("thread ("):].split(")", 1)[0]
                if tid.isdigit():
                    names[int(tid)] = (process, thread)
            else:
                rest.append(frame)
        leaf = re.sub(r":\d+\)$", ")", rest[-1]) if rest else "(no Python frame)"
        ours = [f for f in rest[:-1] if re.search(r"\((ivr|telephony|dialogs|slots)/", f)]
        origin = re.sub(r":\d+\)$", ")", ours[-1]) if ours else ""
        where = f"{process} / {thread}"
        total += samples
        by_function[leaf] += samples
        by_thread[where] += samples
        function_threads.setdefault(leaf, Counter())[where] += samples
        function_origins.setdefault(leaf, Counter())[origin] += samples
    functions = [(name, count, function_threads[name].most_common(2), function_origins[name].most_common(1)[0][0])
                 for name, count in by_function.most_common(10)]
    return {"total": total, "functions": functions, "threads": by_thread.most_common(12), "names": names}


# -- report ------------------------------------------------------------------------------------
def figures(result: Round) -> dict:
    logs = result.logs
    booked = [log for log in logs if log.booked]
    failed = [log for log in logs if not log.booked and not log.turned_away]
    waits = [log.queue_wait for log in logs if log.waited and log.queue_wait is not None]
    latencies = [x for log in logs for x in log.latencies]
    yes = [log.yes_to_booked for log in logs if log.yes_to_booked is not None]
    return {
        "via": result.via, "calls": result.calls, "booked": len(booked), "as_planned": sum(log.booked_as_planned for log in booked),
        "api": result.api_bookings,
        "turned_away": sum(log.turned_away for log in logs), "callbacks": sum(log.callback_left for log in logs),
        "waited": sum(log.waited for log in logs), "wait50": percentile(waits, 0.5),
        "wait_max": max(waits, default=float("nan")),
        "transferred": sum(1 for log in failed if log.transferred),
        "wrong_person": sum(1 for log in failed if not log.transferred and log.heard_booked),
        "ivr_ended": sum(1 for log in failed if not log.transferred and not log.heard_booked and log.ended_by == "ivr"),
        "gave_up": sum(1 for log in failed if not log.transferred and not log.heard_booked and log.ended_by == "caller"),
        "errors": sum(1 for log in failed if not log.transferred and not log.heard_booked
                      and log.ended_by not in ("ivr", "caller")),
        "apology": sum(1 for log in logs if log.heard_apology),
        "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "replies": len(latencies),
        "yes50": percentile(yes, 0.5), "yes95": percentile(yes, 0.95),
        "duration": statistics.median([log.duration for log in booked]) if booked else float("nan"),
        "cpu": result.serve_cpu / result.calls, "rss": result.serve_peak_rss / 2**20, "hwm": result.serve_hwm / 2**20,
        "asterisk": result.asterisk_cpu / result.calls, "bench": result.bench_cpu / result.calls,
        "bench_share": result.bench_cpu / result.wall, "wall": result.wall,
        "confirmations": sum(log.confirmations for log in logs), "reprompts": sum(log.reprompts for log in logs),
        "keypads": sum(log.keypads for log in logs), "unknown": sum(len(log.unknown) for log in logs),
        "pauses": sum(len(log.pauses) for log in logs),
        "pause50": percentile([p for log in logs for p in log.pauses], 0.5),
        "pause_max": max([p for log in logs for p in log.pauses], default=float("nan")),
    }


def waited(f: dict) -> str:
    return f"{f['waited']} ({f['wait50']:.0f} / {f['wait_max']:.0f})" if f["waited"] else "0"


def render_round(result: Round) -> str:
    f = figures(result)
    return (f"{VIA_LABEL[f['via']]} N={f['calls']}: booked {f['booked']}/{f['calls']} (API {f['api']}), waited {f['waited']} "
            f"(p50 {f['wait50']:.0f} s, max {f['wait_max']:.0f} s), turned away {f['turned_away']} "
            f"(call-backs {f['callbacks']}), under a misheard ticket "
            f"{f['wrong_person']}, transferred {f['transferred']}, "
            f"IVR ended {f['ivr_ended']}, caller gave up {f['gave_up']}, errors {f['errors']}, 不具合 {f['apology']}; reply p50 {f['p50']:.2f} "
            f"p95 {f['p95']:.2f} s; yes->booked p50 {f['yes50']:.2f} p95 {f['yes95']:.2f} s; call {f['duration']:.1f} s; "
            f"serve CPU {f['cpu']:.1f} s/call, peak RSS {f['rss']:.0f} MiB; bench CPU {f['bench']:.2f} s/call; "
            f"outcomes {result.outcomes}; load before {result.load_before:.1f}, other pytest {result.other_pytest}, "
            f"rest of the machine {result.others_cpu:.0f} CPU s")


VIA_LABEL = {"local": "Local", "sip": "SIP"}
MAIN_COLUMNS, DETAIL_COLUMNS = 14, 16  # the section's two tables
EARLIER = " (earlier)"  # a row kept from the section as it was, for a transport this run did not measure


@dataclass(frozen=True)
class Carried:
    """Rows of the section's two tables kept for the transports this run did not measure."""

    main: list[tuple[int, int, str]]  # (calls, transport order, row) of the first table
    detail: list[tuple[int, int, str]]  # ... of the second
    sources: list[str]  # the runs they came from (command and date)


def _tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line.strip())
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def carried_rows(section: str, measured: set[str]) -> Carried:
    """The rows of `section` (the peak section as it is in the document) for transports not in
    `measured`, marked as earlier; none from a table whose columns were not this script's."""
    main = section.split(PROFILE_BEGIN)[0]
    head = re.search(r"`(python bench/peak\.py[^`]*)`[^\n]*?(\d{4}-\d{2}-\d{2})", main)
    own_source = f"`{head.group(1)}`, {head.group(2)}" if head else "an earlier run"
    note = re.search(r"Rows marked \*\(earlier\)\* come from (.+?)\. They are kept", main)
    kept: list[list[tuple[int, int, str]]] = [[], []]
    sources: list[str] = []
    tables = _tables(main)[:2]
    if [len(table[0].strip().strip("|").split("|")) for table in tables] != [MAIN_COLUMNS, DETAIL_COLUMNS]:
        return Carried([], [], [])  # the tables had other columns then: their rows cannot stand beside this run's
    for table, rows in zip(tables, kept):
        for row in table[2:]:
            label, *rest = [cell.strip() for cell in row.strip().strip("|").split("|")]
            was_earlier = label.endswith(EARLIER)
            via = {v: k for k, v in VIA_LABEL.items()}.get(label.removesuffix(EARLIER))
            if via is None or via in measured or not rest or not rest[0].isdigit():
                continue
            rows.append((int(rest[0]), list(VIA_LABEL).index(via),
                         "| " + " | ".join([VIA_LABEL[via] + EARLIER, *rest]) + " |"))
            source = note.group(1) if was_earlier and note else own_source
            if source not in sources:
                sources.append(source)
    return Carried(kept[0], kept[1], sources)


def render(results: list[Round], extra: dict, command: str, args: argparse.Namespace,
           earlier: Carried | None = None) -> str:
    workers = args.workers or 1
    seats, max_waiting = extra.get("seats", args.seats), extra.get("max_waiting", args.max_waiting)
    earlier = earlier or Carried([], [], [])
    vias = list(dict.fromkeys(r.via for r in results))  # in the order the rounds ran
    lines = [
        "## Peak load: a 9:00 rush of booking calls (integration)", "",
        f"`{command}` on {platform.machine()} with {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}: N booking "
        f"calls starting within {args.spread:g} s of each other, through the real Asterisk 22 into one `ivr serve` "
        f"process ({workers} IVR worker{'s' if workers > 1 else ''}, SQLite in WAL mode on its own database, Whisper "
        "base, Open JTalk in its synthesis worker processes), after one warm-up call per transport; the rounds run one "
        "after the other in the same service (for each N, " + " then ".join(VIA_LABEL[v] for v in vias) + "), each on "
        "a day of its own with room in every slot. The callers are one asyncio "
        "process (`bench/peak.py`) with no recognizer: their answers are Open JTalk renderings made once, in the "
        "simulator's caller voice (speed 1.05, half tone −3; at +2 Whisper base heard 昭和 as 動画) through the "
        "phone channel (band limit, noise, μ-law); a prompt ends after 0.7 s without voice, and which prompt it "
        "was is read from its loudness envelope against the line's own prompts rendered once in the IVR's voice "
        "(`bench/prompt_match.py`). Each caller says 予約をお願いします, its own ticket number digit by digit (no "
        "zeros, and no digit twice in a row: Whisper base drops one of a doubled digit), 昭和40年5月6日です, the "
        "round's date, one of the day's 14 half-hour slots (午前10時半でお願いします; said again as 午前10時30分です), "
        "はい at the read-back, and waits for the code and the IVR's hang-up. It answers a confirmation of what it "
        "said はい, a confirmation or read-back of anything else いいえ、違います (then 日にちを変えます at the change "
        "menu, giving up after three wrong read-backs), and a request for keys with the keys.", "",
        "*Via* is how the calls reach Asterisk. **Local**: AMI `Originate` of `Local/probe@test-caller` into the "
        "inbound context; the caller's side of the Local channel runs an AudioSocket back to this process (signed "
        "linear audio, no codec), keys by AMI `PlayDTMF` on that side. **SIP**: every caller is a SIP user agent "
        "of its own in this process (`bench/sip_caller.py`, two UDP sockets per call): an INVITE from 127.0.0.1 to "
        "the `trunk` endpoint (identified by that address, as a carrier is), G.711 μ-law RTP both ways, one packet "
        "every 20 ms (silence while it says nothing, as a phone without silence suppression), keys as RFC 4733 "
        "events (100 ms each), BYE to hang up; one 20 ms timer paces every caller's packets. Over SIP Asterisk "
        "also runs chan_pjsip, the RTP stack and the μ-law ⇄ linear transcoding: its CPU is in the second table.", "",
        "| via | calls | seats | booked | waited for a seat: calls (wait p50 / max s) | turned away (call-back left) "
        "| failed: booked under a misheard ticket / transferred / IVR hung up / caller gave up / error | heard 不具合 "
        "| reply p50 / p95 (s) | はい → 予約しました p50 / p95 (s) | booking call median (s) | `ivr serve` CPU s / call "
        "| `ivr serve` peak RSS (MiB) | bench CPU s / call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [figures(r) for r in results]
    order = list(VIA_LABEL).index
    main_rows = list(earlier.main)
    for f in rows:
        main_rows.append((f["calls"], order(f["via"]), (
            f"| {VIA_LABEL[f['via']]} | {f['calls']} | {seats} | {f['booked']}/{f['calls']} | "
            f"{waited(f)} | {f['turned_away']} ({f['callbacks']}) | "
            f"{f['wrong_person']} / {f['transferred']} / {f['ivr_ended']} / "
            f"{f['gave_up']} / {f['errors']} | {f['apology']} | {f['p50']:.2f} / {f['p95']:.2f} | "
            f"{f['yes50']:.2f} / {f['yes95']:.2f} | {f['duration']:.0f} | {f['cpu']:.1f} | {f['rss']:.0f} | "
            f"{f['bench']:.2f} |")))
    lines += [row for *_, row in sorted(main_rows, key=lambda r: r[:2])]
    per_row = ", ".join(f"{VIA_LABEL[f['via']]} {f['calls']}: {{}}" for f in rows)
    lines += [
        "",
        "*Booked*: the caller's own booking found in the store afterwards by its ticket number and birth date ("
        + per_row.format(*(f["as_planned"] for f in rows)) + " of them at the slot the caller asked for), and the "
        "same count through the staff API, `GET /api/v1/bookings?service=vaccine&date=` ("
        + per_row.format(*(f["api"] for f in rows)) + "). *Seats*: calls Asterisk's admission queue "
        "`madoguchi-line` lets into the IVR at once (the product's default, `MADOGUCHI_LINE_SEATS` / `--max-calls` "
        "× workers, unless `--seats` says otherwise); a caller who finds them all taken hears its position and "
        "expected wait in Japanese and waits in arrival order (*waited*: those calls; *wait*: from the call's "
        f"answer to the IVR's greeting). Past {max_waiting} waiting callers (`MADOGUCHI_LINE_MAX_WAITING`) a caller "
        "is *turned away*: it hears the busy message and leaves a call-back request with key 1 (its own number). "
        "*Failed*: booked under a misheard ticket (the "
        "caller heard 予約しました and its code, but the IVR had taken a wrong ticket number without confirming it: "
        "the booking is someone else's, which is why the API counts more), transferred (heard the hand-over to "
        "an operator), IVR hung up without a booking, caller gave up (prompts it could not place, or the wrong "
        "slot read back three times), error (no reply within 120 s, or the call never connected). *Heard 不具合*: "
        "calls that heard the session's apology for an internal error. *Reply latency*, on the caller's side: "
        "from the end of its spoken answer to the first voiced frame of the reply, which includes the IVR's "
        "wait for the end of the answer (decoding starts 0.24 s into the caller's pause; an answer the dialog "
        "already understands ends the wait at 0.45 s, any other at the 0.8 s hang-over), recognition, dialog, "
        "store and synthesis; answers by key are left out. *はい → 予約しました*: the same from the final はい "
        "(confirm in the store, then the code read-back). *CPU* and *peak RSS*: the `ivr serve` process tree "
        "(synthesis and IVR worker processes included) from `/proc`: CPU over the round divided by N; RSS the "
        "largest sum, sampled once a second. *Bench CPU*: this caller process's own CPU time per call (over SIP "
        "that includes every caller's SIP, RTP packets and μ-law coding).", "",
        "| via | calls | round wall (s) | bench CPU, % of one core | Asterisk CPU s / call | `ivr serve` main VmHWM (MiB) "
        "| replies timed | confirmations of what was said | reprompts | keypad requests | prompts not placed "
        "| pauses ≥ 0.7 s inside prompts: count (median / max s) | outcomes (call records) | load avg before "
        "| other pytest | rest of the machine, CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    detail_rows = list(earlier.detail)
    for f, r in zip(rows, results):
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items(), key=lambda kv: -kv[1]))
        detail_rows.append((f["calls"], order(f["via"]), (
            f"| {VIA_LABEL[f['via']]} | {f['calls']} | {f['wall']:.0f} | {100 * f['bench_share']:.1f} | "
            f"{f['asterisk']:.2f} | {f['hwm']:.0f} | "
            f"{f['replies']} | {f['confirmations']} | {f['reprompts']} | {f['keypads']} | {f['unknown']} | "
            f"{f['pauses']} ({f['pause50']:.2f} / {f['pause_max']:.2f}) | {outcomes} | {r.load_before:.1f} | "
            f"{r.other_pytest} | {r.others_cpu:.0f} |")))
    lines += [row for *_, row in sorted(detail_rows, key=lambda r: r[:2])]
    if earlier.main or earlier.detail:
        lines += ["", "Rows marked *(earlier)* come from " + "; ".join(earlier.sources) + ". They are kept from the "
                  "section as it was, for a transport this run did not measure; the text around them describes this run."]
    prep = extra.get("prep", {})
    lines += ["", f"Preparing the callers took {prep.get('seconds', 0)} s before the first call "
              f"({prep.get('line_pieces', 0)} pieces of the IVR's prompts and {prep.get('caller_phrases', 0)} caller "
              "phrases newly rendered; both are kept on disk between runs). The load average after the run was "
              f"{extra.get('load', float('nan')):.1f}. *Rest of the machine*: busy time from `/proc/stat` less the "
              "`ivr serve` tree, this process and Asterisk; `/proc/stat` is sampled at each clock tick while the "
              "processes' own times are exact, so it is good to about ±5 % of the round's total and a value near "
              "zero or below means nothing else ran."]
    unknown = extra.get("unknown") or {}
    if unknown:
        parts = [f"{n} after the {step} answer, {kind} (「{example}」)" for step, kind, n, example in unknown["kinds"]]
        lines += ["", f"The {unknown['total']} prompts the callers could not place, transcribed by Whisper once the "
                  "service had stopped: " + "; ".join(parts) + "."]
    if extra.get("notes"):
        lines += ["", *extra["notes"]]
    return "\n".join(lines)


def render_profile(profile: dict, results: list[Round], extra: dict, command: str) -> str:
    total = profile.get("total", 0) or 1
    calls = ", ".join(str(r.calls) for r in results)
    lines = [f"### Where the time goes at {calls} calls (`--profile`)", "",
             f"`{command}` ({datetime.now(UTC):%Y-%m-%d}; py-spy installed into the venv for the run with "
             "`.venv/bin/python -m pip install py-spy`, not a project dependency): py-spy 0.4 "
             "(`record --format raw --threads --subprocesses --nonblocking`, 100 Hz) on the `ivr serve` tree for the "
             f"whole round, {profile.get('total', 0)} samples of threads it found running; py-spy itself used "
             f"{profile.get('spy_cpu', 0):.0f} CPU s, so this round's figures are not the table's:", "",
             *(f"- {render_round(r)}" for r in results), "",
             "Own time is the innermost Python frame of a sample: time in C code (Whisper's CTranslate2, Open JTalk, "
             "numpy) counts for the Python function that called it, and C threads without Python frames are not "
             "sampled at all (see the CPU by thread below). `EpollSelector.select` is the event loop waiting for "
             "sockets and timers: py-spy counts it whenever the thread is not asleep in the kernel, which at 50 "
             "frames a second per call is often.", "",
             "| own time | function | where (process / thread) | mostly under |", "|---|---|---|---|"]
    for name, count, where, origin in profile.get("functions", []):
        places = ", ".join(f"{w} {100 * c / count:.0f} %" for w, c in where)
        lines.append(f"| {100 * count / total:.1f} % | `{name}` | {places} | {f'`{origin}`' if origin else ''} |")
    lines += ["", "CPU by thread over the round, from `/proc/PID/task/TID/stat` (native code included), named by "
              "py-spy; py-spy's samples by thread beside it:", "",
              "| CPU s | process / thread | py-spy samples |", "|---|---|---|"]
    sampled = dict(profile.get("threads", []))
    for where, seconds in profile.get("thread_cpu", []):
        share = sampled.get(where)
        lines.append(f"| {seconds:.1f} | {where} | {100 * share / total:.1f} % |" if share else f"| {seconds:.1f} | {where} | |")
    return "\n".join(lines)


async def explain_unknown(results: list[Round]) -> dict:
    """What the prompts the callers could not place were: transcribed after the run (the service is
    stopped by then), with the same Whisper model, so this costs the measured rounds nothing."""
    from ivr.speech.asr import Hints, load_recognizer

    heard = [(step, pcm) for r in results for log in r.logs for step, pcm in log.unknown]
    if not heard:
        return {}
    recognizer = await asyncio.to_thread(load_recognizer, Settings(models_dir=ROOT / "asr_models", asr_backend="whisper"))
    kinds: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    try:
        for step, pcm in heard:
            said = (await recognizer.recognize(pcm, Hints())).text.replace(" ", "")
            kind = ("confirmation of a misheard value" if "ですね" in said else
                    "read-back of another slot" if "確保" in said or "予約してよろしい" in said else "other")
            kinds[(step, kind)] += 1
            examples.setdefault((step, kind), said[:60])
    finally:
        close = getattr(recognizer, "close", None)
        if close is not None:
            close()
    return {"total": len(heard), "kinds": [(step, kind, n, examples[(step, kind)]) for (step, kind), n in kinds.most_common()]}


def via_list(value: str) -> list[str]:
    """`local`, `sip`, `local,sip` or `sip,local` (the order of the rounds for each N)."""
    vias = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not vias or len(set(vias)) != len(vias) or any(v not in VIA_LABEL for v in vias):
        raise argparse.ArgumentTypeError(f"expected local, sip or local,sip, got {value!r}")
    return vias


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", default="8,16,32,48", help="comma-separated N per round")
    parser.add_argument("--via", "--transport", default="local", type=via_list,
                        help="how the calls come in: local (AMI Originate of Local channels), sip (SIP user agents "
                             "calling the trunk), or local,sip (one round of each per N)")
    parser.add_argument("--max-waiting", type=int, default=None,
                        help="callers who may wait for a seat (default: the product's, MADOGUCHI_LINE_MAX_WAITING)")
    parser.add_argument("--seats", type=int, default=0,
                        help="calls Asterisk admits to the IVR at once (default: the product's line seats)")
    parser.add_argument("--workers", type=int, default=0, help="`ivr serve --workers K` (default: not given)")
    parser.add_argument("--spread", type=float, default=5.0, help="seconds over which each round's calls start")
    parser.add_argument("--gap", type=float, default=0.7, help="seconds without voice that end a prompt")
    parser.add_argument("--reply-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="py-spy on `ivr serve` during the rounds")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/madoguchi-bench-peak"))
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    for stale in args.workdir.glob("peak.db*"):
        stale.unlink()
    rounds = [int(n) for n in args.calls.split(",")]
    results, extra = asyncio.run(Bench(args).run(rounds, args.via))
    extra["unknown"] = asyncio.run(explain_unknown(results))
    command = "python bench/peak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    doc = ROOT / "docs" / "BENCHMARKS.md"
    if args.profile:
        report = render_profile(extra.get("profile", {}), results, extra, command.strip())
    else:
        text = doc.read_text()
        section = text[text.index(BEGIN): text.index(END)] if BEGIN in text and END in text else ""
        report = render(results, extra, command.strip(), args, carried_rows(section, set(args.via)))
    print(report)
    (args.workdir / ("report-profile.md" if args.profile else "report.md")).write_text(report)
    if not args.write:
        return
    if args.profile:
        replace_section(doc, PROFILE_BEGIN, PROFILE_END, report)
    else:
        text = doc.read_text()
        kept = text[text.index(PROFILE_BEGIN) + len(PROFILE_BEGIN): text.index(PROFILE_END)].strip("\n") \
            if PROFILE_BEGIN in text and PROFILE_END in text else "(no `--profile` run yet)"
        replace_section(doc, BEGIN, END, f"{report}\n\n{PROFILE_BEGIN}\n{kept}\n{PROFILE_END}")


if __name__ == "__main__":
    main()
