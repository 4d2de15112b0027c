"""The sans-IO user agent: two UAs joined by a fake network, time passed in by the test."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from fsync_model.sip.auth import Challenge, verify
from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.sip.transaction import TransactionKey
from fsync_model.sip.useragent import (
    AckReceived,
    AckTimeout,
    AuthenticationRetry,
    CancelReceived,
    DigestCredentials,
    MalformedMessage,
    MessageRecord,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    StrayResponse,
    TransactionTimeout,
    TransportFailure,
    UaEvent,
    UserAgent,
)
from fsync_model.transport.address import Address

A_ADDR = Address("udp", "127.0.0.1", 5071)
B_ADDR = Address("udp", "127.0.0.1", 5072)


@dataclass
class Wire:
    """Moves datagrams between UAs at the test's ``now``; ``drop`` decides losses."""

    uas: dict[Address, UserAgent]
    now: float = 0.0
    log: list[tuple[float, Address, Address, bytes]] = field(default_factory=list)
    drop: Callable[[bytes, Address, Address], bool] = lambda data, src, dst: False
    #: the source address a receiver sees for a sender (NAT rewrite), when different
    nat: dict[Address, Address] = field(default_factory=dict)

    def flush(self) -> None:
        moved = True
        while moved:
            moved = False
            for ua in list(self.uas.values()):
                for data, dst in ua.datagrams_to_send(self.now):
                    moved = True
                    src = self.nat.get(ua.local, ua.local)
                    self.log.append((self.now, src, dst, data))
                    if self.drop(data, src, dst):
                        continue
                    target = self.uas.get(dst) or self.uas.get(self.unnat(dst))
                    if target is not None:
                        target.receive_datagram(data, src, self.now)

    def unnat(self, dst: Address) -> Address:
        for inside, outside in self.nat.items():
            if outside == dst:
                return inside
        return dst

    def advance(self, until: float) -> None:
        while True:
            deadlines = [t for ua in self.uas.values() if (t := ua.get_timer()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for ua in self.uas.values():
                ua.handle_timer(self.now)
            self.flush()
        self.now = until

    def sent_lines(self, src: Address | None = None) -> list[str]:
        return [d.split(b"\r\n", 1)[0].decode() for _, s, _, d in self.log
                if src is None or s == src]


def make_pair(**kwargs: object) -> tuple[UserAgent, UserAgent, Wire]:
    a = UserAgent(A_ADDR, random.Random(1), user="alice", **kwargs)  # type: ignore[arg-type]
    b = UserAgent(B_ADDR, random.Random(2), user="bob")
    return a, b, Wire({A_ADDR: a, B_ADDR: b})


E = TypeVar("E", bound=UaEvent)


def only(events: list[UaEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def received_request(ua: UserAgent) -> RequestReceived:
    events = ua.events()
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, RequestReceived)
    return event


def response_event(ua: UserAgent) -> ResponseReceived:
    events = ua.events()
    assert len(events) == 1, events
    event = events[0]
    assert isinstance(event, ResponseReceived)
    return event


def send_options(a: UserAgent, wire: Wire) -> TransactionKey:
    request = a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072")
    key = a.send_request(request, B_ADDR, wire.now)
    wire.flush()
    return key


# ------------------------------------------------------------------ basics


def test_request_response_round_trip_and_headers() -> None:
    a, b, wire = make_pair()
    key = send_options(a, wire)
    event = received_request(b)
    request = event.request
    assert request.method == "OPTIONS"
    assert request.max_forwards == 70
    assert request.branch is not None and request.branch.startswith("z9hG4bK")
    assert request.top_via.rport == "5071" and request.top_via.received == "127.0.0.1"
    assert request.from_tag and request.to_tag is None
    assert request.contacts[0].uri == "sip:alice@127.0.0.1:5071"
    assert event.src == A_ADDR
    b.reply(event.transaction, 200, wire.now)
    wire.flush()
    response = response_event(a)
    assert response.transaction == key
    assert response.response.status == 200
    assert response.response.to_tag
    assert response.request.method == "OPTIONS"


def test_seeded_runs_are_byte_identical() -> None:
    logs = []
    for _ in range(2):
        a, b, wire = make_pair()
        send_options(a, wire)
        b.reply(received_request(b).transaction, 200, wire.now)
        wire.flush()
        logs.append([d for *_, d in wire.log])
    assert logs[0] == logs[1]


def test_response_follows_rport_through_nat() -> None:
    a, b, wire = make_pair()
    outside = Address("udp", "127.0.0.1", 40000)
    wire.nat[A_ADDR] = outside
    send_options(a, wire)
    event = received_request(b)
    assert event.src == outside
    assert event.request.top_via.rport == "40000"
    b.reply(event.transaction, 200, wire.now)
    assert [dst for _, dst in b.datagrams_to_send(wire.now)] == [outside]


def test_response_without_rport_goes_to_via_sent_by() -> None:
    a, b, _ = make_pair()
    request = a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072")
    via = "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKnorport"
    request = request.replace(headers=request.headers.replaced("Via", via))
    b.receive_datagram(request.serialize(), A_ADDR, 0.0)
    event = received_request(b)
    assert event.request.top_via.received is None  # host matched the source
    b.reply(event.transaction, 200, 0.0)
    assert [dst for _, dst in b.datagrams_to_send(0.0)] == [Address("udp", "127.0.0.1", 5099)]


def test_respond_to_source_overrides_via() -> None:
    b = UserAgent(B_ADDR, random.Random(2), respond_to_source=True)
    a = UserAgent(A_ADDR, random.Random(1))
    request = a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072")
    request = request.replace(headers=request.headers.replaced(
        "Via", "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKx"))
    b.receive_datagram(request.serialize(), A_ADDR, 0.0)
    b.reply(received_request(b).transaction, 200, 0.0)
    assert [dst for _, dst in b.datagrams_to_send(0.0)] == [A_ADDR]


def test_retransmitted_request_gets_last_response_again() -> None:
    a, b, wire = make_pair()
    lost: list[bytes] = []

    def drop_first_200(data: bytes, src: Address, dst: Address) -> bool:
        if data.startswith(b"SIP/2.0 200") and not lost:
            lost.append(data)
            return True
        return False

    wire.drop = drop_first_200
    send_options(a, wire)
    b.reply(received_request(b).transaction, 200, wire.now)
    wire.flush()
    assert a.events() == []
    wire.advance(0.5)  # Timer E: OPTIONS again; B answers from its transaction
    assert b.events() == []  # the retransmission is not a new request
    event = response_event(a)
    assert event.response.status == 200
    assert wire.sent_lines() == ["OPTIONS sip:bob@127.0.0.1:5072 SIP/2.0", "SIP/2.0 200 OK",
                                 "OPTIONS sip:bob@127.0.0.1:5072 SIP/2.0", "SIP/2.0 200 OK"]


def test_an_answered_transaction_keeps_only_its_answer_until_timer_j() -> None:
    """Past its final response a non-INVITE server transaction only absorbs
    retransmissions (17.2.2): the UA keeps the answer's bytes, not the parsed request, and
    answers a retransmission with exactly those bytes until Timer J."""
    from fsync_model.sip.transaction import TransactionError

    a, b, wire = make_pair()
    send_options(a, wire)
    event = received_request(b)
    b.reply(event.transaction, 200, wire.now)
    answer = b.datagrams_to_send(wire.now)[0][0]
    assert b.server_transaction(event.transaction) is None, "no parsed request kept"
    assert b.transaction_count == 1
    assert b.local_tag_for(event.transaction) in answer.decode()
    with pytest.raises(TransactionError, match="Completed cannot send 500"):
        b.reply(event.transaction, 500, wire.now)
    b.receive_datagram(event.request.serialize(), A_ADDR, 1.0)
    assert b.datagrams_to_send(1.0) == [(answer, A_ADDR)] and b.events() == []
    assert b.get_timer() == pytest.approx(32.0)
    b.handle_timer(32.0)
    assert b.transaction_count == 0 and b.get_timer() is None
    b.receive_datagram(event.request.serialize(), A_ADDR, 33.0)
    assert isinstance(only(b.events(), RequestReceived)[0], RequestReceived), "new after J"


def test_overloaded_ua_answers_new_requests_503_and_keeps_serving_its_dialogs() -> None:
    """RFC 3261 21.5.4: once messages keep waiting longer than ``overload_delay`` in the
    socket buffer, a new out-of-dialog request is answered 503 with Retry-After,
    statelessly (8.2.7: a retransmission gets the very same answer, no transaction kept);
    a request in a dialog is still handed to the TU; one message that waited less than
    half the limit ends the shedding."""
    from fsync_model.sip.useragent import LATE_IN_A_ROW

    a = UserAgent(A_ADDR, random.Random(1), user="alice")
    b = UserAgent(B_ADDR, random.Random(2), user="bob", overload_delay=0.2, retry_after=7)
    wire = Wire({A_ADDR: a, B_ADDR: b})
    # a dialog set up before the overload
    invite = a.build_request("INVITE", "sip:bob@127.0.0.1:5072")
    a.send_request(invite, B_ADDR, wire.now)
    wire.flush()
    txn = received_request(b).transaction
    b.create_uas_dialog(txn)
    b.reply(txn, 200, wire.now, contact=True)
    wire.flush()
    ok = only(a.events(), ResponseReceived)[-1].response
    dialog = a.create_uac_dialog(ok)
    a.ack(ok, wire.now, dialog=dialog)
    wire.flush()
    b.events()

    for _ in range(LATE_IN_A_ROW - 1):
        b.note_receive_delay(0.5)
    assert not b.overloaded, "a few late messages are a hiccup, not a backlog"
    b.note_receive_delay(0.5)
    assert b.overloaded
    options = a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072")
    a.send_request(options, B_ADDR, wire.now)
    wire.flush()
    rejected = only(b.events(), RequestRejected)
    assert [r.status for r in rejected] == [503] and b.stats.shed == 1
    assert b.transaction_count == 1, "the INVITE's; none for the 503"
    answer = only(a.events(), ResponseReceived)[0].response
    assert answer.status == 503 and answer.header("Retry-After") == "7"
    assert answer.to_tag
    first = [d for _, _, dst, d in wire.log if dst == A_ADDR][-1]
    b.receive_datagram(options.serialize(), A_ADDR, wire.now)  # retransmitted: same 503
    assert b.datagrams_to_send(wire.now) == [(first, A_ADDR)] and b.stats.shed == 2
    a.send_in_dialog(dialog, "INFO", wire.now)  # in the dialog: served
    wire.flush()
    assert only(b.events(), RequestReceived)[0].request.method == "INFO"

    b.note_receive_delay(0.15)  # under the limit, over half of it: still shedding
    assert b.overloaded
    b.note_receive_delay(0.05)
    assert not b.overloaded
    a.send_request(a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072"), B_ADDR, wire.now)
    wire.flush()
    assert only(b.events(), RequestReceived)[0].request.method == "OPTIONS"


def test_ua_with_too_many_pending_transactions_sheds_new_requests() -> None:
    a, _, wire = make_pair()
    b = UserAgent(B_ADDR, random.Random(2), user="bob", max_transactions=2)
    wire.uas[B_ADDR] = b
    for _ in range(3):
        a.send_request(a.build_request("OPTIONS", "sip:bob@127.0.0.1:5072"), B_ADDR,
                       wire.now)
    wire.flush()  # two wait for the TU's answer; the third is shed
    events = b.events()
    assert len(only(events, RequestReceived)) == 2 and b.stats.shed == 1
    assert [r.status for r in only(events, RequestRejected)] == [503]


def test_transactions_cleaned_up_after_k_and_j() -> None:
    a, b, wire = make_pair()
    send_options(a, wire)
    b.reply(received_request(b).transaction, 200, wire.now)
    wire.flush()
    assert a.transaction_count == 1 and b.transaction_count == 1
    wire.advance(5.0)  # K = T4
    assert a.transaction_count == 0
    assert b.transaction_count == 1
    wire.advance(32.0)  # J = 64*T1
    assert b.transaction_count == 0
    assert a.get_timer() is None and b.get_timer() is None


def test_timeout_event_after_timer_f() -> None:
    a, _, wire = make_pair()
    nowhere = Address("udp", "127.0.0.1", 9)
    key = a.send_request(a.build_request("OPTIONS", "sip:x@127.0.0.1:9"), nowhere, 0.0)
    wire.advance(40.0)
    events = a.events()
    assert len(events) == 1
    assert isinstance(events[0], TransactionTimeout)
    assert events[0].transaction == key and events[0].timer == "F"
    sent = [dst for _, _, dst, _ in wire.log]
    assert sent == [nowhere] * 11


def test_transport_error_reported() -> None:
    a, _, _ = make_pair()
    dst = Address("tcp", "127.0.0.1", 9)
    request = a.build_request("OPTIONS", "sip:x@127.0.0.1:9")
    key = a.send_request(request, dst, 0.0)
    a.transport_error(dst, "connection refused", 0.1)
    assert a.events() == [TransportFailure(key, request, dst, "connection refused")]
    assert a.transaction_count == 0
    a.transport_error(dst, "again", 0.2)  # nothing pending: still reported
    assert a.events() == [TransportFailure(None, None, dst, "again")]


def test_stray_response_reported_and_counted() -> None:
    a, b, _ = make_pair()
    request = b.build_request("OPTIONS", "sip:alice@127.0.0.1:5071")
    a.receive_datagram(request.response(200, to_tag="x").serialize(), B_ADDR, 0.0)
    events = a.events()
    assert len(events) == 1 and isinstance(events[0], StrayResponse)
    assert a.stats.stray_responses == 1


def test_recorder_sees_every_message_with_time_and_addresses() -> None:
    records: list[MessageRecord] = []
    a, b, wire = make_pair(recorders=[records.append])
    wire.now = 3.25
    send_options(a, wire)
    b.reply(received_request(b).transaction, 200, wire.now)
    wire.flush()
    assert [(r.time, r.direction, r.src, r.dst) for r in records] == [
        (3.25, "out", A_ADDR, B_ADDR), (3.25, "in", B_ADDR, A_ADDR)]
    assert records[0].data.startswith(b"OPTIONS ")


# ------------------------------------------------------------------ malformed input


def _bad_request(first_line: str, cseq: str = "1 OPTIONS", extra: str = "") -> bytes:
    return (
        f"{first_line}\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKbad\r\n"
        "From: <sip:alice@127.0.0.1>;tag=a\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        "Call-ID: bad-1\r\n"
        f"CSeq: {cseq}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_unsupported_version_answered_505_with_reason() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    b.receive_datagram(_bad_request("OPTIONS sip:bob@127.0.0.1 SIP/3.0"), A_ADDR, 0.0)
    out = b.datagrams_to_send(0.0)
    assert len(out) == 1
    answer = parse_message(out[0][0])
    assert isinstance(answer, Response)
    assert (answer.status, answer.reason) == (505, "Version Not Supported")
    assert answer.call_id == "bad-1" and answer.to_tag
    assert out[0][1] == A_ADDR
    events = b.events()
    assert isinstance(events[0], MalformedMessage) and events[0].answered == 505


def test_bad_cseq_answered_400_naming_the_header() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    b.receive_datagram(_bad_request("OPTIONS sip:bob@127.0.0.1 SIP/2.0", cseq="x OPTIONS"),
                       A_ADDR, 0.0)
    answer = parse_message(b.datagrams_to_send(0.0)[0][0])
    assert isinstance(answer, Response)
    assert answer.status == 400 and answer.reason.startswith("Bad Header: CSeq")
    assert b.stats.malformed == 1 and b.stats.malformed_answered == 1


def test_cseq_method_mismatch_answered_400() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    b.receive_datagram(_bad_request("OPTIONS sip:bob@127.0.0.1 SIP/2.0", cseq="1 INFO"),
                       A_ADDR, 0.0)
    answer = parse_message(b.datagrams_to_send(0.0)[0][0])
    assert isinstance(answer, Response) and answer.status == 400


def test_unreadable_request_dropped_and_counted() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    b.receive_datagram(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nNo colon here\r\n\r\n",
                       A_ADDR, 0.0)
    b.receive_datagram(b"\x00\x01garbage", A_ADDR, 0.0)
    assert b.datagrams_to_send(0.0) == []
    assert b.stats.malformed == 2 and b.stats.malformed_answered == 0
    assert [e.answered for e in b.events() if isinstance(e, MalformedMessage)] == [None, None]


def test_malformed_ack_never_answered() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    b.receive_datagram(_bad_request("ACK sip:bob@127.0.0.1 SIP/3.0", cseq="1 ACK"), A_ADDR, 0.0)
    assert b.datagrams_to_send(0.0) == []


def test_content_length_beyond_body_answered_400() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    data = _bad_request("OPTIONS sip:bob@127.0.0.1 SIP/2.0").replace(
        b"Content-Length: 0", b"Content-Length: 50")
    b.receive_datagram(data, A_ADDR, 0.0)
    answer = parse_message(b.datagrams_to_send(0.0)[0][0])
    assert isinstance(answer, Response) and answer.status == 400


# ------------------------------------------------------------------ dialogs


def test_in_dialog_request_without_dialog_gets_481() -> None:
    b = UserAgent(B_ADDR, random.Random(2))
    data = _bad_request("NOTIFY sip:bob@127.0.0.1 SIP/2.0", cseq="2 NOTIFY").replace(
        b"To: <sip:bob@127.0.0.1>", b"To: <sip:bob@127.0.0.1>;tag=nope")
    b.receive_datagram(data, A_ADDR, 0.0)
    answer = parse_message(b.datagrams_to_send(0.0)[0][0])
    assert isinstance(answer, Response) and answer.status == 481
    events = b.events()
    assert isinstance(events[0], RequestRejected) and events[0].status == 481


def _invite(a: UserAgent, wire: Wire, body: bytes = b"") -> TransactionKey:
    request = a.build_request("INVITE", "sip:*74@127.0.0.1:5072", body=body,
                              content_type="application/sdp" if body else None)
    key = a.send_request(request, B_ADDR, wire.now)
    wire.flush()
    return key


def test_invite_ack_bye_and_2xx_retransmission_until_ack() -> None:
    a, b, wire = make_pair()
    key = _invite(a, wire)
    invite = received_request(b)
    b.reply(invite.transaction, 180, wire.now)
    ok = b.reply(invite.transaction, 200, wire.now, contact=True)
    b_dialog = b.create_uas_dialog(invite.transaction)
    wire.flush()
    events = a.events()
    assert [e.response.status for e in events if isinstance(e, ResponseReceived)] == [180, 200]
    final = events[-1]
    assert isinstance(final, ResponseReceived) and final.transaction == key
    a_dialog = a.create_uac_dialog(final.response)
    assert a_dialog.id.remote_tag == b_dialog.id.local_tag == ok.to_tag
    assert a_dialog.remote_target == "sip:bob@127.0.0.1:5072"

    # the ACK is lost: B retransmits the 2xx; A re-ACKs by itself without a new event
    acks: list[bytes] = []

    def drop_first_ack(data: bytes, src: Address, dst: Address) -> bool:
        if data.startswith(b"ACK") and not acks:
            acks.append(data)
            return True
        return False

    wire.drop = drop_first_ack
    ack = a.ack(final.response, wire.now, dialog=a_dialog)
    assert ack.branch != final.request.branch  # 2xx ACK is a new transaction-less request
    assert ack.cseq.seq == final.request.cseq.seq and ack.cseq.method == "ACK"
    wire.flush()
    assert b.events() == []
    wire.advance(0.5)
    assert a.events() == []
    b_events = b.events()
    assert len(b_events) == 1 and isinstance(b_events[0], AckReceived)
    assert b_events[0].dialog == b_dialog.id
    wire.advance(10.0)
    assert wire.sent_lines(B_ADDR).count("SIP/2.0 200 OK") == 2  # stopped by the ACK

    # BYE in the dialog: CSeq moves on, Request-URI is the remote target
    bye_key = a.send_in_dialog(a_dialog, "BYE", wire.now)
    wire.flush()
    bye = received_request(b)
    assert bye.dialog == b_dialog.id
    assert bye.request.cseq.seq == final.request.cseq.seq + 1
    assert bye.request.uri == "sip:bob@127.0.0.1:5072"
    b.reply(bye.transaction, 200, wire.now)
    wire.flush()
    assert response_event(a).transaction == bye_key


def test_uas_2xx_retransmitted_t1_doubling_then_ack_timeout() -> None:
    a, b, wire = make_pair()
    wire.drop = lambda data, src, dst: src == B_ADDR  # A never hears B
    _invite(a, wire)
    invite = received_request(b)
    b.reply(invite.transaction, 200, wire.now, contact=True)
    wire.flush()
    wire.advance(40.0)
    times = [t for t, s, _, d in wire.log if s == B_ADDR and d.startswith(b"SIP/2.0 200")]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    timeouts = only(b.events(), AckTimeout)
    assert len(timeouts) == 1


def test_lower_cseq_in_dialog_gets_500() -> None:
    a, b, wire = make_pair()
    _invite(a, wire)
    invite = received_request(b)
    b.reply(invite.transaction, 200, wire.now, contact=True)
    b_dialog = b.create_uas_dialog(invite.transaction)
    wire.flush()
    a_dialog = a.create_uac_dialog(only(a.events(), ResponseReceived)[-1].response)
    a_dialog.local_cseq = 5
    a.send_in_dialog(a_dialog, "INFO", wire.now)  # CSeq 6: gaps are allowed
    wire.flush()
    assert [e.request.cseq.seq for e in b.events() if isinstance(e, RequestReceived)] == [6]
    a_dialog.local_cseq = 2  # a broken peer going back to an old CSeq
    a.send_in_dialog(a_dialog, "INFO", wire.now)
    wire.flush()
    events = b.events()
    assert [e.status for e in events if isinstance(e, RequestRejected)] == [500]
    assert b_dialog.remote_cseq == 6


def test_cancel_before_answer_gives_487_and_acks_it() -> None:
    a, b, wire = make_pair()
    key = _invite(a, wire)
    invite = received_request(b)
    wire.advance(0.2)  # B's transaction sends 100 Trying itself after 200 ms
    assert only(a.events(), ResponseReceived)[0].response.status == 100
    cancel_key = a.cancel(key, wire.now)
    wire.flush()
    b_events = b.events()
    assert len(b_events) == 1 and isinstance(b_events[0], CancelReceived)
    assert b_events[0].invite_transaction == invite.transaction
    statuses = {(e.transaction, e.response.status) for e in a.events()
                if isinstance(e, ResponseReceived)}
    assert statuses == {(cancel_key, 200), (key, 487)}
    assert wire.sent_lines(A_ADDR)[-1].startswith("ACK ")  # the 487 is ACKed by the txn


def test_cancel_in_calling_waits_for_provisional() -> None:
    a, b, wire = make_pair()
    key = _invite(a, wire)
    a.cancel(key, wire.now)
    wire.flush()
    assert wire.sent_lines(A_ADDR) == ["INVITE sip:*74@127.0.0.1:5072 SIP/2.0"]
    wire.advance(0.2)
    assert wire.sent_lines(A_ADDR)[1].startswith("CANCEL ")
    assert any(isinstance(e, CancelReceived) for e in b.events())


# ------------------------------------------------------------------ authentication


def _challenge_and_verify(a: UserAgent, b: UserAgent,
                          wire: Wire) -> tuple[list[UaEvent], list[bool]]:
    key = send_options(a, wire)
    first = received_request(b)
    challenge = Challenge(realm="fsync", nonce="n1", qop=("auth",))
    b.reply(first.transaction, 401, wire.now,
            headers=[("WWW-Authenticate", challenge.to_header())])
    wire.flush()
    verdicts: list[bool] = []
    for event in b.events():
        assert isinstance(event, RequestReceived)
        value = event.request.header("Authorization")
        assert value is not None
        verdicts.append(bool(verify(value, event.request.method,
                                    lambda user, realm: "secret" if user == "1001" else None)))
        assert event.request.cseq.seq == first.request.cseq.seq + 1
        assert event.request.branch != first.request.branch
        b.reply(event.transaction, 200 if verdicts[-1] else 401, wire.now,
                headers=[] if verdicts[-1] else [("WWW-Authenticate", challenge.to_header())])
    wire.flush()
    events = a.events()
    assert isinstance(events[0], AuthenticationRetry) and events[0].old == key
    return events, verdicts


def test_401_retried_with_credentials_new_branch_cseq_plus_one() -> None:
    a, b, wire = make_pair(credentials=[DigestCredentials("1001", "secret")])
    wire.now = 1.0
    events, verdicts = _challenge_and_verify(a, b, wire)
    assert verdicts == [True]
    assert len(events) == 2
    retry, final = events
    assert isinstance(retry, AuthenticationRetry) and isinstance(final, ResponseReceived)
    assert final.transaction == retry.new and final.response.status == 200


def test_wrong_password_gives_the_401_to_the_tu() -> None:
    a, b, wire = make_pair(credentials=[DigestCredentials("1001", "wrong")])
    events, verdicts = _challenge_and_verify(a, b, wire)
    assert verdicts == [False]
    final = events[-1]
    assert isinstance(final, ResponseReceived) and final.response.status == 401


def test_no_credentials_passes_401_up() -> None:
    a, b, wire = make_pair()
    send_options(a, wire)
    b.reply(received_request(b).transaction, 401, wire.now,
            headers=[("WWW-Authenticate", 'Digest realm="r", nonce="n"')])
    wire.flush()
    assert response_event(a).response.status == 401


def test_resolve_uses_uri_host_port_and_transport() -> None:
    a = UserAgent(A_ADDR, random.Random(1))
    assert a.resolve("sip:bob@127.0.0.1:5080") == Address("udp", "127.0.0.1", 5080)
    assert a.resolve("sip:bob@127.0.0.1;transport=tcp") == Address("tcp", "127.0.0.1", 5060)
    with pytest.raises(ValueError):
        a.resolve("sip:bob@not a host")


def test_bind_learns_the_real_port() -> None:
    ua = UserAgent(Address("udp", "127.0.0.1", 0), random.Random(1))
    ua.bind([Address("udp", "127.0.0.1", 40123)])
    assert ua.local.port == 40123
    assert ua.via("z9hG4bKx").startswith("SIP/2.0/UDP 127.0.0.1:40123;")
    assert isinstance(parse_message(ua.build_request("OPTIONS", "sip:x@127.0.0.1").serialize()),
                      Request)


# ------------------------------------------------------------------ robustness


def _mutations(seed: int, base: list[bytes], count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            action = rng.random()
            if action < 0.4 and data:
                data[rng.randrange(len(data))] = rng.choice(b";:,<>\"= \r\n\x00abz019@")
            elif action < 0.7:
                lines = bytes(data).split(b"\r\n")
                if len(lines) > 2:
                    i = rng.randrange(1, len(lines))
                    if rng.random() < 0.5:
                        del lines[i]
                    else:
                        lines.insert(i, lines[rng.randrange(1, len(lines))])
                data = bytearray(b"\r\n".join(lines))
            elif data:
                cut = rng.randrange(len(data))
                data = data[:cut] + data[cut + 1:]
        out.append(bytes(data))
    return out


def test_mangled_input_never_raises() -> None:
    """The contract of docs/architecture.md: bad bytes become answers or drops, never an
    exception out of the endpoint (here with the subscription extensions plugged in)."""
    from fsync_model.sip.subscription import Notifier, Subscriber

    sender = UserAgent(A_ADDR, random.Random(5))
    subscribe = sender.build_request(
        "SUBSCRIBE", "sip:bob@127.0.0.1:5072",
        headers=[("Event", "as-feature-event"), ("Expires", "600")])
    in_dialog = sender.build_request(
        "NOTIFY", "sip:bob@127.0.0.1:5072", to_tag="t1", body=b"<x/>",
        content_type="application/x-as-feature-event+xml",
        headers=[("Event", "as-feature-event"), ("Subscription-State", "active;expires=60")])
    invite = sender.build_request("INVITE", "sip:*74@127.0.0.1:5072")
    base = [subscribe.serialize(), in_dialog.serialize(), invite.serialize(),
            subscribe.response(200, to_tag="x", headers=[("Expires", "60")]).serialize()]
    ua = UserAgent(B_ADDR, random.Random(6))
    subscriber = Subscriber(ua, "as-feature-event")
    Notifier(ua, ["as-feature-event"])
    subscriber.subscribe("sip:a@127.0.0.1:5071", A_ADDR, 0.0)
    now = 0.0
    for data in _mutations(1234, base, 3000):
        now += 0.01
        ua.receive_datagram(data, A_ADDR, now)
        ua.handle_timer(now)
        ua.datagrams_to_send(now)
        ua.events()
    assert ua.stats.received == 3000
    assert ua.stats.malformed > 100
