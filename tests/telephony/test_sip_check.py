"""`ivr asterisk check`: the SIP settings' problems named, the carrier probed with a real OPTIONS."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from ivr.cli import cli
from ivr.config import Settings
from ivr.sip_check import check_sip
from telephony.sip_probe import SipProbeError, options_request, probe, status_line
from tests.fixtures.ports import free_port

GOOD = {"operator_secret": "x" * 24, "trunk_host": "10.20.30.40", "trunk_rtp_ports": "10000-10199"}


def problems(sip: Settings, *, resolve=None, probe=None) -> list[str]:
    found = check_sip(sip, resolve=resolve or (lambda name: ["10.20.30.40"]),
                      probe=probe or (lambda host, port: "SIP/2.0 200 OK"))
    return [f"{f.subject}: {f.message}" for f in found if not f.ok]


def test_a_complete_installation_has_no_problems():
    assert problems(Settings(**GOOD)) == []


@pytest.mark.parametrize(("change", "expected"), [
    ({"operator_secret": ""}, "MADOGUCHI_OPERATOR_SECRET is not set"),
    ({"operator_secret": "short"}, "has 5 characters"),
    ({"trunk_rtp_ports": ""}, "no RTP port range"),
    ({"trunk_rtp_ports": "10000"}, "expected START-END"),
    ({"trunk_rtp_ports": "20000-10000"}, "the first below the last"),
    ({"trunk_rtp_ports": "10000-10009"}, "carries the audio of 5 calls at once"),
    ({"trunk_codecs": "g729"}, "MADOGUCHI_TRUNK_CODECS"),
    ({"trunk_register_user": "0312345678"}, "go together"),
    ({"trunk_host": "192.0.2.10"}, "an example address"),
    ({"trunk_host": ""}, "MADOGUCHI_TRUNK_HOST is empty"),
])
def test_each_misconfiguration_is_named(change, expected):
    found = problems(Settings(**{**GOOD, **change}))
    assert len(found) == 1 and expected in found[0], found


def test_the_rtp_range_must_carry_the_whole_line():
    line = {"max_calls": 20, "line_max_waiting": 30}  # 20 seats + 30 waiting: 100 ports
    assert "at least 100 ports" in problems(Settings(**{**GOOD, **line, "trunk_rtp_ports": "10000-10059"}))[0]
    assert problems(Settings(**{**GOOD, **line, "trunk_rtp_ports": "10000-10099"})) == []


def test_an_unresolvable_or_silent_carrier_is_a_problem():
    def unknown(name):
        raise socket.gaierror(-2, "Name or service not known")

    def silent(host, port):
        raise SipProbeError(f"{host}:{port} did not answer a SIP OPTIONS within 3 s")

    found = problems(Settings(**{**GOOD, "trunk_host": "sip.nowhere.example"}), resolve=unknown)
    assert found == ["carrier: MADOGUCHI_TRUNK_HOST sip.nowhere.example does not resolve "
                     "([Errno -2] Name or service not known): check the name"]
    found = problems(Settings(**{**GOOD, "trunk_host": "10.20.30.40:5080"}), probe=silent)
    assert len(found) == 1 and "unreachable: 10.20.30.40:5080 did not answer" in found[0]


def test_status_line_takes_only_our_answer():
    request = options_request("192.0.2.1", 5060, "10.0.0.2", 40000, call_id="abc@x", tag="t", branch="b")
    assert request.startswith(b"OPTIONS sip:192.0.2.1:5060 SIP/2.0\r\n") and request.endswith(b"\r\n\r\n")
    assert b"\r\nCall-ID: abc@x\r\n" in request and b"Content-Length: 0" in request
    assert status_line(b"SIP/2.0 200 OK\r\nCall-ID: abc@x\r\n\r\n", "abc@x") == "SIP/2.0 200 OK"
    assert status_line(b"SIP/2.0 200 OK\r\ni: other\r\nCall-ID: other@x\r\n\r\n", "abc@x") is None
    assert status_line(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: abc@x\r\n\r\n", "abc@x") is None


def test_probe_of_a_closed_port_is_refused():
    with pytest.raises(SipProbeError, match="refused"):
        probe("127.0.0.1", free_port(socket.SOCK_DGRAM), timeout=3)


def test_probe_of_a_silent_peer_times_out():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        with pytest.raises(SipProbeError, match="did not answer"):
            probe("127.0.0.1", silent.getsockname()[1], timeout=0.5)


@pytest.mark.asterisk
def test_probe_gets_the_real_asterisks_answer(asterisk):
    host, port = asterisk.sip_address
    assert probe(host, port, timeout=10).startswith("SIP/2.0 ")


@pytest.mark.asterisk
def test_check_command_against_the_real_asterisk(asterisk, monkeypatch):
    host, port = asterisk.sip_address
    for name, value in {"OPERATOR_SECRET": "x" * 24, "TRUNK_HOST": f"{host}:{port}",
                        "TRUNK_RTP_PORTS": "10000-10199"}.items():
        monkeypatch.setenv(f"MADOGUCHI_{name}", value)
    result = CliRunner().invoke(cli, ["asterisk", "check"])
    assert result.exit_code == 0, result.output
    assert f"{host}:{port} answers SIP (SIP/2.0 " in result.output and "look right" in result.output


def test_check_command_exits_1_and_names_every_problem(monkeypatch):
    monkeypatch.delenv("MADOGUCHI_OPERATOR_SECRET", raising=False)
    monkeypatch.delenv("MADOGUCHI_TRUNK_HOST", raising=False)
    monkeypatch.setenv("MADOGUCHI_TRUNK_RTP_PORTS", "")
    result = CliRunner().invoke(cli, ["asterisk", "check", "--offline"])
    assert result.exit_code == 1
    assert "PROBLEM  operator phone: MADOGUCHI_OPERATOR_SECRET is not set" in result.output
    assert "PROBLEM  RTP ports: no RTP port range" in result.output
    assert "PROBLEM  carrier: MADOGUCHI_TRUNK_HOST is 192.0.2.10, an example address" in result.output
    assert "3 problem(s)" in result.output
