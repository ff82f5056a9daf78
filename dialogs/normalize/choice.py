"""Match an utterance against listed options by kana reading, tolerant of recognition errors."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.normalize.reading import folded_reading, similarity
from dialogs.normalize.text import strip_fillers, width

DEFAULT_THRESHOLD = 0.75
_MARGIN = 0.1


@dataclass(frozen=True)
class ChoiceMatch:
    key: str
    confidence: float
    word: str


def reading(text: str) -> str:
    """The folded kana reading options and answers are compared by (ホケン-センター ~ ほけんせんた)."""
    return folded_reading(text)


def _end(option: str, heard: str) -> int:
    position = heard.rfind(option)
    return position + len(option) if position >= 0 and option else 0


def match_choice(
    text: str, options: dict[str, tuple[str, ...]], *, threshold: float = DEFAULT_THRESHOLD
) -> ChoiceMatch | None:
    """The option whose words the caller said, or None when unsure.

    The confidence is the best similarity of an option word's reading to any stretch of what
    was heard; a match needs `threshold` and a clear lead over any other option.
    """
    heard = reading(strip_fillers(width(text)))
    scored: list[tuple[float, int, ChoiceMatch]] = []
    for key, words in options.items():
        best = max(((similarity(reading(word), heard), _end(reading(word), heard), word) for word in words),
                   default=(0.0, 0, ""))
        scored.append((best[0], best[1], ChoiceMatch(key, round(best[0], 3), best[2])))
    # Whole words heard win over fuzzy ones; among whole words the one ending last, as the head
    # of a Japanese phrase comes last (予約の変更 is a change, 予約を取り消したい a cancellation).
    scored.sort(key=lambda s: (s[0], s[1] if s[0] == 1.0 else 0), reverse=True)
    if not scored or scored[0][0] < threshold:
        return None
    if len(scored) > 1:
        (first, first_len, _), (second, second_len, _) = scored[0], scored[1]
        if first == 1.0 and second == 1.0:
            if first_len == second_len:
                return None
        elif first - second < _MARGIN:
            return None
    return scored[0][2]
