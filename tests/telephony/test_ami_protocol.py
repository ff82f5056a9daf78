"""AMI framing: a recorded Asterisk 22 trace replayed in chunks, and action encoding."""

from __future__ import annotations

import pytest

from telephony.ami.protocol import AmiMessage, AmiProtocolError, Banner, Parser, encode_action

# Recorded from Asterisk 22.10.1 (channel names and ids as Asterisk wrote them).
TRACE = (
    b"Asterisk Call Manager/10.0.0\r\n"
    b"Response: Success\r\nActionID: 8fe2de44-1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 0\r\nLastReload: 0\r\nStatus: Fully Booted\r\n\r\n"
    b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/play@test-caller-00000000;1\r\n"
    b"Context: madoguchi-inbound\r\nExten: s\r\nPriority: 3\r\nUniqueid: 1795517789.0\r\n"
    b"UserEvent: MadoguchiCall\r\nUUID: a5ec9ef7-d107-440d-93b9-8399ed6d7e81\r\nCallerID: 0312345678\r\n"
    b"Channel: Local/play@test-caller-00000000;1\r\n\r\n"
    b"Response: Follows\r\nActionID: 8fe2de44-9\r\nOutput: line one\r\nOutput: line two\r\n\r\n"
)


def replay(chunk_size: int) -> list:
    parser = Parser()
    packets = []
    for start in range(0, len(TRACE), chunk_size):
        packets.extend(parser.feed(TRACE[start:start + chunk_size]))
    return packets


@pytest.mark.parametrize("chunk_size", [1, 5, 64, len(TRACE)])
def test_trace_replayed_in_any_chunks(chunk_size):
    banner, login, booted, user, command = replay(chunk_size)
    assert banner == Banner("Asterisk Call Manager/10.0.0")
    assert login.response == "Success" and login.action_id == "8fe2de44-1"
    assert booted.event == "FullyBooted"
    assert user.event == "UserEvent" and user.get("userevent") == "MadoguchiCall"
    assert user.get("CallerID") == "0312345678" and user.get("Priority") == "3"
    assert user.getall("Channel") == ["Local/play@test-caller-00000000;1"] * 2
    assert command.getall("Output") == ["line one", "line two"]
    assert command.as_dict()["Output"] == "line one"


def test_encode_action_with_repeated_fields():
    data = encode_action("Originate", "x-1", {"Channel": "Local/play@test-caller", "Priority": 1,
                                              "Variable": ["A=1", "B=2"]})
    assert data == (b"Action: Originate\r\nActionID: x-1\r\nChannel: Local/play@test-caller\r\n"
                    b"Priority: 1\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n")
    parsed = list(Parser().feed(b"Asterisk Call Manager/10.0.0\r\n" + data))[1]
    assert parsed == AmiMessage((("Action", "Originate"), ("ActionID", "x-1"),
                                 ("Channel", "Local/play@test-caller"), ("Priority", "1"),
                                 ("Variable", "A=1"), ("Variable", "B=2")))


@pytest.mark.parametrize("fields", [{"Secret": "a\r\nAction: Originate"}, {"Bad\nKey": "x"}, {"A:B": "x"}])
def test_line_breaks_cannot_inject_headers(fields):
    with pytest.raises(AmiProtocolError):
        encode_action("Login", "x-1", fields)


def test_oversized_packet_is_refused():
    parser = Parser()
    list(parser.feed(b"Asterisk Call Manager/10.0.0\r\n"))
    with pytest.raises(AmiProtocolError):
        list(parser.feed(b"Event: X\r\nData: " + b"x" * (1 << 21)))
