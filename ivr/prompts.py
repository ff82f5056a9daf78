"""The fixed prompts of a dialog script, rendered into the synthesizer's cache as the service starts.

A prompt is fixed when nothing in it depends on the call: no placeholders, or only the ones the
script itself answers (`{title}`, `{operator_key}`). Those are the texts the engine says word for
word, so rendering them once before the first call is what lets their first audio frame go out at
once; prompts with call data (dates, times, codes) are synthesized per call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dialogs.engine import callback_steps, keypad_prompt
from dialogs.render import render
from dialogs.script import Script, placeholders
from ivr.session import APOLOGY_GOODBYE, APOLOGY_TRANSFER
from ivr.speech.tts import split_stream_pieces

logger = logging.getLogger(__name__)
SCRIPT_PLACEHOLDERS = frozenset({"title", "operator_key", "yes_key", "no_key"})  # known from the script alone


def fixed_prompts(script: Script) -> list[str]:
    """Every text the engine or the session may say unchanged on any call, in first-use order."""
    messages = script.messages
    texts = [messages["transfer"], messages["goodbye"], messages["error"], messages["no_operator"],
             APOLOGY_TRANSFER, APOLOGY_GOODBYE]
    for step in [*script.steps.values(), *callback_steps(script).values()]:
        if not step.say:
            continue
        texts.append(step.say)
        if step.ask:  # what the engine says after a turn not understood, or silence: an example, then keys
            texts.append(step.reprompt or messages["reprompt"] + step.say)
            texts.append(messages["no_input"] + step.say)
            texts += [keypad_prompt(script, step, messages["reprompt"]), keypad_prompt(script, step, messages["no_input"])]
    # the fixed head of a prompt with call data (予約しました。 before the code) plays while the rest renders
    texts += [piece for step in script.steps.values() if placeholders(step.say)
              for piece in split_stream_pieces(step.say) if not placeholders(piece)]
    fixed = [render(text, {}, script) for text in texts if set(placeholders(text)) <= SCRIPT_PLACEHOLDERS]
    return list(dict.fromkeys(fixed))


async def warm_prompts(synthesizer: Any, script: Script) -> int:
    """Render the script's fixed prompts into the cache one by one, so that cancelling it (the
    service stopping) stops between prompts; returns how many were new."""
    texts = fixed_prompts(script)
    new = 0
    for text in texts:
        new += await synthesizer.warm_async(text)
    logger.info("prompt cache warm: %d fixed prompts, %d newly rendered", len(texts), new)
    return new
