"""How an answer sounds: the one kana reading every normalizer compares and parses.

Recognizers spell homophones (十字 for 十時, 朝って for あさって); their readings are the sound the
caller made. `reading()` is Open JTalk's g2p behind the process-wide Open JTalk lock, as hiragana;
`fold()` makes readings comparable (long vowels, ー, small/large kana); `morae()` splits a folded
reading for mora-level similarity.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import jaconv
import pyopenjtalk

# pyopenjtalk's global OpenJTalk instance is not re-entrant: every g2p and every synthesis in the
# process goes through this one lock (ivr.speech.tts takes it too).
OPENJTALK_LOCK = threading.Lock()

_NOT_KANA = re.compile(r"[^ぁ-ゖー]")
_ALL_KANA = re.compile(r"[ぁ-ゖー\s、。,.!?！？・]*")
_DIGIT_RUN = re.compile(r"\d{2,}")
_KANJI_DIGITS = "〇一二三四五六七八九"
_SMALL = str.maketrans("ぁぃぅぇぉゎを", "あいうえおわお")  # を sounds お
_YOON_AFTER = "きしちにひみりぎじびぴ"
_ROWS = {  # the vowel each kana ends in, for folding long vowels
    "a": "あかさたなはまやらわがざだばぱゃ",
    "i": "いきしちにひみりぎじぢびぴ",
    "u": "うくすつぬふむゆるぐずづぶぷゅ",
    "e": "えけせてねへめれげぜでべぺ",
    "o": "おこそとのほもよろをごぞどぼぽょ",
}
_VOWEL_OF = {kana: vowel for vowel, row in _ROWS.items() for kana in row}
# A vowel that only lengthens the one before it: ou/oo -> o, ei/ee -> e, uu -> u, ii -> i, aa -> a.
_LENGTHENERS = {"a": "あ", "i": "い", "u": "う", "e": "えい", "o": "おう"}


def g2p_kana(text: str) -> str:
    """Open JTalk's katakana reading (thread-safe: under the process-wide lock)."""
    if not text.strip():
        return ""
    with OPENJTALK_LOCK:
        return pyopenjtalk.g2p(text, kana=True)


@lru_cache(maxsize=8192)
def reading(text: str, *, digit_by_digit: bool = False) -> str:
    """Hiragana reading of what a recognizer wrote, punctuation dropped.

    With `digit_by_digit`, runs of two or more Arabic digits are read one digit at a time
    (ticket numbers), not as one large number.
    """
    if digit_by_digit:
        text = _DIGIT_RUN.sub(lambda m: "".join(_KANJI_DIGITS[int(d)] for d in m.group()), text)
    kana = jaconv.kata2hira(text)
    if _ALL_KANA.fullmatch(kana):  # already a reading (Vosk, hiragana): g2p would read は as the particle わ
        return _NOT_KANA.sub("", kana)
    return _NOT_KANA.sub("", jaconv.kata2hira(g2p_kana(kana)))


def fold(kana: str) -> str:
    """One spelling per sound: long vowels and ー dropped, じゆ -> じゅ, small vowels made large.

    じゅうじ, じゅーじ and じゅじ all fold to じゅじ; しょうわ to しょわ; ようか to よか.
    """
    kana = jaconv.kata2hira(kana).translate(_SMALL)
    out: list[str] = []
    for ch in kana:
        if ch == "ー":
            continue
        previous = out[-1] if out else ""
        if ch in "ゃゅょ" or (ch in "やゆよ" and previous and previous in _YOON_AFTER):
            out.append({"や": "ゃ", "ゆ": "ゅ", "よ": "ょ"}.get(ch, ch))
            continue
        if previous and ch in _LENGTHENERS.get(_VOWEL_OF.get(previous, ""), ""):
            continue
        out.append(ch)
    return "".join(out)


def folded_reading(text: str, *, digit_by_digit: bool = False) -> str:
    return fold(reading(text, digit_by_digit=digit_by_digit))


def morae(kana: str) -> tuple[str, ...]:
    """Split kana into morae: a kana with its small ゃゅょ is one mora; っ and ん are morae of their own."""
    out: list[str] = []
    for ch in kana:
        if ch in "ゃゅょぁぃぅぇぉ" and out:
            out[-1] += ch
        else:
            out.append(ch)
    return tuple(out)


_CONSONANTS = {kana: consonant for row, consonant in (
    ("あいうえお", ""), ("かきくけこ", "k"), ("がぎぐげご", "g"), ("さしすせそ", "s"), ("ざじずぜぞ", "z"),
    ("たちつてと", "t"), ("だぢづでど", "d"), ("なにぬねの", "n"), ("はひふへほ", "h"), ("ばびぶべぼ", "b"),
    ("ぱぴぷぺぽ", "p"), ("まみむめも", "m"), ("やゆよ", "y"), ("らりるれろ", "r"), ("わを", "w"),
) for kana in row} | {"ん": "N", "っ": "Q"}


# Consonants told apart by voicing only, which telephone audio and recognizers blur (ち/じ: ch/j).
_PLACE = {"g": "k", "z": "s", "d": "t", "b": "h", "p": "h", "sh": "sh", "ch": "sh", "j": "sh"}
_POSTALVEOLAR = {"し": "sh", "ち": "ch", "じ": "j", "ぢ": "j"}


def _sound(mora: str) -> tuple[str, str]:
    """(consonant, vowel) of a mora: きゅ -> (k, u), ちゅ -> (ch, u)."""
    head = mora[0]
    return _POSTALVEOLAR.get(head) or _CONSONANTS.get(head, head), _VOWEL_OF.get(mora[-1], "")


def _substitution(a: str, b: str) -> float:
    """0 for the same mora; 0.25 for its voiced or unvoiced twin (ちゅ/じゅ, か/が); 0.5 for one
    sharing its consonant (く/きゅ, じ/じゅ); 0.75 for one sharing only its vowel (こ/も); else 1."""
    if a == b:
        return 0.0
    (ca, va), (cb, vb) = _sound(a), _sound(b)
    if va and va == vb and ca != cb and _PLACE.get(ca, ca) == _PLACE.get(cb, cb):
        return 0.25
    if ca and ca == cb:
        return 0.5
    return 0.75 if va and va == vb else 1.0


# し・あ said quickly is しゃ (and ひ・よ is ひょ): a recognizer writes しやさって for しあさって.
GLIDE_COST = 0.25
_GLIDE_VOWELS = {"ゃ": "あ", "ゅ": "う", "ょ": "お"}


def _glided(first: str, second: str, mora: str) -> bool:
    """Whether the morae `first` `second` (し, あ) are said as the one glided `mora` (しゃ)."""
    return len(mora) == 2 and first == mora[0] and first in _YOON_AFTER and _GLIDE_VOWELS.get(mora[1]) == second


def _distance(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Mora edit distance; two morae against their glided one (し・あ / しゃ) cost `GLIDE_COST`."""
    before: list[float] = []
    previous = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        current = [float(i)]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + _substitution(x, y))
            if i >= 2 and _glided(a[i - 2], x, y):
                cost = min(cost, before[j - 1] + GLIDE_COST)
            if j >= 2 and _glided(b[j - 2], y, x):
                cost = min(cost, previous[j - 2] + GLIDE_COST)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def similarity(expected: str, heard: str, *, within: bool = True) -> float:
    """How alike two folded readings sound: 1 - mora edit distance / length (a mora that shares
    its consonant or vowel with the one expected costs half). With `within`, `expected` may be
    found anywhere in `heard` (1.0 when contained; else the best window of `heard`)."""
    want, got = morae(expected), morae(heard)
    if not want or not got:
        return 0.0
    if within and expected in heard:
        return 1.0
    best = 1.0 - _distance(want, got) / max(len(want), len(got))
    if not within:
        return best
    size = len(want)
    for start in range(max(1, len(got) - size + 2)):
        for width in (size - 1, size, size + 1):
            window = got[start : start + width]
            if window:
                best = max(best, 1.0 - _distance(want, window) / max(size, len(window)))
    return best
