"""RFC 3261 section 12 dialog state: creation on each side, route sets, CSeq rules."""
from __future__ import annotations

import pytest

from fsync_model.sip.dialog import Dialog, DialogId, DialogTable
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, Response, parse_message


def request(method: str = "INVITE", *, to_tag: str | None = None, cseq: int = 3,
            extra: str = "", contact: str = "<sip:alice@10.0.0.1:5070>") -> Request:
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    data = (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKd1\r\n"
        "From: \"Alice\" <sip:alice@example.com>;tag=atag\r\n"
        f"To: {to}\r\n"
        "Call-ID: dlg-1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        + (f"Contact: {contact}\r\n" if contact else "")
        + extra
        + "Content-Length: 0\r\n\r\n"
    ).encode()
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def answer(req: Request, status: int = 200, extra: list[tuple[str, str]] | None = None,
           ) -> Response:
    return req.response(status, to_tag="btag",
                        headers=[("Contact", "<sip:bob@10.0.0.2:5080>"), *(extra or [])])


RR = [("Record-Route", "<sip:p1.example.com;lr>"), ("Record-Route", "<sip:p2.example.com;lr>")]


def test_uac_dialog_reverses_record_route_and_targets_contact() -> None:
    invite = request()
    dialog = Dialog.as_uac(invite, answer(invite, extra=RR))
    assert dialog.id == DialogId("dlg-1", "atag", "btag")
    assert dialog.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    assert dialog.remote_target == "sip:bob@10.0.0.2:5080"
    assert dialog.local_cseq == 3 and dialog.remote_cseq is None
    assert dialog.confirmed
    bye = dialog.build_request("BYE", via="SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKb")
    assert bye.uri == "sip:bob@10.0.0.2:5080"
    assert bye.headers.get_all("route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert bye.cseq.seq == 4 and bye.cseq.method == "BYE"
    assert bye.from_tag == "atag" and bye.to_tag == "btag"
    assert bye.from_addr.display == "Alice"
    assert bye.max_forwards == 70


def test_provisional_makes_an_early_dialog() -> None:
    invite = request()
    dialog = Dialog.as_uac(invite, answer(invite, 180))
    assert not dialog.confirmed
    dialog.receive_response(answer(invite, 200))
    assert dialog.confirmed


def test_uas_dialog_keeps_record_route_order() -> None:
    invite = request(extra="".join(f"{n}: {v}\r\n" for n, v in RR))
    dialog = Dialog.as_uas(invite, "btag")
    assert dialog.id == DialogId("dlg-1", "btag", "atag")
    assert dialog.route_set == ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")
    assert dialog.remote_target == "sip:alice@10.0.0.1:5070"
    assert dialog.remote_cseq == 3 and dialog.local_cseq == 0
    notify = dialog.build_request("NOTIFY")
    assert notify.cseq.seq == 1  # the UAS side counts from its own start
    assert notify.from_tag == "btag" and notify.to_tag == "atag"
    assert "via" not in notify.headers


def test_uas_dialog_needs_contact() -> None:
    with pytest.raises(SipParseError):
        Dialog.as_uas(request(contact=""), "btag")


def test_strict_route_puts_target_last() -> None:
    invite = request()
    dialog = Dialog.as_uac(invite, answer(invite, extra=[
        ("Record-Route", "<sip:strict.example.com>")]))
    uri, routes = dialog.request_uri_and_routes()
    assert uri == "sip:strict.example.com"
    assert routes == ["<sip:bob@10.0.0.2:5080>"]
    assert dialog.next_hop_uri() == "sip:strict.example.com"


def test_cseq_rules_and_target_refresh() -> None:
    dialog = Dialog.as_uas(request(), "btag")
    assert dialog.receive_request(request("INFO", to_tag="btag", cseq=4)) is None
    assert dialog.remote_cseq == 4
    assert dialog.receive_request(request("INFO", to_tag="btag", cseq=2)) == 500
    refresh = request("SUBSCRIBE", to_tag="btag", cseq=9, contact="<sip:alice@10.9.9.9>")
    assert dialog.receive_request(refresh) is None
    assert dialog.remote_target == "sip:alice@10.9.9.9"  # RFC 6665: SUBSCRIBE refreshes
    info = request("INFO", to_tag="btag", cseq=10, contact="<sip:elsewhere@10.1.1.1>")
    dialog.receive_request(info)
    assert dialog.remote_target == "sip:alice@10.9.9.9"  # INFO does not
    ack = request("ACK", to_tag="btag", cseq=3)
    assert dialog.receive_request(ack) is None and dialog.remote_cseq == 10


def test_explicit_cseq_moves_counter_forward() -> None:
    dialog = Dialog.as_uas(request(), "btag")
    assert dialog.build_request("NOTIFY", cseq=10).cseq.seq == 10
    assert dialog.build_request("NOTIFY").cseq.seq == 11


def test_ack_for_2xx_reuses_invite_cseq() -> None:
    invite = request()
    dialog = Dialog.as_uac(invite, answer(invite))
    ack = dialog.build_ack(3)
    assert ack.method == "ACK" and ack.cseq.seq == 3 and ack.cseq.method == "ACK"
    assert dialog.local_cseq == 3


def test_dialog_from_notify_before_200() -> None:
    subscribe = request("SUBSCRIBE", cseq=1)
    notify_data = (
        b"NOTIFY sip:alice@10.0.0.1:5070 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.2:5080;branch=z9hG4bKn\r\n"
        b"From: <sip:bob@example.com>;tag=ntag\r\n"
        b"To: \"Alice\" <sip:alice@example.com>;tag=atag\r\n"
        b"Call-ID: dlg-1\r\nCSeq: 17 NOTIFY\r\n"
        b"Record-Route: <sip:p1.example.com;lr>\r\n"
        b"Contact: <sip:bob@10.0.0.2:5080>\r\n"
        b"Event: as-feature-event\r\nSubscription-State: active;expires=60\r\n"
        b"Content-Length: 0\r\n\r\n")
    notify = parse_message(notify_data)
    assert isinstance(notify, Request)
    dialog = Dialog.from_notify(subscribe, notify)
    assert dialog.id == DialogId("dlg-1", "atag", "ntag")
    assert dialog.remote_cseq == 17 and dialog.local_cseq == 1
    assert dialog.route_set == ("<sip:p1.example.com;lr>",)
    assert dialog.remote_target == "sip:bob@10.0.0.2:5080"


def test_table_finds_by_either_side() -> None:
    table = DialogTable()
    invite = request()
    ok = answer(invite)
    dialog = table.add(Dialog.as_uac(invite, ok))
    assert table.find_for_response(ok) is dialog
    incoming = parse_message(invite.serialize()
                             .replace(b"tag=atag", b"tag=btag")
                             .replace(b"To: <sip:bob@example.com>",
                                      b"To: <sip:bob@example.com>;tag=atag"))
    assert isinstance(incoming, Request)
    assert table.find_for_request(incoming) is dialog
    assert table.find_for_request(invite) is None  # no To tag: not in a dialog
    table.expect("dlg-2", "x")
    assert table.is_expected("dlg-2", "x")
    table.unexpect("dlg-2", "x")
    assert not table.is_expected("dlg-2", "x")
    assert table.remove(dialog.id) is dialog and len(table) == 0
