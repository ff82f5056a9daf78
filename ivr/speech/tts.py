"""Speech synthesis to 8 kHz slin: Open JTalk (pyopenjtalk-plus) or espeak-ng (pyttsx3), plus a prompt cache.

Backends are synchronous (`synthesize(text) -> pcm8k`); `Synthesizer.render` runs them in a worker
thread. Fixed prompts are rendered once and kept in memory and on disk, keyed by text and voice
settings, so the first frame of a cached prompt is ready at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import os
import re
import tempfile
import threading
import time
import wave
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyopenjtalk

from dialogs.normalize.reading import OPENJTALK_LOCK, g2p_kana
from ivr.config import Settings
from ivr.speech.audio import PHONE_RATE, normalize_peak, resample, silence, to_bytes

logger = logging.getLogger(__name__)
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")
_PHRASE_END = re.compile(r"[、 　]")
_ESPEAK = threading.Lock()
RENDERING = 2  # part of every cache key: renderings cached before a change to `_finish` are not reused


class TtsError(RuntimeError):
    """Synthesis failed or the text cannot be spoken (empty)."""


@dataclass(frozen=True)
class Voice:
    backend: str = "openjtalk"
    speed: float = 0.9
    volume_dbfs: float = -4.5  # peak level; phone prompts sit between about -6 and -3 dBFS
    half_tone: float = 0.0

    def key(self, text: str) -> str:
        payload = json.dumps({"text": text, "rendering": RENDERING, **asdict(self)}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


#: Open JTalk pads every rendering with 0.3-0.4 s of silence at each end; a prompt played in pieces
#: would pause ~0.9 s at every join and every reply would start 0.3 s late. Renderings are cut to
#: their voice and given the pause their last character asks for.
LEAD_SECONDS = 0.04
PAUSE_AFTER = {"。": 0.4, "！": 0.4, "？": 0.4, "!": 0.4, "?": 0.4, "、": 0.2}
DEFAULT_PAUSE = 0.12
VOICE_FLOOR = 0.01  # 40 dB below the peak: quieter samples at either end are padding, not voice


def pause_after(text: str) -> float:
    return PAUSE_AFTER.get(text.strip()[-1:], DEFAULT_PAUSE)


def trim_padding(samples: np.ndarray, rate: int, *, lead: float = LEAD_SECONDS) -> np.ndarray:
    """The samples from `lead` before the first voiced one to the last voiced one (all, if none is)."""
    magnitude = np.abs(samples)
    voiced = np.flatnonzero(magnitude >= VOICE_FLOOR * float(magnitude.max(initial=0.0)))
    if voiced.size == 0:
        return samples
    start = max(0, int(voiced[0]) - int(lead * rate))
    return samples[start: int(voiced[-1]) + 1]


def _finish(samples: np.ndarray, rate: int, voice: Voice, text: str) -> bytes:
    """Float samples at `rate` -> 8 kHz slin at the voice's peak level, cut to the voice, then the
    pause that the text's last character asks for."""
    pcm = resample(to_bytes(trim_padding(samples, rate)), rate, PHONE_RATE)
    return normalize_peak(pcm, voice.volume_dbfs) + silence(pause_after(text))


class OpenJTalkBackend:
    def __init__(self, voice: Voice) -> None:
        self.voice = voice

    def synthesize(self, text: str) -> bytes:
        with OPENJTALK_LOCK:
            samples, rate = pyopenjtalk.tts(text, speed=self.voice.speed, half_tone=self.voice.half_tone)
        return _finish(np.asarray(samples) / 32768.0, rate, self.voice, text)


class EspeakBackend:
    """espeak-ng through pyttsx3; espeak-ng reads kana only, so the text goes through Open JTalk's g2p."""

    def __init__(self, voice: Voice) -> None:
        import pyttsx3

        self.voice = voice
        self._engine = pyttsx3.init("espeak")  # pyttsx3 shares one engine per driver in a process

    def synthesize(self, text: str) -> bytes:
        kana = g2p_kana(text)
        with _ESPEAK, tempfile.TemporaryDirectory() as scratch:
            self._engine.setProperty("voice", "ja")
            self._engine.setProperty("rate", int(175 * self.voice.speed))
            path = Path(scratch) / "out.wav"
            with contextlib.redirect_stdout(io.StringIO()):  # pyttsx3 prints "Audio saved to ..."
                self._engine.save_to_file(kana, str(path))
                self._engine.runAndWait()
                with wave.open(str(path)) as handle:
                    rate, raw = handle.getframerate(), handle.readframes(handle.getnframes())
        return _finish(np.frombuffer(raw, "<i2") / 32768.0, rate, self.voice, text)


class PromptCache:
    """Rendered prompts in memory (the `max_entries` most recently used) and as `<sha256>.slin`
    files; safe across threads and processes. Only fixed prompts are put here: a caller's data
    (`render(..., private=True)`) never is."""

    def __init__(self, directory: Path | None, *, max_entries: int = 512) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            if (pcm := self._memory.get(key)) is not None:
                self._memory.move_to_end(key)
                return pcm
        if self.directory is not None and (path := self.directory / f"{key}.slin").is_file():
            pcm = path.read_bytes()
            self._remember(key, pcm)
            return pcm
        return None

    def _remember(self, key: str, pcm: bytes) -> None:
        with self._lock:
            self._memory[key] = pcm
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)

    def put(self, key: str, pcm: bytes) -> None:
        self._remember(key, pcm)
        if self.directory is not None:
            tmp = self.directory / f".{key}.{threading.get_ident()}.tmp"
            tmp.write_bytes(pcm)
            tmp.replace(self.directory / f"{key}.slin")

    def __len__(self) -> int:
        return len(self._memory)


def backend_for(voice: Voice) -> OpenJTalkBackend | EspeakBackend:
    return EspeakBackend(voice) if voice.backend == "espeak" else OpenJTalkBackend(voice)


_worker_backend: OpenJTalkBackend | EspeakBackend | None = None


PARENT_CHECK_SECONDS = 1.0  # how often a synthesis worker looks whether its process is still there


def _start_worker(voice: Voice, parent: int) -> None:
    global _worker_backend
    _worker_backend = backend_for(voice)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A process killed without closing its pool (SIGKILL, the OOM killer) leaves its workers waiting on
    a queue nobody writes to, each with an Open JTalk in memory: they exit once it is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _synthesize_in_worker(text: str) -> bytes:
    assert _worker_backend is not None, "the synthesis worker was not started"
    return _worker_backend.synthesize(text)


class Synthesizer:
    """The async face: `await render(text)` -> 8 kHz slin; fixed prompts cached.

    With `processes`, uncached prompts are synthesized in that many worker processes, each with
    its own Open JTalk: calls do not queue behind one process-wide lock, and the synthesis uses
    every core without holding the interpreter lock that paces call audio. Without, in a thread.
    """

    def __init__(self, backend: OpenJTalkBackend | EspeakBackend, cache: PromptCache, *, processes: int = 0) -> None:
        self.backend = backend
        self.voice = backend.voice
        self.cache = cache
        self._pool: ProcessPoolExecutor | None = None
        if processes > 0:
            self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(self.voice, os.getpid()))

    def render_sync(self, text: str, *, cache: bool = True) -> bytes:
        text = text.strip()
        if not text:
            raise TtsError("nothing to say: empty text")
        key = self.voice.key(text)
        if cache and (pcm := self.cache.get(key)) is not None:
            return pcm
        try:
            pcm = self.backend.synthesize(text)
        except Exception as exc:  # noqa: BLE001 - the backend's own errors become one typed error
            raise TtsError(f"{self.voice.backend} could not synthesize the prompt: {exc}") from exc
        if cache:
            self.cache.put(key, pcm)
        return pcm

    async def render(self, text: str, *, cache: bool = True, private: bool = False) -> bytes:
        """`private`: the text holds a caller's data; a cached rendering is used, none is stored."""
        key = self.voice.key(text.strip())
        if cache and (pcm := self.cache.get(key)) is not None:
            return pcm
        if self._pool is None:
            return await asyncio.to_thread(self.render_sync, text, cache=cache and not private)
        if not text.strip():
            raise TtsError("nothing to say: empty text")
        try:
            pcm = await asyncio.get_running_loop().run_in_executor(self._pool, _synthesize_in_worker, text.strip())
        except BrokenProcessPool:
            logger.error("a synthesis worker died; synthesizing in this process instead")
            return await asyncio.to_thread(self.render_sync, text, cache=cache and not private)
        except Exception as exc:  # noqa: BLE001 - the backend's own errors become one typed error
            raise TtsError(f"{self.voice.backend} could not synthesize the prompt: {exc}") from exc
        if cache and not private:
            self.cache.put(key, pcm)
        return pcm

    async def warm_async(self, text: str) -> int:
        """Render a fixed prompt and its sentences into the cache (in the workers); how many were new."""
        new = 0
        for piece in dict.fromkeys((text.strip(), *split_sentences(text))):
            if piece and self.cache.get(self.voice.key(piece)) is None:
                await self.render(piece)
                new += 1
        return new

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def render_stream(self, text: str, *, cache: bool = True) -> AsyncIterator[bytes]:
        """Piece by piece (the first clause, then sentences), rendering the next piece while the
        caller plays the current one, so the first audio of a long uncached prompt comes early."""
        whole = text.strip()
        if cache and (pcm := self.cache.get(self.voice.key(whole))) is not None:
            yield pcm
            return
        pieces = split_stream_pieces(whole)
        if not pieces:
            raise TtsError("nothing to say: empty text")
        current = await self.render(pieces[0], cache=cache)
        for following in pieces[1:]:
            upcoming = asyncio.ensure_future(self.render(following, cache=cache))
            try:
                yield current
                current = await upcoming
            finally:
                upcoming.cancel()  # a no-op once done; stops the work if the caller barged in
        yield current

    def warm(self, texts: Iterable[str]) -> int:
        """Render every fixed prompt (and its sentences) into the cache; returns how many were new."""
        new = 0
        for text in texts:
            for piece in {text.strip(), *split_sentences(text)}:
                if piece and self.cache.get(self.voice.key(piece)) is None:
                    self.render_sync(piece)
                    new += 1
        return new


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def split_stream_pieces(text: str, min_chars: int = 4) -> list[str]:
    """The first phrase alone (up to the first 、 or space after `min_chars`), then whole sentences."""
    sentences = split_sentences(text)
    if not sentences:
        return []
    first = sentences[0]
    match = _PHRASE_END.search(first, min_chars)
    if match and match.end() < len(first) - 1:
        return [first[: match.end()].strip(), first[match.end() :].strip(), *sentences[1:]]
    return sentences


def voice_from_settings(settings: Settings) -> Voice:
    return Voice(backend=settings.tts_backend, speed=settings.tts_speed, volume_dbfs=settings.tts_volume_dbfs)


def load_synthesizer(settings: Settings, *, voice: Voice | None = None, processes: int = 0) -> Synthesizer:
    voice = voice or voice_from_settings(settings)
    cache = PromptCache(settings.prompt_cache_dir, max_entries=settings.prompt_cache_entries)
    return Synthesizer(backend_for(voice), cache, processes=processes)
