"""AudioSocket framing: golden bytes for every message kind, and a decoder fuzz test."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.audiosocket.protocol import (
    Audio,
    Decoder,
    Dtmf,
    Error,
    Hangup,
    ProtocolError,
    Uuid,
    encode,
)

CALL = uuid.UUID("a5ec9ef7-d107-440d-93b9-8399ed6d7e81")

GOLDEN = [
    (Hangup(), bytes.fromhex("000000")),
    (Uuid(CALL), bytes.fromhex("010010") + CALL.bytes),
    (Dtmf("5"), bytes.fromhex("03000135")),
    (Dtmf("#"), bytes.fromhex("03000123")),
    (Audio(b"\x01\x00\xff\x7f"), bytes.fromhex("100004") + b"\x01\x00\xff\x7f"),
    (Audio(bytes(320)), bytes.fromhex("100140") + bytes(320)),
    (Error(), bytes.fromhex("ff0000")),
    (Error(3), bytes.fromhex("ff000103")),
]


@pytest.mark.parametrize(("message", "wire"), GOLDEN, ids=lambda v: type(v).__name__ if not isinstance(v, bytes) else "")
def test_golden_bytes_round_trip(message, wire):
    assert encode(message, to_asterisk=False) == wire
    assert Decoder().feed_all(wire) == [message]


def test_asterisk_may_only_receive_audio_and_hangup():
    assert encode(Audio(bytes(2))) == bytes.fromhex("1000020000")
    assert encode(Hangup()) == b"\x00\x00\x00"
    for message in (Dtmf("1"), Uuid(CALL), Error()):
        with pytest.raises(ProtocolError, match="only audio and hangup"):
            encode(message)


def test_whole_stream_split_anywhere_decodes_the_same():
    stream = b"".join(wire for _, wire in GOLDEN)
    expected = [message for message, _ in GOLDEN]
    for step in (1, 2, 3, 7, 64):
        decoder = Decoder()
        got = []
        for start in range(0, len(stream), step):
            got.extend(decoder.feed(stream[start:start + step]))
        assert got == expected and decoder.pending == 0


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (bytes.fromhex("070000"), "unknown message kind 0x07"),
        (bytes.fromhex("010004") + bytes(4), "UUID payload must be 16 bytes"),
        (bytes.fromhex("030001") + b"x", "bad DTMF"),
        (bytes.fromhex("100003") + bytes(3), "odd length"),
        (bytes.fromhex("10ffff"), "announces 65535 bytes"),
        (bytes.fromhex("000010"), "announces 16 bytes \\(limit 0\\)"),
        (bytes.fromhex("030002"), "limit 1"),
    ],
)
def test_malformed_input_raises_a_typed_error(wire, match):
    decoder = Decoder()
    with pytest.raises(ProtocolError, match=match):
        decoder.feed_all(wire + bytes(64))
    with pytest.raises(ProtocolError):  # out of step: refuses more input
        decoder.feed_all(encode(Hangup()))


def test_encoder_refuses_bad_messages():
    with pytest.raises(ProtocolError):
        encode(Audio(b"\x00"))
    with pytest.raises(ProtocolError):
        encode(Audio(bytes(70000)))
    with pytest.raises(ProtocolError):
        encode(Dtmf("12"), to_asterisk=False)


def test_audio_repr_never_dumps_samples():
    assert repr(Audio(bytes(320))) == "Audio(320 bytes)"


valid_messages = st.one_of(
    st.just(Hangup()),
    st.builds(Uuid, st.uuids()),
    st.builds(Dtmf, st.sampled_from(list("0123456789*#ABCD"))),
    st.builds(Audio, st.integers(0, 400).map(lambda n: bytes(range(256)) * (2 * n // 256) + bytes(2 * n % 256))),
    st.builds(Error, st.one_of(st.none(), st.integers(0, 255))),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(valid_messages, max_size=12), st.data())
def test_fuzz_valid_streams_in_random_chunks(messages, data):
    stream = b"".join(encode(m, to_asterisk=False) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder, got, last = Decoder(), [], 0
    for cut in [*cuts, len(stream)]:
        got.extend(decoder.feed(stream[last:cut]))
        last = cut
    assert got == messages


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_fuzz_random_bytes_yield_only_messages_or_a_typed_error(chunks):
    decoder = Decoder()
    try:
        for chunk in chunks:
            for message in decoder.feed(chunk):
                assert isinstance(message, (Uuid, Audio, Dtmf, Hangup, Error))
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_messages, min_size=1, max_size=6), st.data())
def test_fuzz_truncated_streams_yield_a_prefix_and_keep_the_rest_pending(messages, data):
    stream = b"".join(encode(m, to_asterisk=False) for m in messages)
    cut = data.draw(st.integers(0, len(stream) - 1))
    decoder = Decoder()
    got = decoder.feed_all(stream[:cut])
    assert got == messages[: len(got)]
    assert len(got) < len(messages) and decoder.pending == cut - sum(len(encode(m, to_asterisk=False)) for m in got)
