"""`ivr asterisk check`: what in the SIP settings would keep calls from arriving or being heard.

`check_sip` is pure apart from the two functions it is given: `resolve(host) -> [address]` (raises
OSError) and `probe(host, port) -> status line` (raises OSError), so tests and `--offline` swap them.
Each finding says what is wrong and how to fix it; any problem makes the command exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Callable

from ivr.config import ConfigError, Settings, parse_port_range
from telephony.asterisk.trunk import TrunkConfigError, codec_list, local_nets, match_address

MIN_SECRET = 16
DOCUMENTATION_NETS = tuple(ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
SIP_PORT = 5060


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    message: str


Resolve = Callable[[str], list[str]]
Probe = Callable[[str, int], str]


def _documentation(address: str) -> bool:
    try:
        return any(ip_address(address) in net for net in DOCUMENTATION_NETS)
    except ValueError:
        return False


def _host_port(host: str) -> tuple[str, int]:
    name = match_address(host)
    rest = host[len(name) + (2 if host.startswith("[") else 0):]
    return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else SIP_PORT


def check_operator_secret(sip: Settings) -> Finding:
    secret = sip.operator_secret.get_secret_value()
    if not secret:
        return Finding(False, "operator phone", "MADOGUCHI_OPERATOR_SECRET is not set: operator1's phone cannot "
                       "register, and callers handed to a person ring nobody (set a long random password)")
    if len(secret) < MIN_SECRET:
        return Finding(False, "operator phone", f"MADOGUCHI_OPERATOR_SECRET has {len(secret)} characters; use at "
                       f"least {MIN_SECRET} (SIP passwords are guessed by scanners within hours)")
    return Finding(True, "operator phone", "operator1 has a password")


def check_rtp(sip: Settings) -> Finding:
    if not sip.trunk_rtp_ports.strip():
        return Finding(False, "RTP ports", "no RTP port range: set MADOGUCHI_TRUNK_RTP_PORTS, e.g. 10000-10099, "
                       "and open those UDP ports to the carrier and the phones")
    try:
        low, high = parse_port_range(sip.trunk_rtp_ports)
    except ConfigError as error:
        return Finding(False, "RTP ports", str(error))
    calls = (high - low + 1) // 2  # each call's audio takes an even RTP port and the odd RTCP one above it
    needed = sip.line_seats + sip.line_max_waiting
    if calls < needed:
        return Finding(False, "RTP ports", f"{low}-{high} carries the audio of {calls} calls at once, fewer than "
                       f"the line holds ({sip.line_seats} seats + {sip.line_max_waiting} waiting): "
                       f"widen MADOGUCHI_TRUNK_RTP_PORTS to at least {2 * needed} ports")
    return Finding(True, "RTP ports", f"{low}-{high} ({calls} calls' audio at once)")


def check_trunk_values(sip: Settings) -> list[Finding]:
    found = []
    try:
        found.append(Finding(True, "codecs", codec_list(sip.trunk_codecs)))
    except TrunkConfigError as error:
        found.append(Finding(False, "codecs", str(error)))
    user, secret = sip.trunk_register_user.strip(), sip.trunk_register_secret.get_secret_value()
    if bool(user) != bool(secret):
        found.append(Finding(False, "registration", "MADOGUCHI_TRUNK_REGISTER_USER and "
                             "MADOGUCHI_TRUNK_REGISTER_SECRET go together: set both or neither"))
    elif user:
        found.append(Finding(True, "registration", f"registers as {user} at the carrier"))
    try:
        local_nets(sip.trunk_local_nets)
    except TrunkConfigError as error:
        found.append(Finding(False, "NAT", str(error)))
    return found


def check_carrier(sip: Settings, resolve: Resolve, probe: Probe | None) -> list[Finding]:
    host = sip.trunk_host.strip()
    name, port = _host_port(host)
    if not name:
        return [Finding(False, "carrier", "MADOGUCHI_TRUNK_HOST is empty: set the carrier's or gateway's address")]
    if _documentation(name):
        return [Finding(False, "carrier", f"MADOGUCHI_TRUNK_HOST is {name}, an example address (RFC 5737): set "
                        "the address your carrier or VoIP gateway sends its calls from")]
    try:
        addresses = resolve(name)
    except OSError as error:
        return [Finding(False, "carrier", f"MADOGUCHI_TRUNK_HOST {name} does not resolve ({error}): check the name")]
    found = [Finding(True, "carrier", f"{name} is {', '.join(addresses)}")]
    if len(addresses) > 1:
        found.append(Finding(True, "carrier", "calls are accepted from every one of these addresses"))
    if probe is not None:
        try:
            found.append(Finding(True, "carrier", f"{name}:{port} answers SIP ({probe(name, port)})"))
        except OSError as error:
            found.append(Finding(False, "carrier", f"the carrier is unreachable: {error}. Check the address, "
                                 f"the firewall (UDP {port} both ways) and the route to the carrier's network"))
    return found


def check_external(sip: Settings, resolve: Resolve) -> list[Finding]:
    external = sip.trunk_external_address.strip()
    if not external:
        return []
    try:
        return [Finding(True, "NAT", f"SIP and SDP name {external} ({', '.join(resolve(match_address(external)))})")]
    except OSError as error:
        return [Finding(False, "NAT", f"MADOGUCHI_TRUNK_EXTERNAL_ADDRESS {external} does not resolve ({error})")]


def check_sip(sip: Settings, *, resolve: Resolve, probe: Probe | None) -> list[Finding]:
    """Every finding, problems and fine ones alike, in the order an installer fixes them."""
    return [check_operator_secret(sip), check_rtp(sip), *check_trunk_values(sip),
            *check_carrier(sip, resolve, probe), *check_external(sip, resolve)]
