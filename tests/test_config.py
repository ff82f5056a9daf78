import pytest

from ivr.commands import with_overrides
from ivr.config import ConfigError, Credential, Settings, parse_api_credentials, parse_api_tokens, parse_host_port


def test_defaults_match_the_interfaces():
    settings = Settings(_env_file=None)
    assert settings.db == "sqlite:///var/madoguchi.db"
    assert settings.http == "127.0.0.1:8080"
    assert settings.audiosocket == "127.0.0.1:9092"
    assert settings.ami == "127.0.0.1:5038"
    assert settings.timezone == "Asia/Tokyo"


def test_environment_twin_and_flag_override(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_DB", "sqlite:///from-env.db")
    monkeypatch.setenv("MADOGUCHI_HTTP", "127.0.0.1:9999")
    settings = Settings()
    assert settings.db == "sqlite:///from-env.db"
    assert with_overrides(settings, db="sqlite:///flag.db", http=None).db == "sqlite:///flag.db"
    assert with_overrides(settings, db="sqlite:///flag.db").http == "127.0.0.1:9999"


A, B, C = "a" * 24, "b" * 30, "c" * 40


@pytest.mark.parametrize("text, expected", [
    (f"staff:{A}", {A: "staff"}),
    (f"staff:{A}, operator:{B},channel:{C}", {A: "staff", B: "operator", C: "channel"}),
    (f"channel:chat:{C}", {C: "channel"}),
    ("", {}),
])
def test_api_tokens(text, expected):
    assert parse_api_tokens(text) == expected


@pytest.mark.parametrize("text", ["staff", f"boss:{A}", "staff:", f"staff:x:{A}", f"channel:Bad Label:{A}",
                                  f"channel:a:b:{A}", f"channel:chat:"])
def test_bad_api_tokens_are_rejected(text):
    with pytest.raises(ConfigError):
        parse_api_tokens(text)


def test_short_api_tokens_refuse_to_start():
    with pytest.raises(ConfigError, match="at least 24"):
        parse_api_tokens(f"staff:{A},channel:short-token")
    with pytest.raises(ConfigError, match="at least 24"):
        Settings(_env_file=None, api_tokens="operator:" + "x" * 23).tokens()


def test_the_channel_label_comes_from_the_token():
    credentials = parse_api_credentials(f"channel:{A},channel:chat:{B},staff:{C},admin:{C[:-1]}")
    assert credentials[A] == Credential("channel", "web")  # the label an unlabelled channel always had
    assert credentials[B] == Credential("channel", "chat")
    assert credentials[C] == Credential("staff", "staff") and credentials[C[:-1]].label == "staff"


def test_trusted_proxies_are_networks():
    assert [str(n) for n in Settings(_env_file=None, trusted_proxies="127.0.0.1, 10.0.0.0/8").proxy_networks()] == [
        "127.0.0.1/32", "10.0.0.0/8"]
    assert Settings(_env_file=None).proxy_networks() == ()
    with pytest.raises(ValueError, match="MADOGUCHI_TRUSTED_PROXIES"):
        Settings(_env_file=None, trusted_proxies="localhost")


@pytest.mark.parametrize("text", ["localhost", "host:99999", ":80", "h:x"])
def test_bad_host_port(text):
    with pytest.raises(ConfigError):
        parse_host_port(text)


def test_person_key_required_in_production():
    with pytest.raises(ConfigError):
        Settings(production=True).person_key_bytes()
    assert Settings(person_key="k").person_key_bytes() == b"k"


def test_person_key_is_never_generated_into_the_settings_object():
    """Settings are not mutated: a missing key is an error; the composition root makes a copy with one."""
    settings = Settings(_env_file=None)
    with pytest.raises(ConfigError, match="MADOGUCHI_PERSON_KEY"):
        settings.person_key_bytes()
    assert settings.person_key is None
    keyed = settings.with_person_key()
    assert keyed is not settings and settings.person_key is None
    assert keyed.person_key_bytes() == keyed.person_key_bytes() and len(keyed.person_key_bytes()) >= 32
    assert keyed.with_person_key() is keyed
    with pytest.raises(ValueError):  # frozen: one settings object, passed down, never changed
        settings.person_key = keyed.person_key
    with pytest.raises(ConfigError, match="MADOGUCHI_PERSON_KEY"):
        Settings(_env_file=None, production=True).with_person_key()


def test_every_worker_process_gets_the_same_person_key():
    """`ivr serve --workers N` without MADOGUCHI_PERSON_KEY: the children hash with the parent's key."""
    from ivr.service.workers import IvrWorkers
    from ivr.events import EventBus

    settings = Settings(_env_file=None, workers=3).with_person_key()
    workers = IvrWorkers(settings, 2, audiosocket_port=9092, bus=EventBus())
    assert workers.env["MADOGUCHI_PERSON_KEY"] == settings.person_key_bytes().decode()


def test_max_calls_defaults_to_unlimited_and_has_its_environment_twin(monkeypatch):
    assert Settings(_env_file=None).max_calls == 0
    monkeypatch.setenv("MADOGUCHI_MAX_CALLS", "12")
    assert Settings(_env_file=None).max_calls == 12
    monkeypatch.setenv("MADOGUCHI_MAX_CALLS", "-1")
    with pytest.raises(ValueError):
        Settings(_env_file=None)
