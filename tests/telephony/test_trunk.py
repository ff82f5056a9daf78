"""The carrier trunk rendered from the TRUNK_* values (madoguchi-trunk.conf, rtp.conf), in Python and
by the container's entrypoint alike."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from telephony.asterisk import PRODUCTION_DEFAULTS, ConfigTemplateError, render_config
from telephony.asterisk.trunk import TrunkConfigError, match_address, trunk_sections

ROOT = Path(__file__).resolve().parents[2]
VALUES = {**PRODUCTION_DEFAULTS, "AMI_USER": "madoguchi", "AMI_SECRET": "s", "OPERATOR_SECRET": "op"}


def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """[(name, {option: [values]})] in file order (pjsip.conf repeats names with different types)."""
    found: list[tuple[str, dict[str, list[str]]]] = []
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("["):
            found.append((line, {}))
        elif "=" in line and found:
            key, value = (part.strip() for part in line.split("=", 1))
            found[-1][1].setdefault(key, []).append(value)
    return found


def of_type(text: str, kind: str) -> list[tuple[str, dict[str, list[str]]]]:
    return [(name, options) for name, options in sections(text) if options.get("type") == [kind]]


def test_the_default_trunk_identifies_the_carrier_by_address_only():
    text = render_config(VALUES)["madoguchi-trunk.conf"]
    (name, endpoint), = of_type(text, "endpoint")
    assert name == "[trunk]" and endpoint["identify_by"] == ["ip"]  # never by the From user's name
    assert endpoint["allow"] == ["ulaw,alaw"] and endpoint["dtmf_mode"] == ["rfc4733"]
    assert endpoint["context"] == ["madoguchi-inbound"] and endpoint["rtp_symmetric"] == ["yes"]
    assert endpoint["trust_id_inbound"] == ["yes"]  # the carrier's P-Asserted-Identity names the caller
    (_, identify), = of_type(text, "identify")
    assert identify["match"] == ["192.0.2.10"] and identify["endpoint"] == ["trunk"]
    assert not of_type(text, "registration") and "(+)" not in text
    assert '#include "madoguchi-trunk.conf"' in render_config(VALUES)["pjsip.conf"]
    rtp = render_config(VALUES)["rtp.conf"]
    assert "rtpstart = 10000" in rtp and "rtpend = 10099" in rtp


def test_a_carrier_with_a_port_registration_and_nat():
    text = trunk_sections({**VALUES, "TRUNK_HOST": "sip.carrier.example.jp:5080", "TRUNK_CODECS": "ALAW, ulaw",
                           "TRUNK_REGISTER_USER": "0312345678", "TRUNK_REGISTER_SECRET": "s3cret",
                           "TRUNK_EXTERNAL_ADDRESS": "198.51.100.7", "TRUNK_LOCAL_NETS": "10.1.0.0/16"})
    transport = [options for name, options in sections(text) if name == "[transport-udp](+)"]
    assert transport == [{"external_media_address": ["198.51.100.7"], "external_signaling_address": ["198.51.100.7"],
                          "local_net": ["10.1.0.0/16"]}]
    (_, endpoint), = of_type(text, "endpoint")
    assert endpoint["allow"] == ["alaw,ulaw"] and endpoint["outbound_auth"] == ["trunk-auth"]
    (_, identify), = of_type(text, "identify")
    assert identify["match"] == ["sip.carrier.example.jp"]
    (_, aor), = of_type(text, "aor")
    assert aor["contact"] == ["sip:sip.carrier.example.jp:5080"]
    (_, registration), = of_type(text, "registration")
    assert registration["server_uri"] == ["sip:sip.carrier.example.jp:5080"]
    assert registration["client_uri"] == ["sip:0312345678@sip.carrier.example.jp:5080"]
    (name, auth), = of_type(text, "auth")
    assert name == "[trunk-auth]" and auth["username"] == ["0312345678"] and auth["password"] == ["s3cret"]


def test_nat_without_local_nets_keeps_the_private_ranges_local():
    text = trunk_sections({**VALUES, "TRUNK_EXTERNAL_ADDRESS": "203.0.113.9"})
    assert [o["local_net"] for n, o in sections(text) if n == "[transport-udp](+)"] == [
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]]


@pytest.mark.parametrize(("values", "message"), [
    ({"TRUNK_HOST": ""}, "MADOGUCHI_TRUNK_HOST"),
    ({"TRUNK_HOST": "carrier example"}, "MADOGUCHI_TRUNK_HOST"),
    ({"TRUNK_CODECS": "g729"}, "MADOGUCHI_TRUNK_CODECS"),
    ({"TRUNK_CODECS": "ulaw,ulaw"}, "MADOGUCHI_TRUNK_CODECS"),
    ({"TRUNK_REGISTER_USER": "0312345678"}, "go together"),
    ({"TRUNK_REGISTER_SECRET": "s"}, "go together"),
    ({"TRUNK_REGISTER_USER": "a b", "TRUNK_REGISTER_SECRET": "s"}, "MADOGUCHI_TRUNK_REGISTER_USER"),
    ({"TRUNK_EXTERNAL_ADDRESS": "1.2.3.4", "TRUNK_LOCAL_NETS": "10.0.0.0/33"}, "MADOGUCHI_TRUNK_LOCAL_NETS"),
])
def test_malformed_trunk_values_are_named(values, message):
    with pytest.raises(TrunkConfigError, match=message):
        trunk_sections({**VALUES, **values})
    with pytest.raises(ConfigTemplateError, match="madoguchi-trunk.conf"):
        render_config({**VALUES, **values})


def test_the_match_is_the_address_without_the_port():
    assert match_address("192.0.2.1:5060") == "192.0.2.1"
    assert match_address("[2001:db8::1]:5060") == "2001:db8::1"
    assert match_address("gw.example.jp") == "gw.example.jp"


@pytest.mark.parametrize("env", [
    {},
    {"MADOGUCHI_TRUNK_HOST": "sip.carrier.example.jp:5080", "MADOGUCHI_TRUNK_CODECS": "alaw,ulaw",
     "MADOGUCHI_TRUNK_REGISTER_USER": "0312345678", "MADOGUCHI_TRUNK_REGISTER_SECRET": "s3cret",
     "MADOGUCHI_TRUNK_EXTERNAL_ADDRESS": "198.51.100.7", "MADOGUCHI_TRUNK_LOCAL_NETS": "10.1.0.0/16,192.168.3.0/24",
     "MADOGUCHI_TRUNK_RTP_PORTS": "12000-12199"},
])
def test_the_container_renders_the_same_trunk_and_rtp_ports(tmp_path, env):
    base = {"PATH": os.environ["PATH"], "MADOGUCHI_ASTERISK_TEMPLATES": str(ROOT / "telephony" / "asterisk"),
            "MADOGUCHI_ASTERISK_ETC": str(tmp_path), "MADOGUCHI_AMI_SECRET": "s", "MADOGUCHI_OPERATOR_SECRET": "op"}
    result = subprocess.run(["sh", str(ROOT / "docker" / "asterisk" / "entrypoint.sh"), "true"],
                            env={**base, **env}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    start, _, end = env.get("MADOGUCHI_TRUNK_RTP_PORTS", "10000-10099").partition("-")
    trunk = {key.removeprefix("MADOGUCHI_"): value for key, value in env.items() if key != "MADOGUCHI_TRUNK_RTP_PORTS"}
    expected = render_config({**VALUES, **trunk, "RTP_START": start, "RTP_END": end})
    for name in ("madoguchi-trunk.conf", "rtp.conf", "pjsip.conf"):
        assert (tmp_path / name).read_text() == expected[name], name


def test_the_container_refuses_half_a_registration(tmp_path):
    env = {"PATH": os.environ["PATH"], "MADOGUCHI_ASTERISK_TEMPLATES": str(ROOT / "telephony" / "asterisk"),
           "MADOGUCHI_ASTERISK_ETC": str(tmp_path), "MADOGUCHI_AMI_SECRET": "s", "MADOGUCHI_OPERATOR_SECRET": "op",
           "MADOGUCHI_TRUNK_REGISTER_USER": "0312345678"}
    result = subprocess.run(["sh", str(ROOT / "docker" / "asterisk" / "entrypoint.sh"), "true"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "MADOGUCHI_TRUNK_REGISTER_SECRET" in result.stderr
