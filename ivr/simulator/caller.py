"""Place a simulated call through Asterisk and play a scenario as the caller.

The simulator runs its own AudioSocket server. For each call it originates
`Local/probe@test-caller` into the IVR's inbound context: the `;1` side of the Local channel
enters the IVR's dialplan like a carrier call, the `;2` side runs `AudioSocket()` back to the
simulator, which hears everything the IVR says and speaks for the caller. Keys are sent with AMI
`PlayDTMF` on the `;2` side, so the IVR receives them exactly like a phone's.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid as uuid_module
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.simulator.prompts import FRAME_SECONDS, PromptEnded, PromptStarted, PromptTracker
from ivr.simulator.scenario import Scenario, Turn

logger = logging.getLogger(__name__)


class SimulatorError(RuntimeError):
    """The simulated call could not be placed (AMI refused, Asterisk never connected back)."""


@dataclass(frozen=True)
class Line:
    at: float  # seconds from the moment the call was answered
    side: str  # "IVR" | "caller"
    text: str


@dataclass
class CallResult:
    scenario: str
    lines: list[Line] = field(default_factory=list)
    duration: float = 0.0
    ended_by: str = ""  # ivr | caller | timeout
    latencies: list[float] = field(default_factory=list)  # end of caller speech → first IVR audio
    expectations: list[tuple[int, str, str, bool]] = field(default_factory=list)  # turn, expected, heard, met
    queue: str | None = None  # the queue the call was seen waiting in
    ivr_channel: str = ""
    wav: Path | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(met for *_, met in self.expectations)

    def ivr_text(self) -> str:
        return "\n".join(line.text for line in self.lines if line.side == "IVR")


@dataclass(frozen=True)
class SimulatorConfig:
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0: any free port
    connect_host: str = "127.0.0.1"  # how Asterisk reaches the simulator's AudioSocket server
    inbound_context: str = "madoguchi-inbound"
    inbound_exten: str = "s"
    caller_context: str = "test-caller"
    answer_timeout: float = 20.0
    prompt_timeout: float = 40.0
    call_timeout: float = 300.0
    queue_timeout: float = 15.0
    prompt_gap: float = 1.2
    digit_gap: float = 0.25
    barge_in_delay: float = 0.5  # with `after: start`: how long into the prompt the caller cuts in
    #: key words of the IVR's prompts, for the recognizer that transcribes them
    transcript_words: tuple[str, ...] = ("接種券番号", "生年月日", "予約番号", "ご希望の日にち", "空きがありません",
                                         "オペレーター", "よろしいですか", "ご用件", "予約してよろしいですか")


class CallerSimulator:
    """One per process: `await start()`, then `await call(scenario)` any number of times, concurrently."""

    def __init__(self, ami: Any, voice_factory: Callable[[Any], Any], *, recognizer: Any | None = None,
                 config: SimulatorConfig | None = None) -> None:
        self.ami = ami
        self.voice_factory = voice_factory  # scenario Voice -> object with `await render(text) -> pcm8k`
        self.recognizer = recognizer
        self.config = config or SimulatorConfig()
        self.server: Any | None = None
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._channels: dict[str, str] = {}  # Uniqueid -> channel name, for our calls only
        self._done: dict[str, asyncio.Event] = {}

    async def start(self) -> None:
        from telephony.audiosocket.server import AudioSocketServer

        self.ami.on("Newchannel", self._on_newchannel)
        self.server = AudioSocketServer(self._handle, self.config.listen_host, self.config.listen_port)
        await self.server.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def _on_newchannel(self, event: Any) -> None:
        uniqueid = _field(event, "Uniqueid")
        if uniqueid in self._channels:
            self._channels[uniqueid] = _field(event, "Channel")

    async def _handle(self, conn: Any) -> None:
        key = str(conn.uuid)
        future = self._waiting.pop(key, None)
        if future is None or future.done():
            logger.warning("simulator: unexpected AudioSocket connection")
            return
        done = self._done[key] = asyncio.Event()
        future.set_result(conn)
        await done.wait()  # the connection stays open while the scenario runs

    # -- one call ---------------------------------------------------------------------------
    async def call(self, scenario: Scenario, *, record: Path | None = None,
                   on_line: Callable[[Line], None] | None = None) -> CallResult:
        if self.server is None:
            raise SimulatorError("call start() first")
        cfg = self.config
        voice = self.voice_factory(scenario.voice)
        speech = {t.value: await voice.render(t.value) for t in scenario.turns if t.action == "say"}
        key = str(uuid_module.uuid4())
        ivr_id, caller_id = str(uuid_module.uuid4()), str(uuid_module.uuid4())
        self._channels[ivr_id] = self._channels[caller_id] = ""
        loop = asyncio.get_running_loop()
        self._waiting[key] = loop.create_future()
        result = CallResult(scenario.name)
        try:
            reply = await self.ami.action(
                "Originate", Channel=f"Local/probe@{cfg.caller_context}", Context=cfg.inbound_context,
                Exten=cfg.inbound_exten, Priority="1", CallerID=f'"Simulator" <{scenario.caller_id}>',
                Async="true", Timeout=str(int(cfg.answer_timeout * 1000)), ChannelId=ivr_id, OtherChannelId=caller_id,
                Variable=f"CALLER_UUID={key},CALLER_AUDIOSOCKET={cfg.connect_host}:{self.server.port}",
            )
            if str(_field(reply, "Response")).lower() == "error":
                raise SimulatorError(f"Originate refused: {_field(reply, 'Message')}")
            try:
                conn = await asyncio.wait_for(self._waiting[key], cfg.answer_timeout)
            except TimeoutError as exc:
                raise SimulatorError("Asterisk never connected the simulated call (is the test-caller context "
                                     "installed and the IVR's Asterisk running?)") from exc
            run = _Call(self, conn, scenario, speech, result, on_line, ivr_id, caller_id)
            try:
                await asyncio.wait_for(run.play(), cfg.call_timeout)
            except TimeoutError:
                result.ended_by = "timeout"
                result.errors.append(f"call still going after {cfg.call_timeout:.0f} s")
            finally:
                await run.close()
            if record is not None:
                run.write_wav(record)
                result.wav = record
            return result
        finally:
            self._waiting.pop(key, None)
            self._channels.pop(ivr_id, None)
            self._channels.pop(caller_id, None)
            event = self._done.pop(key, None)
            if event is not None:
                event.set()


class _Call:
    """The caller's side of one call in progress."""

    def __init__(self, sim: CallerSimulator, conn: Any, scenario: Scenario, speech: dict[str, bytes],
                 result: CallResult, on_line: Callable[[Line], None] | None, ivr_id: str, caller_id: str) -> None:
        self.sim, self.conn, self.scenario, self.speech = sim, conn, scenario, speech
        self.result, self.on_line = result, on_line
        self.ivr_id, self.caller_id = ivr_id, caller_id
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.tracker = PromptTracker(gap=sim.config.prompt_gap)
        self.heard: list[bytes] = []  # the IVR's side, frame by frame
        self.spoken: list[tuple[int, bytes]] = []  # (frame offset, pcm) of the caller's side
        self.prompts: list[PromptEnded] = []
        self.starts: list[float] = []
        self.prompt_texts: dict[int, asyncio.Task[str]] = {}
        self.changed = asyncio.Event()
        self.closed = False
        self.spoke_at: float | None = None  # end of the caller's last utterance, awaiting the reply
        self.reader = asyncio.create_task(self._read())

    def now(self) -> float:
        return self.loop.time() - self.t0

    def line(self, at: float, side: str, text: str) -> None:
        line = Line(round(at, 2), side, text)
        self.result.lines.append(line)
        if self.on_line is not None:
            self.on_line(line)

    async def _read(self) -> None:
        try:
            async for message in self.conn.inbound():
                pcm = getattr(message, "pcm", None)
                if pcm is None:
                    continue
                self.heard.append(pcm)
                event = self.tracker.feed(pcm, self.now())
                self._observe(event)
        finally:
            self._observe(self.tracker.flush())
            self.closed = True
            self.changed.set()

    def _observe(self, event: Any) -> None:
        if isinstance(event, PromptStarted):
            self.starts.append(event.at)
            self.changed.set()
            if self.spoke_at is not None:
                self.result.latencies.append(round(event.at - self.spoke_at, 3))
                self.spoke_at = None
        elif isinstance(event, PromptEnded):
            index = len(self.prompts)
            self.prompts.append(event)
            self.prompt_texts[index] = asyncio.create_task(self._recognize(event))
            self.changed.set()

    async def _recognize(self, prompt: PromptEnded) -> str:
        seconds = len(prompt.pcm) / 16000
        if self.sim.recognizer is None:
            text = f"[IVR speech {seconds:.1f} s]"
        else:
            from ivr.speech.asr import Hints

            try:
                hints = Hints(words=self.sim.config.transcript_words)
                text = (await self.sim.recognizer.recognize(prompt.pcm, hints)).text or f"[unclear {seconds:.1f} s]"
            except Exception as exc:  # noqa: BLE001 - the transcript notes it; the call goes on
                text = f"[not recognized: {type(exc).__name__}]"
        self.line(prompt.start, "IVR", text)
        return text

    async def _wait_prompt(self, after: float, *, started: bool = False, timeout: float | None = None) -> int | None:
        """Index of the first prompt that ends (or with `started`, starts) after `after`."""
        deadline = self.loop.time() + (timeout or self.sim.config.prompt_timeout)
        while True:
            if started:
                for index, at in enumerate(self.starts):
                    if at > after:
                        return index
            for index, prompt in enumerate(self.prompts):
                if prompt.end > after:
                    return index
            if self.closed:
                return None
            self.changed.clear()
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return None

    async def play(self) -> None:
        mark = -1.0
        for number, turn in enumerate(self.scenario.turns, 1):
            if self.closed:
                self.result.errors.append(f"the IVR ended the call before turn {number}")
                break
            if turn.action == "leave_queue":
                waiting_at = await self._leave_queue(turn.value)
                if waiting_at is None:
                    self.result.errors.append(f"turn {number}: the call never waited in and left queue {turn.value}")
                    break
                mark = waiting_at  # what the IVR says on admission starts after it
                continue
            if turn.after == "prompt" or turn.expect or turn.if_heard:
                index = await self._wait_prompt(mark)
                if turn.if_heard and index is not None:
                    heard = await self.prompt_texts[index]
                    if not _contains(heard, turn.if_heard):
                        self.line(self.now(), "caller", f"[turn {number} skipped: not heard {turn.if_heard!r}]")
                        continue
                if index is None:
                    if self.closed:
                        self.result.errors.append(f"the IVR ended the call before turn {number}")
                        break
                    self.result.errors.append(f"turn {number}: no prompt from the IVR")
                elif turn.expect:
                    self.result.expectations.append((number, turn.expect, "", False))
                    self._check_later(len(self.result.expectations) - 1, index)
            elif turn.after == "start":
                if await self._wait_prompt(mark, started=True) is None and not self.closed:
                    self.result.errors.append(f"turn {number}: no prompt from the IVR")
                await asyncio.sleep(self.sim.config.barge_in_delay)
            if not await self._act(turn):
                break
            mark = self.now()
        else:
            if self.scenario.end == "hangup":
                await self._hangup()
            else:
                await self._wait_closed()
        self.result.duration = round(self.now(), 2)

    def _check_later(self, slot: int, index: int) -> None:
        number, expected, _, _ = self.result.expectations[slot]

        def check(task: asyncio.Task[str]) -> None:
            heard = task.result() if not task.cancelled() and task.exception() is None else ""
            self.result.expectations[slot] = (number, expected, heard, _contains(heard, expected))

        self.prompt_texts[index].add_done_callback(check)

    async def _act(self, turn: Turn) -> bool:
        if turn.action == "say":
            self.line(self.now(), "caller", turn.value)
            self.spoken.append((len(self.heard), self.speech[turn.value]))
            replies = len(self.starts)
            await self.conn.sender.play(self.speech[turn.value]).done()
            # a reply that began while the caller was still speaking (the IVR took 「はい、」 before
            # 「お願いします」 as the answer) is not timed: timing from here would measure the prompt after it
            self.spoke_at = self.now() if len(self.starts) == replies else None
        elif turn.action == "press":
            self.line(self.now(), "caller", f"[keys {turn.value}]")
            replies = len(self.starts)
            await self._press(turn.value)
            # a reply that began before the last key (a `#` after a complete number) is not timed:
            # timing from here would measure the prompt after it
            self.spoke_at = self.now() if len(self.starts) == replies else None
        elif turn.action == "silence":
            self.line(self.now(), "caller", f"[silent {turn.value:g} s]")
            await self._sleep_unless_closed(turn.value)
        elif turn.action == "hangup":
            await self._hangup()
            return False
        elif turn.action == "expect_queue":
            await self._expect_queue(turn.value)
        return True

    async def _press(self, keys: str) -> None:
        channel = await self._channel(self.caller_id)
        for key in keys:
            await self.sim.ami.play_dtmf(channel, key)
            await asyncio.sleep(self.sim.config.digit_gap)

    async def _channel(self, uniqueid: str) -> str:
        for _ in range(100):
            name = self.sim._channels.get(uniqueid)
            if name:
                return name
            await asyncio.sleep(0.05)
        raise SimulatorError("no AMI Newchannel event for the simulated call")

    def _waiting_in(self, queue: str, channel: str) -> bool:
        state = self.sim.ami.queues.snapshot().get(queue)
        return state is not None and any(channel == entry.channel for entry in state.callers)

    async def _expect_queue(self, queue: str) -> None:
        channel = await self._channel(self.ivr_id)
        deadline = self.loop.time() + self.sim.config.queue_timeout
        while self.loop.time() < deadline and not self.closed:
            if self._waiting_in(queue, channel):
                self.result.queue = queue
                self.line(self.now(), "caller", f"[waiting in queue {queue}]")
                return
            await asyncio.sleep(0.2)
        self.result.errors.append(f"the call never waited in queue {queue}")

    async def _leave_queue(self, queue: str) -> float | None:
        """Wait until the call has waited in `queue` and left it (a caller in the line's queue waits
        for minutes, hearing only announcements); the last moment it was seen waiting, or None."""
        channel = await self._channel(self.ivr_id)
        deadline = self.loop.time() + self.sim.config.call_timeout
        waiting_at: float | None = None
        while self.loop.time() < deadline and not self.closed:
            if self._waiting_in(queue, channel):
                waiting_at = self.now()
            elif waiting_at is not None:
                self.line(self.now(), "caller", f"[left queue {queue}]")
                return waiting_at
            await asyncio.sleep(0.2)
        return None

    async def _sleep_unless_closed(self, seconds: float) -> None:
        end = self.loop.time() + seconds
        while not self.closed and self.loop.time() < end:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), end - self.loop.time())
            except TimeoutError:
                pass

    async def _hangup(self) -> None:
        self.line(self.now(), "caller", "[hangs up]")
        self.result.ended_by = "caller"
        await self.conn.hangup()

    async def _wait_closed(self) -> None:
        while not self.closed:
            self.changed.clear()
            await self.changed.wait()
        self.result.ended_by = self.result.ended_by or "ivr"

    async def close(self) -> None:
        if not self.closed and not self.result.ended_by:
            await self._hangup()
        try:
            await asyncio.wait_for(self.reader, 5)
        except (TimeoutError, asyncio.CancelledError):
            self.reader.cancel()
        pending = [t for t in self.prompt_texts.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self.result.lines.sort(key=lambda line: line.at)

    def write_wav(self, path: Path) -> None:
        """Stereo 8 kHz: left what the caller heard (the IVR), right what the caller said."""
        import numpy as np

        ivr = np.frombuffer(b"".join(self.heard), dtype="<i2")
        length = max([ivr.size] + [int(offset * FRAME_SECONDS * 8000) + len(pcm) // 2 for offset, pcm in self.spoken])
        stereo = np.zeros((length, 2), dtype="<i2")
        stereo[: ivr.size, 0] = ivr
        for offset, pcm in self.spoken:
            start = int(offset * FRAME_SECONDS * 8000)
            samples = np.frombuffer(pcm, dtype="<i2")
            stereo[start: start + samples.size, 1] = samples
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(stereo.tobytes())


def _field(event: Any, name: str) -> str:
    if isinstance(event, dict):
        return str(event.get(name, ""))
    getter = getattr(event, "get", None)
    if callable(getter):
        return str(getter(name, "") or "")
    return str(getattr(event, name.lower(), "") or "")


def _contains(heard: str, expected: str) -> bool:
    """`expected` is one phrase or alternatives separated by `|`; spaces and widths are ignored."""
    def norm(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split())

    return any(norm(alt) in norm(heard) for alt in expected.split("|") if alt.strip())
