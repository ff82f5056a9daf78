"""The carrier trunk's part of pjsip.conf (`madoguchi-trunk.conf`), generated from the trunk values.

A carrier (or a VoIP gateway in front of analogue/ISDN lines) sends its INVITEs from `TRUNK_HOST`
(an address or a name, optionally `:port`); `identify` matches that source address to the `trunk`
endpoint, whose calls enter the inbound dialplan. Optional parts, each present only when its
values are given:

- outbound registration (`TRUNK_REGISTER_USER` / `TRUNK_REGISTER_SECRET`), for carriers that send
  calls only to a registered contact;
- NAT (`TRUNK_EXTERNAL_ADDRESS`): the public address written into SIP and SDP, added to the
  `transport-udp` section with `(+)`, with the private networks in `TRUNK_LOCAL_NETS` left alone.

`TRUNK_CODECS` is the codec order offered and accepted (G.711 μ-law and A-law: the codec modules
modules.conf loads). The docker entrypoint generates the same file in shell.
"""

from __future__ import annotations

import re
from ipaddress import ip_network
from typing import Mapping

TRUNK_FILE = "madoguchi-trunk.conf"
CODECS = ("ulaw", "alaw")
DEFAULT_LOCAL_NETS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_USER = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


class TrunkConfigError(ValueError):
    """A trunk value is malformed; the message names the MADOGUCHI_TRUNK_* setting."""


def _host(value: str, name: str) -> str:
    if not _HOST.match(value):
        raise TrunkConfigError(f"MADOGUCHI_{name}: expected an address or host name, optionally :port, got {value!r}")
    return value


def match_address(host: str) -> str:
    """The address part of `host[:port]` (what identify matches the INVITE's source against)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0]


def codec_list(value: str) -> str:
    codecs = [c.strip().lower() for c in value.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CODECS]
    if not codecs or unknown or len(set(codecs)) != len(codecs):
        raise TrunkConfigError(f"MADOGUCHI_TRUNK_CODECS: a comma-separated order of {', '.join(CODECS)} "
                               f"(each once), got {value!r}")
    return ",".join(codecs)


def local_nets(value: str) -> list[str]:
    nets = [p.strip() for p in value.split(",") if p.strip()]
    try:
        for net in nets:
            ip_network(net, strict=False)
    except ValueError as error:
        raise TrunkConfigError(f"MADOGUCHI_TRUNK_LOCAL_NETS: {error}") from None
    return nets


def trunk_sections(values: Mapping[str, str]) -> str:
    """The text of madoguchi-trunk.conf for these values (TRUNK_HOST required, the rest optional)."""
    host = _host(str(values.get("TRUNK_HOST", "")).strip(), "TRUNK_HOST")
    codecs = codec_list(str(values.get("TRUNK_CODECS", ",".join(CODECS))))
    user = str(values.get("TRUNK_REGISTER_USER", "")).strip()
    secret = str(values.get("TRUNK_REGISTER_SECRET", ""))
    external = str(values.get("TRUNK_EXTERNAL_ADDRESS", "")).strip()
    if bool(user) != bool(secret):
        raise TrunkConfigError("MADOGUCHI_TRUNK_REGISTER_USER and MADOGUCHI_TRUNK_REGISTER_SECRET go together: "
                               "set both (the carrier requires registration) or neither")
    if user and not _USER.match(user):
        raise TrunkConfigError(f"MADOGUCHI_TRUNK_REGISTER_USER: letters, digits and . _ + - only, got {user!r}")
    if any(c in secret for c in "\n\r;"):
        raise TrunkConfigError("MADOGUCHI_TRUNK_REGISTER_SECRET may not contain a line break or ;")
    lines = ["; Madoguchi: the carrier trunk (generated at install from the MADOGUCHI_TRUNK_* settings)."]
    if external:
        _host(external, "TRUNK_EXTERNAL_ADDRESS")
        lines += ["", "[transport-udp](+)", f"external_media_address = {external}",
                  f"external_signaling_address = {external}"]
        lines += [f"local_net = {net}" for net in local_nets(str(values.get("TRUNK_LOCAL_NETS") or DEFAULT_LOCAL_NETS))]
    lines += ["", "[trunk]", "type = endpoint", "context = madoguchi-inbound", "disallow = all", f"allow = {codecs}",
              "aors = trunk",
              # only the identify below: an INVITE naming itself "trunk" from elsewhere is not the trunk
              "identify_by = ip", "dtmf_mode = rfc4733", "direct_media = no", "rtp_symmetric = yes",
              "force_rport = yes", "rewrite_contact = yes",
              # the carrier's P-Asserted-Identity names the caller (From may be anonymous)
              "trust_id_inbound = yes"]
    if user:
        lines += ["outbound_auth = trunk-auth", f"from_user = {user}"]
    lines += ["", "[trunk]", "type = aor", f"contact = sip:{host}", "qualify_frequency = 0",
              "", "[trunk]", "type = identify", "endpoint = trunk", f"match = {match_address(host)}"]
    if user:
        lines += ["", "[trunk-auth]", "type = auth", "auth_type = userpass", f"username = {user}",
                  f"password = {secret}",
                  "", "[trunk]", "type = registration", "transport = transport-udp", "outbound_auth = trunk-auth",
                  f"server_uri = sip:{host}", f"client_uri = sip:{user}@{host}", f"contact_user = {user}",
                  "retry_interval = 60", "forbidden_retry_interval = 600", "expiration = 3600"]
    return "\n".join(lines) + "\n"
