"""docker-compose.yml, validated by the compose client itself (no Docker engine needed)."""

from __future__ import annotations

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
    "MADOGUCHI_API_TOKENS": "staff:token-for-test",
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


def test_only_sip_and_rtp_are_published(config):
    published = []
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            published.append((name, int(port["published"]), port["protocol"]))
    assert published, "SIP must be published"
    assert all(name == "asterisk" and proto == "udp" for name, _, proto in published)
    numbers = sorted(p for _, p, _ in published)
    assert numbers[0] == 5060
    assert all(10000 <= p < 20000 for p in numbers[1:]), "only SIP 5060 and the RTP range"


def test_secrets_come_from_the_environment(config):
    ivr = config["services"]["ivr"]["environment"]
    assert ivr["MADOGUCHI_AMI_SECRET"] == SECRETS["MADOGUCHI_AMI_SECRET"]
    assert ivr["MADOGUCHI_PERSON_KEY"] == SECRETS["MADOGUCHI_PERSON_KEY"]
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
