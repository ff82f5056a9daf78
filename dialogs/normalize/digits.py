"""Spoken digit strings: ticket numbers, booking codes, phone numbers."""

from __future__ import annotations

import re

from dialogs.normalize.text import kanji_number, strip_fillers, to_hiragana, width

# Longest first so that にー wins over に, and しち over し.
_DIGIT_WORDS = {
    "ぜろ": "0", "ぜろー": "0", "れい": "0", "れー": "0", "まる": "0", "おー": "0",
    "いち": "1", "いっ": "1",
    "にー": "2", "にい": "2", "に": "2",
    "さん": "3", "さーん": "3",
    "よん": "4", "よー": "4", "しー": "4", "しい": "4", "よ": "4", "し": "4",
    "ごー": "5", "ごお": "5", "ご": "5",
    "ろく": "6", "ろっ": "6",
    "なな": "7", "しち": "7",
    "はち": "8", "はっ": "8",
    "きゅう": "9", "きゅー": "9", "きゅ": "9", "くー": "9", "く": "9",
}
_SEPARATORS = ("はいふん", "ばーの", "の", "ー", "-", "‐", "−", "—", "–", " ", "、", ",", ".", "。", "と")
_TOKENS = sorted(
    [(w, d) for w, d in _DIGIT_WORDS.items()] + [(s, "") for s in _SEPARATORS],
    key=lambda item: len(item[0]),
    reverse=True,
)
_KANJI_RUN_RE = re.compile(r"[〇零一二三四五六七八九十百千]+")


def _kanji_runs(text: str) -> str:
    """Kanji digit runs to Arabic; positional forms (三十五) by value, plain runs digit by digit."""
    return _KANJI_RUN_RE.sub(lambda m: kanji_number(m.group(0)) or m.group(0), text)


def _runs(text: str) -> list[str]:
    """Split into runs of digits joined by separators; anything else breaks a run."""
    runs, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch.isascii() and ch.isdigit():
            current.append(ch)
            i += 1
            continue
        for word, digit in _TOKENS:
            if text.startswith(word, i):
                if digit:
                    current.append(digit)
                i += len(word)
                break
        else:
            if current:
                runs.append("".join(current))
            current = []
            i += 1
    if current:
        runs.append("".join(current))
    return runs


def parse_digits(text: str, *, length: int | None = None) -> str | None:
    """The digit string the caller said, or None.

    Words around the number (`接種券番号は…です`) are ignored; when the utterance holds several
    separate numbers the longest is taken, unless `length` is given and the runs joined make
    exactly that length (callers pause between groups).
    """
    text = to_hiragana(_kanji_runs(strip_fillers(width(text))))
    runs = [run for run in _runs(text) if run]
    if not runs:
        return None
    if length is not None:
        for run in runs:
            if len(run) == length:
                return run
        joined = "".join(runs)
        if len(joined) == length:
            return joined
    best = max(runs, key=len)
    if len(best) == 1 and (len(runs) > 1 or not _alone(text)):
        return None  # a single kana (し, く, ご) inside words, as in ください: not a number
    return best


def _alone(text: str) -> bool:
    """The text is one digit word and nothing else (「いち」, 「9」), separators aside."""
    core = "".join(ch for ch in text if ch not in _SEPARATORS)
    return core.isdigit() or core in _DIGIT_WORDS
