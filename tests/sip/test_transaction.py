"""RFC 3261 section 17 transactions driven by ``now``: exact retransmission schedules, absorbed
duplicates, the ACK for non-2xx, cleanup timers, reliable transports."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fsync_model.sip.message import Message, Request, Response, parse_message
from fsync_model.sip.timers import TimerConfig
from fsync_model.sip.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Transaction,
    TransactionError,
    TransactionKey,
    TxnState,
    client_key_for_response,
    server_key,
)
from fsync_model.transport.address import Address

UDP = Address("udp", "127.0.0.1", 5070)
TCP = Address("tcp", "127.0.0.1", 5070)
CONFIG = TimerConfig()


@dataclass
class RecordingTU:
    sent: list[tuple[float, Message]] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    acks: list[Request] = field(default_factory=list)
    timeouts: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    terminated: list[float] = field(default_factory=list)

    def transaction_send(self, txn: Transaction, message: Message, now: float) -> None:
        self.sent.append((now, message))

    def transaction_response(self, txn: ClientTransaction, response: Response,
                             now: float) -> None:
        self.responses.append(response)

    def transaction_ack(self, txn: ServerInviteTransaction, ack: Request, now: float) -> None:
        self.acks.append(ack)

    def transaction_timeout(self, txn: Transaction, timer: str, now: float) -> None:
        self.timeouts.append((timer, now))

    def transaction_transport_error(self, txn: Transaction, reason: str, now: float) -> None:
        self.errors.append(reason)

    def transaction_terminated(self, txn: Transaction, now: float) -> None:
        self.terminated.append(now)

    def send_times(self, start_line_prefix: str = "") -> list[float]:
        return [t for t, m in self.sent if m.start_line.startswith(start_line_prefix)]


def make_request(method: str = "SUBSCRIBE", branch: str = "z9hG4bKabc") -> Request:
    data = (
        f"{method} sip:srv@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:1001@127.0.0.1>;tag=ft\r\n"
        "To: <sip:srv@127.0.0.1>\r\n"
        "Call-ID: cid-1\r\n"
        f"CSeq: 7 {method}\r\n"
        "Contact: <sip:1001@127.0.0.1:5070>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


def state_of(txn: Transaction) -> TxnState:
    """The state, read through a function so mypy does not narrow it between steps."""
    return txn.state


def run_until(txn: Transaction, end: float) -> None:
    """Fire every deadline up to ``end``, exactly at its time (the driver's job)."""
    while (deadline := txn.get_timer()) is not None and deadline <= end:
        txn.handle_timer(deadline)


# ------------------------------------------------------------------ non-INVITE client


def test_timer_e_schedule_until_timer_f() -> None:
    tu = RecordingTU()
    txn = ClientNonInviteTransaction(make_request(), UDP, tu, CONFIG)
    txn.start(0.0)
    run_until(txn, 100.0)
    # E: 0.5, 1, 2, then capped at T2 = 4 s; F at 64*T1 = 32 s ends it.
    assert tu.send_times() == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert tu.timeouts == [("F", 32.0)]
    assert state_of(txn) is TxnState.TERMINATED
    assert tu.terminated == [32.0]
    assert txn.get_timer() is None


def test_timer_e_goes_flat_t2_after_provisional() -> None:
    tu = RecordingTU()
    request = make_request()
    txn = ClientNonInviteTransaction(request, UDP, tu, CONFIG)
    txn.start(0.0)
    run_until(txn, 1.0)  # sent at 0, 0.5; next E at 1.5
    txn.receive_response(request.response(100), 1.2)
    assert state_of(txn) is TxnState.PROCEEDING
    run_until(txn, 12.0)
    assert tu.send_times() == [0.0, 0.5, 1.5, 5.5, 9.5]
    assert [r.status for r in tu.responses] == [100]


def test_custom_t1_t2_scale_the_schedule() -> None:
    tu = RecordingTU()
    txn = ClientNonInviteTransaction(make_request(), UDP, tu, TimerConfig(t1=0.1, t2=0.4))
    txn.start(10.0)
    run_until(txn, 100.0)
    times = [round(t - 10.0, 6) for t in tu.send_times()]
    assert times[:6] == [0.0, 0.1, 0.3, 0.7, 1.1, 1.5]
    assert [name for name, _ in tu.timeouts] == ["F"]
    assert tu.timeouts[0][1] == pytest.approx(16.4)


def test_final_response_timer_k_absorbs_retransmissions() -> None:
    tu = RecordingTU()
    request = make_request()
    txn = ClientNonInviteTransaction(request, UDP, tu, CONFIG)
    txn.start(0.0)
    ok = request.response(200, to_tag="tt")
    txn.receive_response(ok, 0.1)
    assert state_of(txn) is TxnState.COMPLETED
    assert txn.get_timer() == pytest.approx(5.1)  # K = T4
    txn.receive_response(ok, 0.6)  # retransmitted 200: absorbed
    assert [r.status for r in tu.responses] == [200]
    run_until(txn, 100.0)
    assert tu.send_times() == [0.0]  # no retransmission after the answer
    assert state_of(txn) is TxnState.TERMINATED
    assert tu.terminated == [pytest.approx(5.1)]
    assert tu.timeouts == []


def test_reliable_transport_no_retransmission_and_no_timer_k() -> None:
    tu = RecordingTU()
    request = make_request()
    txn = ClientNonInviteTransaction(request, TCP, tu, CONFIG)
    txn.start(0.0)
    assert txn.get_timer() == 32.0  # only F
    txn.receive_response(request.response(202, to_tag="x"), 1.0)
    assert state_of(txn) is TxnState.TERMINATED  # K = 0 on TCP
    assert tu.send_times() == [0.0]


def test_reliable_transport_timeout_is_f() -> None:
    tu = RecordingTU()
    txn = ClientNonInviteTransaction(make_request(), TCP, tu, CONFIG)
    txn.start(0.0)
    run_until(txn, 100.0)
    assert tu.send_times() == [0.0]
    assert tu.timeouts == [("F", 32.0)]


def test_transport_error_terminates_and_reports() -> None:
    tu = RecordingTU()
    txn = ClientNonInviteTransaction(make_request(), TCP, tu, CONFIG)
    txn.start(0.0)
    txn.transport_error("connection refused", 0.01)
    assert tu.errors == ["connection refused"]
    assert state_of(txn) is TxnState.TERMINATED
    assert txn.get_timer() is None


# ------------------------------------------------------------------ INVITE client


def test_timer_a_doubles_until_timer_b() -> None:
    tu = RecordingTU()
    txn = ClientInviteTransaction(make_request("INVITE"), UDP, tu, CONFIG)
    txn.start(0.0)
    run_until(txn, 100.0)
    assert tu.send_times() == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tu.timeouts == [("B", 32.0)]
    assert state_of(txn) is TxnState.TERMINATED


def test_provisional_stops_timer_a_and_b() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ClientInviteTransaction(request, UDP, tu, CONFIG)
    txn.start(0.0)
    txn.receive_response(request.response(180, to_tag="t"), 0.2)
    assert state_of(txn) is TxnState.PROCEEDING
    assert txn.get_timer() is None
    assert tu.send_times() == [0.0]


def test_ack_for_non_2xx_built_by_transaction_and_resent() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ClientInviteTransaction(request, UDP, tu, CONFIG)
    txn.start(0.0)
    busy = request.response(486, to_tag="callee")
    txn.receive_response(busy, 0.3)
    assert state_of(txn) is TxnState.COMPLETED
    ack = tu.sent[-1][1]
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == request.uri
    assert ack.branch == request.branch  # 17.1.1.3: same branch as the INVITE
    assert len(ack.vias) == 1
    assert ack.cseq.seq == 7 and ack.cseq.method == "ACK"
    assert ack.to_tag == "callee"
    assert ack.from_tag == "ft"
    assert ack.call_id == "cid-1"
    # the retransmitted 486 is ACKed again, not passed up
    txn.receive_response(busy, 1.0)
    assert [m.start_line.split()[0] for _, m in tu.sent] == ["INVITE", "ACK", "ACK"]
    assert [r.status for r in tu.responses] == [486]
    assert txn.get_timer() == pytest.approx(32.3)  # Timer D
    run_until(txn, 100.0)
    assert state_of(txn) is TxnState.TERMINATED
    assert tu.timeouts == []


def test_invite_2xx_accepted_state_passes_retransmissions_up() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ClientInviteTransaction(request, UDP, tu, CONFIG)
    txn.start(0.0)
    ok = request.response(200, to_tag="callee")
    txn.receive_response(ok, 0.2)
    assert state_of(txn) is TxnState.ACCEPTED  # RFC 6026
    txn.receive_response(ok, 0.7)
    assert [r.status for r in tu.responses] == [200, 200]
    assert [m.start_line.split()[0] for _, m in tu.sent] == ["INVITE"]  # no ACK for 2xx here
    run_until(txn, 100.0)
    assert tu.terminated == [pytest.approx(32.2)]  # Timer M


def test_invite_non_2xx_over_tcp_terminates_at_once() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ClientInviteTransaction(request, TCP, tu, CONFIG)
    txn.start(0.0)
    txn.receive_response(request.response(603, to_tag="x"), 0.1)
    assert state_of(txn) is TxnState.TERMINATED  # Timer D = 0 on reliable transports
    assert [m.start_line.split()[0] for _, m in tu.sent] == ["INVITE", "ACK"]


# ------------------------------------------------------------------ non-INVITE server


def test_server_non_invite_absorbs_and_resends() -> None:
    tu = RecordingTU()
    request = make_request()
    txn = ServerNonInviteTransaction(request, UDP, tu, CONFIG)
    assert state_of(txn) is TxnState.TRYING
    txn.receive_request(request, 0.5)  # no response yet: absorbed
    assert tu.sent == []
    txn.send_response(request.response(100), 0.6)
    txn.receive_request(request, 1.0)
    assert [m.start_line for _, m in tu.sent] == ["SIP/2.0 100 Trying"] * 2
    ok = request.response(200, to_tag="nt")
    txn.send_response(ok, 1.1)
    assert state_of(txn) is TxnState.COMPLETED
    txn.receive_request(request, 2.0)
    txn.receive_request(request, 4.0)
    assert [(t, m.start_line) for t, m in tu.sent][2:] == [
        (1.1, "SIP/2.0 200 OK"), (2.0, "SIP/2.0 200 OK"), (4.0, "SIP/2.0 200 OK")]
    with pytest.raises(TransactionError):
        txn.send_response(request.response(500), 4.5)
    assert txn.get_timer() == pytest.approx(33.1)  # Timer J = 64*T1
    run_until(txn, 100.0)
    assert state_of(txn) is TxnState.TERMINATED


def test_server_non_invite_tcp_timer_j_zero() -> None:
    tu = RecordingTU()
    request = make_request()
    txn = ServerNonInviteTransaction(request, TCP, tu, CONFIG)
    txn.send_response(request.response(200, to_tag="x"), 0.0)
    assert state_of(txn) is TxnState.TERMINATED
    assert tu.terminated == [0.0]


# ------------------------------------------------------------------ INVITE server


def test_server_invite_sends_100_after_200_ms() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ServerInviteTransaction(request, UDP, tu, CONFIG)
    txn.arm_trying(0.0)
    assert txn.get_timer() == pytest.approx(0.2)
    run_until(txn, 1.0)
    assert [m.start_line for _, m in tu.sent] == ["SIP/2.0 100 Trying"]
    assert tu.sent[0][0] == pytest.approx(0.2)
    txn.receive_request(request, 1.0)  # retransmitted INVITE: last provisional again
    assert len(tu.sent) == 2


def test_server_invite_answer_within_200_ms_sends_no_trying() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ServerInviteTransaction(request, UDP, tu, CONFIG)
    txn.arm_trying(0.0)
    txn.send_response(request.response(180, to_tag="t"), 0.05)
    run_until(txn, 1.0)
    assert [m.start_line for _, m in tu.sent] == ["SIP/2.0 180 Ringing"]


def test_timer_g_schedule_until_timer_h() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ServerInviteTransaction(request, UDP, tu, CONFIG)
    txn.send_response(request.response(486, to_tag="t"), 0.0)
    run_until(txn, 100.0)
    assert tu.send_times("SIP/2.0 486") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5,
                                           27.5, 31.5]
    assert tu.timeouts == [("H", 32.0)]
    assert state_of(txn) is TxnState.TERMINATED


def test_ack_confirms_then_timer_i_absorbs() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ServerInviteTransaction(request, UDP, tu, CONFIG)
    busy = request.response(486, to_tag="t")
    txn.send_response(busy, 0.0)
    txn.receive_request(request, 0.3)  # retransmitted INVITE: the 486 again
    assert tu.send_times("SIP/2.0 486") == [0.0, 0.3]
    ack = parse_message(request.serialize().replace(b"INVITE", b"ACK"))
    assert isinstance(ack, Request)
    assert server_key(ack) == txn.key  # ACK for non-2xx matches the INVITE transaction
    txn.receive_request(ack, 0.4)
    assert state_of(txn) is TxnState.CONFIRMED
    txn.receive_request(ack, 0.9)  # retransmitted ACK: absorbed
    assert txn.get_timer() == pytest.approx(5.4)  # Timer I = T4
    run_until(txn, 100.0)
    assert tu.send_times("SIP/2.0 486") == [0.0, 0.3]
    assert tu.acks == []
    assert tu.timeouts == []
    assert tu.terminated == [pytest.approx(5.4)]


def test_server_invite_2xx_accepted_absorbs_invite_and_passes_ack() -> None:
    tu = RecordingTU()
    request = make_request("INVITE")
    txn = ServerInviteTransaction(request, UDP, tu, CONFIG)
    ok = request.response(200, to_tag="t")
    txn.send_response(ok, 0.0)
    assert state_of(txn) is TxnState.ACCEPTED
    txn.receive_request(request, 0.5)  # absorbed: the UA core retransmits 2xx
    txn.send_response(ok, 0.5)  # ...through the transaction
    assert tu.send_times("SIP/2.0 200") == [0.0, 0.5]
    ack = parse_message(request.serialize().replace(b"INVITE", b"ACK"))
    assert isinstance(ack, Request)
    txn.receive_request(ack, 0.6)
    assert tu.acks == [ack]
    run_until(txn, 100.0)
    assert tu.terminated == [32.0]  # Timer L


# ------------------------------------------------------------------ matching


def test_server_keys_follow_17_2_3() -> None:
    invite = make_request("INVITE", "z9hG4bK1")
    cancel = make_request("CANCEL", "z9hG4bK1")
    ack = make_request("ACK", "z9hG4bK1")
    assert server_key(invite) == TransactionKey("server", "z9hG4bK1", "INVITE",
                                                "127.0.0.1:5070")
    assert server_key(ack) == server_key(invite)
    assert server_key(cancel) != server_key(invite)
    assert server_key(cancel).method == "CANCEL"
    other_sent_by = parse_message(invite.serialize().replace(b"127.0.0.1:5070;", b"10.0.0.1:5070;"))
    assert isinstance(other_sent_by, Request)
    assert server_key(other_sent_by) != server_key(invite)


def test_rfc2543_requests_match_without_magic_cookie() -> None:
    invite = make_request("INVITE", "old1")
    again = make_request("INVITE", "old1")
    ack = make_request("ACK", "old1")
    assert server_key(invite) == server_key(again) == server_key(ack)
    assert not server_key(invite).branch.startswith("z9hG4bK")


def test_client_key_for_response_uses_cseq_method() -> None:
    invite = make_request("INVITE", "z9hG4bK1")
    cancel = make_request("CANCEL", "z9hG4bK1")
    assert client_key_for_response(invite.response(200, to_tag="a")) != client_key_for_response(
        cancel.response(200, to_tag="a"))


def test_server_factory_refuses_ack() -> None:
    from fsync_model.sip.transaction import new_client_transaction, new_server_transaction

    tu = RecordingTU()
    with pytest.raises(TransactionError):
        new_server_transaction(make_request("ACK"), UDP, tu, CONFIG)
    with pytest.raises(TransactionError):
        new_client_transaction(make_request("ACK"), UDP, tu, CONFIG)
    assert isinstance(new_server_transaction(make_request(), UDP, tu, CONFIG), ServerTransaction)
