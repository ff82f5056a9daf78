"""The one settings object, built at the composition root and passed down.

Every field has a `MADOGUCHI_` environment twin (`MADOGUCHI_DB`, `MADOGUCHI_HTTP`, ...);
CLI flags override the environment. Library code never reads `os.environ`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("staff", "operator", "channel", "admin")
# Seats of the line when max_calls is 0 (no limit per process): what one 2-core machine serves well
# (40 callers at once on 8 seats, the others waiting in line: docs/BENCHMARKS.md, peak load).
DEFAULT_LINE_SEATS = 8


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def parse_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


MIN_TOKEN_LENGTH = 24
CHANNEL_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
DEFAULT_LABEL = {"channel": "web", "staff": "staff", "admin": "staff", "operator": "operator"}


@dataclass(frozen=True)
class Credential:
    """What a configured API token is: its role, and the channel label recorded for what it does
    (audit log, bookings, metric labels); the client never chooses the label."""

    role: str
    label: str


def parse_api_credentials(value: str) -> dict[str, Credential]:
    """`role:token` or `channel:LABEL:token`, comma-separated -> {token: Credential}."""
    found: dict[str, Credential] = {}
    for pair in filter(None, (p.strip() for p in value.split(","))):
        parts = pair.split(":")
        role, token = parts[0], parts[-1]
        if len(parts) not in (2, 3) or not token:
            raise ConfigError(f"MADOGUCHI_API_TOKENS: expected role:token or channel:label:token, got {role!r}:…")
        if role not in ROLES:
            raise ConfigError(f"MADOGUCHI_API_TOKENS: unknown role {role!r} (one of {', '.join(ROLES)})")
        label = parts[1] if len(parts) == 3 else DEFAULT_LABEL[role]
        if len(parts) == 3 and (role != "channel" or not CHANNEL_LABEL.match(label)):
            raise ConfigError("MADOGUCHI_API_TOKENS: a label is given only to channel tokens, as channel:label:token "
                              "with a label of a-z, 0-9, _ and - (at most 32 characters)")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"MADOGUCHI_API_TOKENS: the {role} token is {len(token)} characters long; tokens "
                              f"need at least {MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; "
                              f"print(secrets.token_urlsafe(32))')")
        found[token] = Credential(role, label)
    return found


def parse_api_tokens(value: str) -> dict[str, str]:
    """`role:token,role:token` -> {token: role} (see `parse_api_credentials`)."""
    return {token: credential.role for token, credential in parse_api_credentials(value).items()}


DOCUMENTATION_HOST = "192.0.2.10"  # nobody's address (RFC 5737): the trunk is not set up yet


def parse_port_range(value: str) -> tuple[int, int]:
    """`10000-10099` -> (10000, 10099); a clear error for anything else."""
    start, sep, end = value.strip().partition("-")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise ConfigError(f"MADOGUCHI_TRUNK_RTP_PORTS: expected START-END, e.g. 10000-10099, got {value!r}")
    low, high = int(start), int(end)
    if not 1024 <= low < high <= 65535:
        raise ConfigError(f"MADOGUCHI_TRUNK_RTP_PORTS: ports from 1024 to 65535, the first below the last, got {value!r}")
    return low, high


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """`10.0.0.1, 192.168.0.0/24` -> networks (a bare address is a network of one)."""
    try:
        return tuple(ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip())
    except ValueError as error:
        raise ConfigError(f"MADOGUCHI_TRUSTED_PROXIES: {error}") from None


class Settings(BaseSettings):
    # frozen: built once at the composition root and passed down; changes make a copy (with_overrides)
    model_config = SettingsConfigDict(env_prefix="MADOGUCHI_", extra="ignore", frozen=True)

    db: str = "sqlite:///var/madoguchi.db"
    http: str = "127.0.0.1:8080"
    audiosocket: str = "127.0.0.1:9092"
    ami: str = "127.0.0.1:5038"
    workers: int = 1
    # processes answering HTTP on the one port (SO_REUSEPORT); the extra ones serve the API's slots,
    # holds and bookings and the residents' site themselves and pass the rest to the main process
    http_processes: int = Field(default=1, ge=1, le=64)
    max_calls: int = Field(default=0, ge=0)  # AudioSocket calls at once per process; 0: no limit
    # Admission in Asterisk (queue madoguchi-line, rendered into the config at install): callers beyond
    # the IVR's seats (max_calls x workers) wait, told their position and expected wait in Japanese; ...
    line_max_waiting: int = Field(default=20, ge=0)  # ... at most this many; beyond, busy + call-back offer
    line_max_wait_minutes: int = Field(default=15, ge=1)  # ... or when the expected wait is longer
    line_call_seconds: int = Field(default=90, ge=10)  # a call's expected length, for the wait estimate
    # Several `ivr serve` nodes on one PostgreSQL share their events (LISTEN/NOTIFY; ivr.service.pg_events):
    node_name: str = ""  # this node's name on every dashboard; "": HOSTNAME:HTTP-PORT
    asterisk_name: str = ""  # the Asterisk this node's AMI talks to; "": the AMI address (loopback: HOSTNAME:PORT)
    share_events: bool = True  # on PostgreSQL; SQLite: one node, nothing to share
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

    # SIP, rendered into pjsip.conf (madoguchi-trunk.conf) and rtp.conf by `ivr asterisk up` and the
    # container; `ivr asterisk check` reports what is wrong (docs/CARRIER.md)
    operator_secret: SecretStr = SecretStr("")  # operator1's phone registers with it
    trunk_host: str = DOCUMENTATION_HOST  # the carrier's or VoIP gateway's address or name[:port]
    trunk_codecs: str = "ulaw,alaw"  # codec order (Japanese networks: μ-law)
    trunk_register_user: str = ""  # outbound registration, for carriers that want one (both or neither)
    trunk_register_secret: SecretStr = SecretStr("")
    trunk_external_address: str = ""  # behind NAT: the public address written into SIP and SDP
    trunk_local_nets: str = ""  # networks reached without NAT; empty: the private ranges
    trunk_rtp_ports: str = "10000-10099"  # UDP ports for calls' audio, START-END (parsed where used)

    hold_ttl_seconds: int = 300
    alternatives: int = 3
    channel_max_holds: int = 20  # live holds one API channel label may have at once (429 beyond)

    max_body_bytes: int = 1_048_576  # request bodies beyond this answer 413, before they are read
    trusted_proxies: str = ""  # addresses/networks whose X-Forwarded-For is believed, e.g. "127.0.0.1"
    login_max_failures: int = 5  # failed dashboard logins per account and per client address ...
    login_window_seconds: int = 300  # ... within this window; then 429 with Retry-After
    # Booking actions per client address per minute (then 429 with Retry-After), so that one script
    # cannot take every place at an opening; 0: no limit (e.g. for bench/web.py, which books from one address)
    web_rate_per_minute: int = Field(default=20, ge=0)  # /yoyaku/: identify, hold and confirm together
    web_rate_api_per_minute: int = Field(default=120, ge=0)  # POST /api/v1/holds (a front end serves many residents)

    asr_backend: Literal["auto", "whisper", "vosk"] = "auto"
    models_dir: Path = Path("asr_models")
    vosk_model: Path | None = None
    tts_backend: Literal["openjtalk", "espeak"] = "openjtalk"
    tts_speed: float = 0.9
    tts_volume_dbfs: float = -4.5
    tts_processes: int = 2  # synthesis worker processes for `ivr serve` (one per core); 0: a thread
    prompt_cache_dir: Path = Path("var/prompt-cache")
    prompt_cache_entries: int = Field(512, ge=1)  # rendered prompts kept in memory (least recently used go)
    dialog_script: Path = Path("dialogs/scripts/vaccine.yaml")

    @field_validator("http", "audiosocket", "ami")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_host_port(value)
        return value

    @field_validator("node_name", "asterisk_name")
    @classmethod
    def _label(cls, value: str) -> str:
        if len(value.strip()) > 64 or not value.isprintable():
            raise ValueError("at most 64 printable characters")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def line_seats(self) -> int:
        """Calls Asterisk admits to the IVR at once: max_calls per process x processes (without a
        max_calls, DEFAULT_LINE_SEATS)."""
        return self.max_calls * max(1, self.workers) if self.max_calls else DEFAULT_LINE_SEATS

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tokens(self) -> dict[str, str]:
        return parse_api_tokens(self.api_tokens.get_secret_value())

    def credentials(self) -> dict[str, Credential]:
        return parse_api_credentials(self.api_tokens.get_secret_value())

    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    def person_key_bytes(self) -> bytes:
        """The key for hashing ticket numbers (never generated here: see `with_person_key`)."""
        if self.person_key is not None and self.person_key.get_secret_value():
            return self.person_key.get_secret_value().encode()
        if self.production:
            raise ConfigError("MADOGUCHI_PERSON_KEY is required in production mode")
        raise ConfigError("MADOGUCHI_PERSON_KEY is not set (the composition root calls with_person_key())")

    def with_person_key(self) -> Settings:
        """These settings if they carry a person key; outside production a copy with a generated one
        (for this run only, shared by every part and worker process it starts). Never mutates."""
        if self.person_key is not None and self.person_key.get_secret_value():
            return self
        if self.production:
            raise ConfigError("MADOGUCHI_PERSON_KEY is required in production mode")
        return self.model_copy(update={"person_key": SecretStr(secrets.token_hex(32))})
