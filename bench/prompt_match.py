"""Which prompt did the caller just hear? Matching by loudness envelope, no speech recognizer.

The IVR speaks with Open JTalk, which is deterministic: the same text in the same voice gives the
same samples. The session plays each prompt as pieces (the first phrase, then whole sentences, as
`ivr.speech.tts.split_stream_pieces` cuts it), each rendered on its own and padded to whole 20 ms
frames, and Asterisk passes the frames through unchanged. So a caller who knows what the line can
say renders those pieces once in the IVR's voice and recognises a prompt by comparing 10 ms
loudness envelopes, piece after piece, from the prompt's first voiced frame. A piece that carries
data the caller cannot know (the open times, the booking code) is a wildcard: the next known piece
is looked for anywhere after it.

    library = PromptLibrary(render, split)    # render(text) -> 8 kHz slin in the IVR's voice
    library.add("ask:ticket", ["接種券番号をどうぞ。"])
    library.add("say:booked", ["予約しました。", None])     # None: a piece we cannot know
    library.parse(prompt_pcm)   # -> Parse(says=[Heard("ask:ticket", COMPLETE, ...)])

A few milliseconds of numpy per prompt; the rendering is done once, before any call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

BLOCK = 80  # samples per envelope block: 10 ms at 8 kHz
FRAME_BLOCKS = 2  # the IVR pads every piece to whole 20 ms frames
FLOOR_DB = -70.0
VOICED_DB = -45.0  # the caller's voice threshold (ivr.simulator.prompts.PromptTracker's)
MAX_DIFF_DB = 1.5  # mean absolute envelope difference accepted as "the same audio"
MAX_LOCAL_DIFF_DB = 4.0  # ... and over any 200 ms of it (a different digit at the end of a number)
LOCAL_BLOCKS = 20
HEAD_BLOCKS = 4
TAIL_BLOCKS = 60  # silence known to follow the last voiced frame (the tracker's gap, less a margin)

COMPLETE, OPEN, PREFIX = "complete", "open", "prefix"


def envelope(pcm: bytes) -> np.ndarray:
    """RMS level per 10 ms block, in dBFS, floored."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) / 32768.0
    usable = samples.size - samples.size % BLOCK
    if usable <= 0:
        return np.zeros(0, dtype=np.float32)
    power = np.mean(np.square(samples[:usable].reshape(-1, BLOCK)), axis=1)
    return np.maximum(10.0 * np.log10(power + 1e-12), FLOOR_DB).astype(np.float32)


@dataclass(frozen=True)
class Piece:
    text: str
    env: np.ndarray = field(repr=False)  # the voiced span's envelope
    lead: int  # blocks before the first voiced block
    span: int  # blocks the piece occupies on the line (padded to whole frames)


@dataclass(frozen=True)
class Candidate:
    label: str
    text: str
    pieces: tuple[Piece | None, ...]  # None: unknown audio (one piece or more)

    @property
    def known_blocks(self) -> int:
        return sum(p.env.size for p in self.pieces if p is not None)


@dataclass(frozen=True)
class Heard:
    label: str
    status: str  # COMPLETE: every piece heard; OPEN: ends in unknown audio; PREFIX: more is to come
    start: int  # block of the first voiced block
    end: int  # block after the last piece heard (its padding included)
    diff: float  # worst piece's mean envelope difference (dB)
    pieces: int  # known pieces heard


@dataclass(frozen=True)
class Parse:
    says: tuple[Heard, ...]
    blocks: int  # length of the audio parsed (to its last voiced block)

    @property
    def last(self) -> Heard | None:
        return self.says[-1] if self.says else None

    @property
    def labels(self) -> list[str]:
        return [h.label for h in self.says]


def make_piece(text: str, pcm: bytes) -> Piece | None:
    env = envelope(pcm)
    voiced = np.flatnonzero(env > VOICED_DB)
    if voiced.size == 0:
        return None
    frames = -(-len(pcm) // (BLOCK * FRAME_BLOCKS * 2))
    return Piece(text, env[voiced[0]: voiced[-1] + 1].copy(), int(voiced[0]), frames * FRAME_BLOCKS)


class PromptLibrary:
    """Known prompts by label; `render(text)` gives a piece's audio in the IVR's voice."""

    def __init__(self, render: Callable[[str], bytes], max_diff: float = MAX_DIFF_DB) -> None:
        self.render = render
        self.max_diff = max_diff
        self.candidates: list[Candidate] = []
        self._pieces: dict[str, Piece | None] = {}
        self._seen: set[tuple[str, tuple[str | None, ...]]] = set()

    def piece(self, text: str) -> Piece | None:
        if text not in self._pieces:
            self._pieces[text] = make_piece(text, self.render(text))
        return self._pieces[text]

    def add(self, label: str, pieces: Sequence[str | None]) -> None:
        """A prompt as its pieces' texts, None for a piece (or run of pieces) the caller cannot know."""
        key = (label, tuple(pieces))
        if key in self._seen or not any(pieces):
            return
        self._seen.add(key)
        rendered: list[Piece | None] = []
        for text in pieces:
            piece = self.piece(text) if text is not None else None
            if piece is None and rendered and rendered[-1] is None:
                continue  # one wildcard stands for any run of unknown pieces
            rendered.append(piece)
        while rendered and rendered[0] is None:
            rendered.pop(0)
        if rendered:
            self.candidates.append(Candidate(label, "".join(p or "…" for p in pieces), tuple(rendered)))

    def extended(self) -> PromptLibrary:
        """A copy sharing the rendered pieces, for one caller's own prompts on top of the common ones."""
        other = PromptLibrary(self.render, self.max_diff)
        other.candidates = list(self.candidates)
        other._pieces = self._pieces
        other._seen = set(self._seen)
        return other

    # -- matching ---------------------------------------------------------------------------
    def parse(self, pcm: bytes, *, max_says: int = 6) -> Parse:
        """The known prompts heard one after another from the start of `pcm` (which begins at the
        prompt's first voiced frame and ends at its last), until the audio ends or nothing known
        follows. The last one may be a PREFIX: its first pieces were heard, the rest not yet."""
        raw = envelope(pcm)
        voiced = np.flatnonzero(raw > VOICED_DB)
        if voiced.size == 0:
            return Parse((), 0)
        # from a little before the first voiced block (the caller may hand over a frame or two of
        # the silence before), to the last voiced block and the silence that is known to follow
        head = max(0, int(voiced[0]) - HEAD_BLOCKS)
        padding = np.full(HEAD_BLOCKS, FLOOR_DB, dtype=np.float32)
        env = np.concatenate([padding, raw[head:], np.full(TAIL_BLOCKS, FLOOR_DB, dtype=np.float32)])
        origin = HEAD_BLOCKS + int(voiced[0]) - head
        audio_end = HEAD_BLOCKS + int(voiced[-1]) + 1 - head
        says: list[Heard] = []
        cursor, first = origin, True
        while len(says) < max_says and cursor < audio_end - 5:
            best: Heard | None = None
            for candidate in self.candidates:
                heard = self._match(candidate, env, audio_end, cursor, first)
                if heard is not None and (best is None or _rank(heard) > _rank(best)):
                    best = heard
            if best is None:
                break
            says.append(best)
            if best.status != COMPLETE:
                break
            cursor, first = best.end, False
        return Parse(tuple(says), audio_end)

    def _match(self, candidate: Candidate, env: np.ndarray, audio_end: int, cursor: int,
               first: bool) -> Heard | None:
        position = cursor
        start: int | None = None
        worst, heard, wild = 0.0, 0, False
        voiced = env[:audio_end] > VOICED_DB

        def waiting() -> Heard | None:
            return Heard(candidate.label, PREFIX, start or 0, position, round(worst, 2), heard) if heard else None

        for index, piece in enumerate(candidate.pieces):
            if piece is None:
                wild = True
                continue
            if wild:  # after unknown audio: anywhere later, and only whole
                found = _best_offset(env, piece.env, max(0, position), env.size)
                if found is None or found[1] > self.max_diff:
                    return waiting()
            else:
                if first and index == 0:
                    anchor = cursor  # the prompt starts with this piece's first voiced block
                else:
                    later = np.flatnonzero(voiced[position:])
                    if later.size == 0:
                        return waiting()  # nothing after the last piece yet
                    anchor = position + int(later[0])
                found = _best_offset(env, piece.env, max(0, anchor - 2), anchor + 2)
                if found is None or found[1] > self.max_diff:
                    # the piece may be under way: a pause inside it (at 、) ended the audio so far
                    if anchor + piece.env.size > audio_end and _fits_head(env, piece.env, anchor, audio_end, self.max_diff):
                        heard += 1
                        start = anchor if start is None else start
                        return Heard(candidate.label, PREFIX, start, audio_end, round(worst, 2), heard)
                    return None
            offset, diff = found
            worst, heard, wild = max(worst, diff), heard + 1, False
            if start is None:
                start = offset
            position = offset - piece.lead + piece.span
        assert start is not None
        status = OPEN if wild else COMPLETE
        return Heard(candidate.label, status, start, position, round(worst, 2), heard)


def _fits_head(env: np.ndarray, ref: np.ndarray, anchor: int, audio_end: int, max_diff: float) -> bool:
    """Whether the audio from `anchor` to its end is the beginning of `ref` (at least 150 ms of it)."""
    for offset in range(max(0, anchor - 2), anchor + 3):
        length = audio_end - offset
        if length < 15 or length > ref.size:
            continue
        found = _best_offset(env[offset: offset + length], ref[:length], 0, 0)
        if found is not None and found[1] <= max_diff:
            return True
    return False


_ORDER = {PREFIX: 2, COMPLETE: 1, OPEN: 0}  # on a tie, wait for more rather than answer early


def _rank(heard: Heard) -> tuple[int, int, float]:
    """The candidate that explains more of the audio wins; then one still going; then the closer fit."""
    return (heard.end - heard.start, _ORDER[heard.status], -heard.diff)


def _best_offset(env: np.ndarray, ref: np.ndarray, low: int, high: int) -> tuple[int, float] | None:
    """The offset in [low, high] where `ref` fits `env` best, and its mean absolute difference
    (infinite when some 200 ms of it differ by more than MAX_LOCAL_DIFF_DB)."""
    n = ref.size
    high = min(high, env.size - n)
    if n == 0 or high < low:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(env[low: high + n], n)
    diffs = np.mean(np.abs(windows - ref), axis=1)
    best = int(np.argmin(diffs))
    error = np.abs(windows[best] - ref)
    if n > LOCAL_BLOCKS:
        local = np.convolve(error, np.full(LOCAL_BLOCKS, 1.0 / LOCAL_BLOCKS), mode="valid")
        if float(local.max()) > MAX_LOCAL_DIFF_DB:
            return low + best, float("inf")
    return low + best, float(diffs[best])
