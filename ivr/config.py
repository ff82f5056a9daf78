"""The one settings object, built at the composition root and passed down.

Every field has a `MADOGUCHI_` environment twin (`MADOGUCHI_DB`, `MADOGUCHI_HTTP`, ...);
CLI flags override the environment. Library code never reads `os.environ`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("staff", "operator", "channel", "admin")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def parse_api_tokens(value: str) -> dict[str, str]:
    """`role:token,role:token` -> {token: role}."""
    tokens: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        role, sep, token = pair.partition(":")
        if not sep or not token:
            raise ConfigError(f"MADOGUCHI_API_TOKENS: expected role:token, got {role!r}:…")
        if role not in ROLES:
            raise ConfigError(f"MADOGUCHI_API_TOKENS: unknown role {role!r} (one of {', '.join(ROLES)})")
        tokens[token] = role
    return tokens


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MADOGUCHI_", extra="ignore")

    db: str = "sqlite:///var/madoguchi.db"
    http: str = "127.0.0.1:8080"
    audiosocket: str = "127.0.0.1:9092"
    ami: str = "127.0.0.1:5038"
    workers: int = 1
    timezone: str = "Asia/Tokyo"
    production: bool = False
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"

    ami_user: str = "madoguchi"
    ami_secret: SecretStr = SecretStr("")
    api_tokens: SecretStr = SecretStr("")
    person_key: SecretStr | None = None
    session_secret: SecretStr | None = None

    operator_hours: str = ""  # e.g. "Mon-Fri 08:30-17:15"; empty: staffed whenever an operator is logged in
    operator_queue: str = "operators"

    hold_ttl_seconds: int = 300
    alternatives: int = 3

    asr_backend: Literal["auto", "whisper", "vosk"] = "auto"
    models_dir: Path = Path("asr_models")
    vosk_model: Path | None = None
    tts_backend: Literal["openjtalk", "espeak"] = "openjtalk"
    tts_speed: float = 0.9
    tts_volume_dbfs: float = -4.5
    tts_processes: int = 2  # synthesis worker processes for `ivr serve` (one per core); 0: a thread
    prompt_cache_dir: Path = Path("var/prompt-cache")
    dialog_script: Path = Path("dialogs/scripts/vaccine.yaml")

    @field_validator("http", "audiosocket", "ami")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tokens(self) -> dict[str, str]:
        return parse_api_tokens(self.api_tokens.get_secret_value())

    def person_key_bytes(self) -> bytes:
        """The key for hashing ticket numbers; generated per process outside production."""
        if self.person_key is not None and self.person_key.get_secret_value():
            return self.person_key.get_secret_value().encode()
        if self.production:
            raise ConfigError("MADOGUCHI_PERSON_KEY is required in production mode")
        self.person_key = SecretStr(secrets.token_hex(32))
        return self.person_key.get_secret_value().encode()
