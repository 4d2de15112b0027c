"""Addresses: the text form both ways, normalisation, errors that say what to type, loopback."""
from __future__ import annotations

import pytest

from fsync_model.transport.address import (
    Address,
    AddressError,
    check_loopback,
    is_loopback,
    parse_address,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("udp:127.0.0.1:5060", Address("udp", "127.0.0.1", 5060)),
        ("tcp:[::1]:5070", Address("tcp", "::1", 5070)),
        ("tls:127.0.0.1:5061", Address("tls", "127.0.0.1", 5061)),
        ("udp:127.0.0.1:0", Address("udp", "127.0.0.1", 0)),
        ("mem:phone", Address("mem", "phone", 0)),
        ("mem:phone-1.lab", Address("mem", "phone-1.lab", 0)),
        ("udp:localhost:5080", Address("udp", "localhost", 5080)),
        ("tcp:[fe80::1]:65535", Address("tcp", "fe80::1", 65535)),
    ],
)
def test_round_trip(text: str, address: Address) -> None:
    assert parse_address(text) == address
    assert str(address) == text
    assert parse_address(str(address)) == address


def test_normalised_so_equal_addresses_hash_equal() -> None:
    long_form = parse_address("TCP:[0:0:0:0:0:0:0:1]:5070")
    assert long_form == Address("tcp", "::1", 5070)
    assert str(long_form) == "tcp:[::1]:5070"
    assert hash(long_form) == hash(Address("tcp", "::1", 5070))
    assert Address("UDP", "Phone.LAB", 1).host == "phone.lab"


def test_default_ports() -> None:
    assert parse_address("udp:127.0.0.1").port == 5060
    assert parse_address("tcp:[::1]").port == 5060
    assert parse_address("tls:127.0.0.1").port == 5061


def test_default_transport() -> None:
    assert parse_address("127.0.0.1:5070", default_transport="udp") == Address(
        "udp", "127.0.0.1", 5070
    )
    assert parse_address("[::1]:5070", default_transport="tcp") == Address("tcp", "::1", 5070)
    assert parse_address("tls:[::1]:5071", default_transport="udp").transport == "tls"


def test_address_properties() -> None:
    assert parse_address("tcp:[::1]:5").is_stream and parse_address("tcp:[::1]:5").is_ipv6
    assert not parse_address("udp:127.0.0.1:5").is_stream
    assert not parse_address("mem:a").is_ipv6
    assert parse_address("udp:127.0.0.1:0").with_port(4000).sockaddr == ("127.0.0.1", 4000)
    assert str(parse_address("udp:127.0.0.1:9").with_transport("tls")) == "tls:127.0.0.1:9"


def test_frozen() -> None:
    address = parse_address("udp:127.0.0.1:5060")
    with pytest.raises(AttributeError):
        address.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("127.0.0.1:5060", "e.g. udp:127.0.0.1:5070"),
        ("sctp:127.0.0.1:5060", "unknown transport 'sctp'"),
        ("udp:127.0.0.1:abc", "e.g. udp:127.0.0.1:5070"),
        ("udp:127.0.0.1:70000", "port 70000 not in 0..65535"),
        ("udp:127.0.0.1:-1", "e.g. udp:127.0.0.1:5070"),
        ("tcp:::1:5060", "e.g. tcp:[::1]:5070"),
        ("tcp:[::1:5060", "missing ']'"),
        ("tcp:[127.0.0.1]:5060", "brackets are for IPv6 only"),
        ("udp::5060", "empty host"),
        ("udp:bad_host!:5060", "not an IP address or host name"),
        ("mem:", "e.g. mem:phone"),
        ("mem:two words", "e.g. mem:phone"),
        ("", "e.g. udp:127.0.0.1:5070"),
    ],
)
def test_errors_say_what_to_type(text: str, hint: str) -> None:
    with pytest.raises(AddressError) as caught:
        parse_address(text)
    assert hint in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_constructor_checks_too() -> None:
    with pytest.raises(AddressError, match="mem addresses have no port"):
        Address("mem", "phone", 5060)
    with pytest.raises(AddressError, match=r"not in 0\.\.65535"):
        Address("udp", "127.0.0.1", 65536)
    with pytest.raises(AddressError, match=r"e\.g\. udp:\[::1\]:5070"):
        Address("udp", "[::1]", 5060)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("fe80::1", False),
        ("phone.lab", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_refused_unless_allowed() -> None:
    lan = parse_address("udp:192.168.1.20:5060")
    with pytest.raises(AddressError) as caught:
        check_loopback(lan)
    message = str(caught.value)
    assert "not a loopback address" in message
    assert "udp:127.0.0.1:5060" in message
    assert "allow_non_loopback=True" in message
    check_loopback(lan, allow_non_loopback=True)
    check_loopback(parse_address("tcp:[::1]:0"))
    check_loopback(parse_address("mem:phone"))
    with pytest.raises(AddressError, match=r"tcp:\[::1\]:0"):
        check_loopback(parse_address("tcp:[::]:0"))
