import pytest

from ivr.commands import with_overrides
from ivr.config import ConfigError, Settings, parse_api_tokens, parse_host_port


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


@pytest.mark.parametrize("text, expected", [
    ("staff:abc", {"abc": "staff"}),
    ("staff:a, operator:b,channel:c", {"a": "staff", "b": "operator", "c": "channel"}),
    ("", {}),
])
def test_api_tokens(text, expected):
    assert parse_api_tokens(text) == expected


@pytest.mark.parametrize("text", ["staff", "boss:x", "staff:"])
def test_bad_api_tokens_are_rejected(text):
    with pytest.raises(ConfigError):
        parse_api_tokens(text)


@pytest.mark.parametrize("text", ["localhost", "host:99999", ":80", "h:x"])
def test_bad_host_port(text):
    with pytest.raises(ConfigError):
        parse_host_port(text)


def test_person_key_required_in_production():
    with pytest.raises(ConfigError):
        Settings(production=True).person_key_bytes()
    assert Settings(person_key="k").person_key_bytes() == b"k"
