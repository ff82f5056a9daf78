"""Is a SIP peer there? One `OPTIONS` request over UDP and the status line of the answer.

`options_request` and `status_line` are pure; `probe` does the I/O on a connected UDP socket, so a
closed port reports itself (ICMP port unreachable) instead of timing out. Any SIP answer, even
401 or 404, means the peer is reachable and speaks SIP.
"""

from __future__ import annotations

import secrets
import socket
import time


class SipProbeError(OSError):
    """No SIP answer: the peer refused, did not answer in time, or answered something not SIP."""


def options_request(host: str, port: int, local_host: str, local_port: int, *, call_id: str, tag: str,
                    branch: str) -> bytes:
    target = f"sip:{host}:{port}"
    lines = [
        f"OPTIONS {target} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:madoguchi-check@{local_host}>;tag={tag}",
        f"To: <{target}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:madoguchi-check@{local_host}:{local_port}>",
        "Accept: application/sdp",
        "User-Agent: madoguchi-check",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_line(data: bytes, call_id: str) -> str | None:
    """`SIP/2.0 200 OK` if `data` is a SIP response to our request (same Call-ID), else None."""
    text = data.decode("utf-8", "replace")
    first, _, rest = text.partition("\r\n")
    if not first.startswith("SIP/2.0 ") or f"\r\ncall-id: {call_id.lower()}" not in "\r\n" + rest.lower():
        return None
    return first.strip()


def probe(host: str, port: int, timeout: float = 3.0) -> str:
    """The status line of the peer's answer to an OPTIONS; SipProbeError if there is none."""
    call_id = f"{secrets.token_hex(8)}@madoguchi-check"
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            local_host, local_port = sock.getsockname()[:2]
            sock.send(options_request(host, port, local_host, local_port, call_id=call_id,
                                      tag=secrets.token_hex(4), branch=secrets.token_hex(6)))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                line = status_line(sock.recv(65535), call_id)
                if line is not None and not line.startswith("SIP/2.0 1"):  # 100 Trying: the answer follows
                    return line
    except ConnectionRefusedError:
        raise SipProbeError(f"{host}:{port} refused (nothing listens for SIP on that UDP port)") from None
    except TimeoutError:
        pass
    except OSError as error:
        raise SipProbeError(f"{host}:{port}: {error.strerror or error}") from None
    raise SipProbeError(f"{host}:{port} did not answer a SIP OPTIONS within {timeout:g} s")
