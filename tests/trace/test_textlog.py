"""Plain-text SIP logs: real SIPp and baresip traces recorded on loopback, and the Asterisk,
PJSIP, arrow and bare formats written out by hand."""
from __future__ import annotations

import calendar
from pathlib import Path

from fsync_model.sip.framing import StreamFramer
from fsync_model.trace.capture import open_capture, read_capture
from fsync_model.trace.textlog import LOCAL, REMOTE, UNKNOWN
from fsync_model.transport.address import Address
from tests.trace.frames import sip_message, sip_response

DATA = Path(__file__).parent / "data"


def frames_exactly(message: bytes) -> bool:
    """The message is one whole SIP message: a framer returns it unchanged."""
    return StreamFramer().feed(message) == [message]


def test_sipp_trace_msg_log() -> None:
    # Recorded with: sipp -sn uac 127.0.0.1:15099 -m 1 -trace_msg (against sipp -sn uas).
    messages, summary = open_capture(DATA / "sipp_uac_messages.log")
    assert summary.format == "text" and summary.problems == []
    assert [m.data.split(b"\r\n", 1)[0] for m in messages] == [
        b"INVITE sip:service@127.0.0.1:15099 SIP/2.0",
        b"SIP/2.0 180 Ringing",
        b"SIP/2.0 200 OK",
        b"ACK sip:service@127.0.0.1:15099 SIP/2.0",
        b"BYE sip:service@127.0.0.1:15099 SIP/2.0",
        b"SIP/2.0 200 OK",
    ]
    # The byte counts SIPp printed in its markers.
    assert [len(m.data) for m in messages] == [511, 309, 468, 360, 360, 301]
    assert all(frames_exactly(m.data) for m in messages)
    assert [(m.src, m.dst) for m in messages] == [
        (LOCAL, REMOTE), (REMOTE, LOCAL), (REMOTE, LOCAL), (LOCAL, REMOTE), (LOCAL, REMOTE),
        (REMOTE, LOCAL),
    ]
    assert [m.number for m in messages] == [1, 2, 3, 4, 5, 6]
    # "2026-11-26 05:55:59.472445", read as UTC.
    assert messages[0].time == calendar.timegm((2026, 11, 26, 5, 55, 59, 0, 0, 0)) + 0.472445


def test_baresip_sip_trace() -> None:
    # Recorded with: baresip -s ... -e "/dial sip:*74@127.0.0.1:15096" against sipp -sn uas.
    messages, summary = open_capture(DATA / "baresip_trace.txt")
    phone, server = Address("udp", "127.0.0.1", 15097), Address("udp", "127.0.0.1", 15096)
    assert [(m.src, m.dst, m.data.split(b"\r\n", 1)[0]) for m in messages] == [
        (phone, server, b"INVITE sip:*74@127.0.0.1:15096;transport=udp SIP/2.0"),
        (server, phone, b"SIP/2.0 180 Ringing"),
        (server, phone, b"SIP/2.0 200 OK"),
        (phone, server, b"ACK sip:127.0.0.1:15096;transport=UDP SIP/2.0"),
        (phone, server, b"BYE sip:127.0.0.1:15096;transport=UDP SIP/2.0"),
        (server, phone, b"SIP/2.0 200 OK"),
    ]
    assert all(frames_exactly(m.data) for m in messages)
    assert summary.problems == []


def lf(message: bytes) -> str:
    """A message as a log shows it after line endings were converted to LF."""
    return message.decode().replace("\r\n", "\n")


def test_asterisk_pjsip_log_with_converted_line_endings() -> None:
    invite = sip_message("ast", method="INVITE", body=b"v=0\r\ns=-\r\n")
    ok = sip_response("ast")
    log = (
        "[2024-03-01 10:00:00.250] VERBOSE[123] res_pjsip_logger.c: "
        f"<--- Received SIP request ({len(invite)} bytes) from UDP:192.0.2.10:5062 --->\n"
        f"{lf(invite)}\n"
        "[2024-03-01 10:00:00.500] VERBOSE[123] res_pjsip_logger.c: something else\n"
        f"<--- Transmitting SIP response ({len(ok)} bytes) to UDP:[2001:db8::1]:5062 --->\n"
        f"{lf(ok)}\n"
    )
    messages, summary = read_capture(log.encode())
    assert [m.data for m in messages] == [invite, ok]
    assert messages[0].src == Address("udp", "192.0.2.10", 5062)
    assert messages[0].dst == LOCAL
    assert messages[1].dst == Address("udp", "2001:db8::1", 5062)
    base = calendar.timegm((2024, 3, 1, 10, 0, 0, 0, 0, 0))
    assert [m.time for m in messages] == [base + 0.25, base + 0.5]
    assert summary.problems == []


def test_asterisk_chan_sip_log() -> None:
    request = sip_message("chan", method="SUBSCRIBE")
    response = sip_response("chan", 202, "Accepted")
    log = (
        "<--- SIP read from TCP:198.51.100.7:5060 --->\n"
        f"{lf(request)}"
        "<------------->\n"
        "--- (8 headers 0 lines) ---\n"
        "\n<--- Transmitting (no NAT) to 198.51.100.7:5060 --->\n"
        f"{lf(response)}"
        "<------------>\n"
    )
    messages, _ = read_capture(log.encode())
    assert [m.data for m in messages] == [request, response]
    assert messages[0].src == Address("tcp", "198.51.100.7", 5060)
    assert (messages[1].src, messages[1].dst) == (LOCAL, Address("udp", "198.51.100.7", 5060))


def test_pjsip_log() -> None:
    request = sip_message("pj", body=b"hello\r\n")
    log = (
        "10:00:01.123   pjsua_core.c  .RX 512 bytes Request msg OPTIONS/cseq=1 (rdata0x1) "
        "from UDP 203.0.113.5:5060:\n"
        f"{lf(request)}\n"
        "--end msg--\n"
        "10:00:01.124   pjsua_core.c  .TX 300 bytes Response msg 200/OPTIONS/cseq=1 "
        "(tdta0x2) to UDP 203.0.113.5:5060:\n"
        f"{lf(sip_response('pj'))}\n"
        "--end msg--\n"
    )
    messages, _ = read_capture(log.encode())
    assert [m.data for m in messages] == [request, sip_response("pj")]
    assert messages[0].src == Address("udp", "203.0.113.5", 5060)
    assert messages[1].dst == Address("udp", "203.0.113.5", 5060)


def test_arrow_markers() -> None:
    log = (
        f">>> 127.0.0.1:5070 -> 127.0.0.1:5080\n{lf(sip_message('arrow'))}\n"
        f"<<< received from udp:[::1]:5080\n{lf(sip_response('arrow'))}\n"
        f">>>\n{lf(sip_message('arrow', cseq=2))}\n"
    )
    messages, _ = read_capture(log.encode())
    assert [(m.src, m.dst) for m in messages] == [
        (Address("udp", "127.0.0.1", 5070), Address("udp", "127.0.0.1", 5080)),
        (Address("udp", "::1", 5080), LOCAL),
        (LOCAL, REMOTE),
    ]
    assert [m.data for m in messages] == [
        sip_message("arrow"), sip_response("arrow"), sip_message("arrow", cseq=2)]


def test_bare_messages_separated_by_blank_lines() -> None:
    with_body = sip_message("bare1", body=b"line one\r\n\r\nline three\r\n")
    no_length = b"MESSAGE sip:bob@x SIP/2.0\r\nCall-ID: bare2\r\n\r\nbody text\r\n"
    log = f"{lf(with_body)}\n\n{lf(no_length)}\n\n{lf(sip_response('bare3'))}"
    messages, summary = read_capture(log.encode())
    # The blank line inside the first body does not split it: Content-Length does.
    assert [m.data for m in messages] == [with_body, no_length, sip_response("bare3")]
    assert all((m.src, m.dst) == (UNKNOWN, UNKNOWN) for m in messages)
    assert [m.time for m in messages] == [0.0, 0.0, 0.0]
    assert summary.packets == summary.messages == 3


def test_body_shorter_than_content_length_is_a_problem() -> None:
    short = sip_message("short", body=b"0123456789")[:-4]
    messages, summary = read_capture(lf(short).encode())
    assert messages[0].data == short
    assert summary.problems == [
        "packet 1: Content-Length 10 but only 6 body bytes in the log; kept as logged"]


def test_sipp_byte_counts_win_over_marker_like_body_lines() -> None:
    body = (
        b"--------------------------------------------------boundary\r\n"
        b"#\r\n"
        b">>> not a marker\r\n"
        b"\r\n"
        b"SIP/2.0 200 OK\r\n"
    )
    notify = sip_message("multi", method="NOTIFY", body=body)
    ok = sip_response("multi")
    log = (
        b"----------------------------------------------- 2024-05-06 07:08:09.000100\n"
        + f"TCP message received [{len(notify)}] bytes :\n\n".encode() + notify + b"\n"
        + b"----------------------------------------------- 2024-05-06 07:08:09.000200\n"
        + f"TCP message sent ({len(ok)} bytes):\n\n".encode() + ok + b"\n"
    )
    messages, summary = read_capture(log)
    assert [m.data for m in messages] == [notify, ok]
    assert [(m.src, m.dst) for m in messages] == [(REMOTE, LOCAL), (LOCAL, REMOTE)]
    assert summary.problems == []
