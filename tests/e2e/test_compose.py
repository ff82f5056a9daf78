"""docker-compose.yml, validated by the compose client itself (no Docker engine needed)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "MADOGUCHI_AMI_SECRET": "ami-secret-for-test",
    "MADOGUCHI_OPERATOR_SECRET": "operator-secret-for-test",
    "MADOGUCHI_PERSON_KEY": "person-key-for-test",
    "MADOGUCHI_API_TOKENS": "staff:compose-test-token-0123456789",
    "MADOGUCHI_SESSION_SECRET": "session-secret-for-test",
    "POSTGRES_PASSWORD": "db-password-for-test",
}


def _compose_command() -> list[str]:
    """`docker compose` (v2 plugin) when present, else Debian's `docker-compose` (installed by
    scripts/system-deps.sh). Neither present is a failure, never a skip."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "no compose client: run scripts/system-deps.sh (installs docker-compose)"
    return [legacy]


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MADOGUCHI_", "POSTGRES_"))}
    return subprocess.run(
        [*_compose_command(), "-f", str(ROOT / "docker-compose.yml"), "config"],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    result = _config(SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_three_services_each_with_a_healthcheck(config):
    assert set(config["services"]) == {"asterisk", "ivr", "db"}
    for name, service in config["services"].items():
        assert service["healthcheck"]["test"], name


def _port(port: dict | str) -> dict:
    """A published port as `config` writes it: a mapping (compose v2), or a string that the older
    client keeps when a host address is given ("127.0.0.1:8080:8080/tcp")."""
    if isinstance(port, dict):
        return port
    spec, _, protocol = port.partition("/")
    *host, published, target = spec.split(":")
    return {"host_ip": host[0] if host else None, "published": published, "target": target,
            "protocol": protocol or "tcp"}


def _mount(volume: dict | str) -> dict:
    """A service's volume as `config` writes it: a mapping (compose v2), or the short string that the
    older client keeps ("line-sounds:/usr/share/asterisk/sounds/madoguchi:ro")."""
    if isinstance(volume, dict):
        return volume
    source, target, *mode = volume.split(":")
    kind = "bind" if source.startswith((".", "/")) else "volume"
    return {"type": kind, "source": source, "target": target, "read_only": mode == ["ro"]}


def test_only_sip_rtp_and_the_http_api_are_published(config):
    published = []
    for name, service in config["services"].items():
        for port in map(_port, service.get("ports", [])):
            published.append((name, int(port["published"]), int(port["target"]), port["protocol"]))
    sip = sorted(p for name, p, _, proto in published if name == "asterisk" and proto == "udp")
    assert sip[0] == 5060 and all(10000 <= p < 20000 for p in sip[1:]), "only SIP 5060 and the RTP range"
    web = [(p, target, proto) for name, p, target, proto in published if name == "ivr"]
    assert web == [(8080, 8080, "tcp")], "the IVR publishes its HTTP API/dashboard and nothing else"
    ivr_port = _port(config["services"]["ivr"]["ports"][0])
    assert ivr_port.get("host_ip") == "127.0.0.1", "by default for a reverse proxy on the host only"
    assert len(published) == len(sip) + 1


def test_audiosocket_ami_and_the_database_stay_on_the_internal_network(config):
    networks = config["networks"]
    internal = next(name for name, network in networks.items() if network.get("internal"))
    subnet = ipaddress.ip_network(networks[internal]["ipam"]["config"][0]["subnet"])
    services = config["services"]
    assert list(services["db"]["networks"]) == [internal]
    address = {name: ipaddress.ip_address(services[name]["networks"][internal]["ipv4_address"])
               for name in ("asterisk", "ivr")}
    assert all(a in subnet for a in address.values())
    # the IVR listens for AudioSocket on its internal address only; Asterisk binds AMI likewise and
    # lets only the internal network log in
    host, _, port = services["ivr"]["environment"]["MADOGUCHI_AUDIOSOCKET"].rpartition(":")
    assert (ipaddress.ip_address(host), port) == (address["ivr"], "9092")
    asterisk_env = services["asterisk"]["environment"]
    assert ipaddress.ip_address(asterisk_env["MADOGUCHI_AMI_BIND"]) == address["asterisk"]
    permit_net, _, permit_mask = asterisk_env["MADOGUCHI_AMI_PERMIT"].partition("/")
    assert ipaddress.ip_network(f"{permit_net}/{permit_mask}") == subnet
    # each of the two has one more network, its own, to publish on; they share only the internal one
    outside = {name: set(services[name]["networks"]) - {internal} for name in ("asterisk", "ivr")}
    assert all(len(nets) == 1 and not networks[next(iter(nets))].get("internal") for nets in outside.values())
    assert not outside["asterisk"] & outside["ivr"]


def test_the_ivr_container_has_every_secret_production_mode_requires(config, monkeypatch):
    """`MADOGUCHI_PRODUCTION=true` refuses to start without any of them (a restart loop otherwise)."""
    from ivr.config import Settings
    from ivr.web import session_secret

    env = config["services"]["ivr"]["environment"]
    for name in [n for n in os.environ if n.startswith("MADOGUCHI_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.production
    settings.with_person_key()
    assert settings.tokens() and settings.ami_secret.get_secret_value()
    assert session_secret(settings) == SECRETS["MADOGUCHI_SESSION_SECRET"]


def test_secrets_come_from_the_environment(config):
    ivr = config["services"]["ivr"]["environment"]
    assert ivr["MADOGUCHI_AMI_SECRET"] == SECRETS["MADOGUCHI_AMI_SECRET"]
    assert ivr["MADOGUCHI_PERSON_KEY"] == SECRETS["MADOGUCHI_PERSON_KEY"]
    assert ivr["MADOGUCHI_SESSION_SECRET"] == SECRETS["MADOGUCHI_SESSION_SECRET"]
    assert SECRETS["POSTGRES_PASSWORD"] in ivr["MADOGUCHI_DB"]
    assert config["services"]["asterisk"]["environment"]["MADOGUCHI_AMI_SECRET"] == SECRETS["MADOGUCHI_AMI_SECRET"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert not any(value in text for value in SECRETS.values())


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_is_a_clear_error(missing):
    result = _config({k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


def test_ivr_talks_to_asterisk_and_db_over_the_compose_network(config):
    ivr = config["services"]["ivr"]["environment"]
    assert ivr["MADOGUCHI_AMI"] == "asterisk:5038"
    assert ivr["MADOGUCHI_AUDIOSOCKET"].endswith(":9092")
    assert ivr["MADOGUCHI_DB"].startswith("postgresql+psycopg://") and "@db:5432/" in ivr["MADOGUCHI_DB"]
    assert config["services"]["asterisk"]["environment"]["MADOGUCHI_AUDIOSOCKET"] == "ivr:9092"
    assert config["services"]["ivr"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_asterisk_image_is_debian_sid_with_our_config_mounted(config):
    asterisk = config["services"]["asterisk"]
    dockerfile = (Path(asterisk["build"]["context"]) / "Dockerfile").read_text()
    assert "\nFROM debian:sid\n" in dockerfile
    assert "apt-get" in dockerfile and " asterisk " in dockerfile.replace("\\", " ")
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in asterisk["volumes"]]
    assert f"{ROOT / 'telephony' / 'asterisk'}:/etc/madoguchi/asterisk:ro" in mounts


def test_the_image_renders_our_templates_like_ivr_asterisk_up(tmp_path):
    """The container's entrypoint and telephony.asterisk.render_config give the same files."""
    from telephony.asterisk import PRODUCTION_DEFAULTS, render_config

    env = {
        "PATH": os.environ["PATH"], "MADOGUCHI_ASTERISK_TEMPLATES": str(ROOT / "telephony" / "asterisk"),
        "MADOGUCHI_ASTERISK_ETC": str(tmp_path), "MADOGUCHI_AMI_SECRET": "s3cret/&x",
        "MADOGUCHI_OPERATOR_SECRET": "op-secret", "MADOGUCHI_AMI_USER": "madoguchi",
    }
    result = subprocess.run(["sh", str(ROOT / "docker" / "asterisk" / "entrypoint.sh"), "true"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    expected = render_config({
        **PRODUCTION_DEFAULTS, "AMI_USER": "madoguchi", "AMI_SECRET": "s3cret/&x", "OPERATOR_SECRET": "op-secret",
        "AUDIOSOCKET": "ivr:9092", "AMI_BIND": "0.0.0.0", "AMI_PERMIT": "172.16.0.0/255.240.0.0",
    })
    rendered = {p.name: p.read_text() for p in tmp_path.glob("*.conf")}
    assert rendered == expected
    assert "madoguchi-test.conf" not in rendered
    assert "AudioSocket(${MADOGUCHI_UUID},${MADOGUCHI_AUDIOSOCKET})" in rendered["extensions.conf"]


def test_the_image_refuses_to_start_without_its_secrets(tmp_path):
    env = {"PATH": os.environ["PATH"], "MADOGUCHI_ASTERISK_TEMPLATES": str(ROOT / "telephony" / "asterisk"),
           "MADOGUCHI_ASTERISK_ETC": str(tmp_path), "MADOGUCHI_OPERATOR_SECRET": "op"}
    result = subprocess.run(["sh", str(ROOT / "docker" / "asterisk" / "entrypoint.sh"), "true"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "MADOGUCHI_AMI_SECRET" in result.stderr
    assert not list(tmp_path.glob("*.conf"))


def test_the_line_prompts_the_ivr_renders_are_what_asterisk_plays_and_the_limits_agree(config, monkeypatch):
    """The IVR writes the line's Japanese prompts into a volume that Asterisk reads where its dialplan
    looks (MADOGUCHI_LINE_SOUNDS), for the same waiting limits, and admits as many calls as the IVR takes."""
    from ivr.config import Settings

    services = config["services"]
    mounts = {name: {m["source"]: m for m in map(_mount, services[name]["volumes"]) if m["type"] == "volume"}
              for name in ("asterisk", "ivr")}
    shared = set(mounts["asterisk"]) & set(mounts["ivr"])
    assert len(shared) == 1, "one volume carries the line's prompts"
    volume = shared.pop()
    seen_by_asterisk, written_by_ivr = mounts["asterisk"][volume], mounts["ivr"][volume]
    assert seen_by_asterisk.get("read_only") and not written_by_ivr.get("read_only")
    asterisk_env = services["asterisk"]["environment"]
    assert seen_by_asterisk["target"] == asterisk_env.get("MADOGUCHI_LINE_SOUNDS",
                                                          "/usr/share/asterisk/sounds/madoguchi")
    command = " ".join(services["ivr"].get("command") or [])
    dockerfile = (ROOT / "docker" / "ivr" / "Dockerfile").read_text()
    assert f"ivr asterisk sounds {written_by_ivr['target']} " in command + dockerfile
    ivr_env = services["ivr"]["environment"]
    for name in [n for n in os.environ if n.startswith("MADOGUCHI_")]:
        monkeypatch.delenv(name)
    for name, value in ivr_env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.line_seats == int(asterisk_env["MADOGUCHI_LINE_SEATS"])
    for field in ("line_max_waiting", "line_max_wait_minutes", "line_call_seconds"):
        assert str(getattr(settings, field)) == str(asterisk_env[f"MADOGUCHI_{field.upper()}"]), field
