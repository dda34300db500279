"""The handshake line and protocol version negotiation (plugin_sdk/protocol.py)."""

import pytest

from plugin_sdk.protocol import (
    CORE_PROTOCOL_VERSION,
    ENV_APP_VERSIONS,
    Handshake,
    HandshakeError,
    negotiate,
    parse_handshake,
)


def test_parses_a_unix_handshake():
    hs = parse_handshake("1|1|unix|/run/agenthost/time-42.sock|grpc|\n", (1,))
    assert hs == Handshake(1, 1, "unix", "/run/agenthost/time-42.sock", "grpc")
    assert hs.target == "unix:///run/agenthost/time-42.sock"


def test_parses_a_tcp_handshake():
    hs = parse_handshake("1|2|tcp|127.0.0.1:50051|grpc|", (1, 2))
    assert (hs.app_version, hs.network, hs.address) == (2, "tcp", "127.0.0.1:50051")
    assert hs.target == "127.0.0.1:50051"


def test_line_round_trips_through_the_parser():
    hs = Handshake(CORE_PROTOCOL_VERSION, 1, "unix", "/tmp/p.sock", "grpc")
    assert hs.line() == "1|1|unix|/tmp/p.sock|grpc|"
    assert parse_handshake(hs.line(), (1,)) == hs


@pytest.mark.parametrize(
    "line, accepted, message",
    [
        ("Starting up, hello!", (1,), "is not a handshake"),
        ("1|1|unix", (1,), "is not a handshake"),
        ("2|1|unix|/tmp/p.sock|grpc|", (1,), "core protocol version 2 is not supported (host speaks 1)"),
        ("1|99|unix|/tmp/p.sock|grpc|", (1, 2), "app protocol version 99 was not offered (host accepts 1, 2)"),
        ("1|1|udp|/tmp/p.sock|grpc|", (1,), "network 'udp' is not supported"),
        ("1|1|unix|/tmp/p.sock|netrpc|", (1,), "protocol 'netrpc' is not supported"),
        ("1|1|unix||grpc|", (1,), "empty address"),
    ],
    ids=["chatter", "too-few-fields", "wrong-core", "app-not-offered", "bad-network", "not-grpc", "empty-address"],
)
def test_rejects_bad_handshakes_with_a_specific_message(line, accepted, message):
    with pytest.raises(HandshakeError) as info:
        parse_handshake(line, accepted)
    assert message in str(info.value)


def test_chatter_is_quoted_and_long_lines_are_shortened():
    with pytest.raises(HandshakeError) as info:
        parse_handshake("x" * 500, (1,))
    text = str(info.value)
    assert "CORE|APP|NETWORK|ADDRESS|grpc|" in text
    assert "x" * 77 + "..." in text and "x" * 78 not in text


@pytest.mark.parametrize(
    "offered, supported, expected",
    [("1", (1,), 1), ("1,2,3", (1, 2), 2), (" 3 , 2 ,", (1, 2, 3, 4), 3), ("5,1", (1, 5, 7), 5)],
)
def test_negotiate_picks_the_highest_common_version(offered, supported, expected):
    assert negotiate(offered, supported) == expected


def test_negotiate_without_a_common_version_names_both_sides():
    with pytest.raises(HandshakeError) as info:
        negotiate("3,4", (1, 2))
    assert str(info.value) == "no common protocol version: host speaks [3, 4], plugin speaks [1, 2]"


def test_negotiate_with_nothing_offered_fails():
    with pytest.raises(HandshakeError, match="no common protocol version: host speaks \\[\\]"):
        negotiate("")


@pytest.mark.parametrize("offered", ["one", "1,x", "1;2", "1.5"])
def test_negotiate_rejects_garbage_in_the_versions_variable(offered):
    with pytest.raises(HandshakeError) as info:
        negotiate(offered, (1,))
    text = str(info.value)
    assert ENV_APP_VERSIONS in text and "comma-separated list of integers" in text and repr(offered) in text
