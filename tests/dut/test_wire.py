"""Oracles on the device's own messages: strict checker, request/response pairs, and one
final answer per transaction."""
from __future__ import annotations

from fsync_model.dut.wire import ONE_FINAL_ANSWER, check_device_messages
from fsync_model.transport.address import Address
from fsync_model.transport.tap import TapRecord

US = Address("udp", "127.0.0.1", 5070)
DEVICE = Address("udp", "127.0.0.1", 5071)

NOTIFY = (
    "NOTIFY sip:1001@127.0.0.1:5071 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:1001@127.0.0.1>;tag=srv\r\n"
    "To: <sip:1001@127.0.0.1>;tag=ph\r\n"
    "Call-ID: c1\r\nCSeq: 2 NOTIFY\r\nEvent: as-feature-event\r\n"
    "Subscription-State: active;expires=3600\r\n"
    "Contact: <sip:server@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n")


def _answer(status: int, reason: str, to_tag: str = "ph", *, extra: str = "") -> str:
    return (f"SIP/2.0 {status} {reason}\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc\r\n"
            "From: <sip:1001@127.0.0.1>;tag=srv\r\n"
            f"To: <sip:1001@127.0.0.1>;tag={to_tag}\r\n"
            f"Call-ID: c1\r\nCSeq: 2 NOTIFY\r\n{extra}Content-Length: 0\r\n\r\n")


def _records(*messages: tuple[Address, str]) -> list[TapRecord]:
    return [TapRecord(float(i), src, DEVICE if src == US else US, text.encode())
            for i, (src, text) in enumerate(messages)]


def test_a_clean_answer_and_its_retransmission_are_fine() -> None:
    records = _records((US, NOTIFY), (DEVICE, _answer(200, "OK")), (US, NOTIFY),
                       (DEVICE, _answer(200, "OK")))
    assert check_device_messages(records, [US], step=0, transport="udp") == []


def test_two_different_final_answers_to_one_transaction() -> None:
    records = _records((US, NOTIFY), (DEVICE, _answer(200, "OK")), (US, NOTIFY),
                       (DEVICE, _answer(500, "Server Internal Error")))
    found = check_device_messages(records, [US], step=2, transport="udp")
    assert [v.rule for v in found] == [ONE_FINAL_ANSWER]
    assert found[0].step == 2 and found[0].evidence == "SIP/2.0 500 Server Internal Error"
    assert found[0].message_text is not None and "500" in found[0].message_text


def test_only_the_device_is_checked_and_its_errors_carry_the_message() -> None:
    broken_ours = NOTIFY.replace("CSeq: 2 NOTIFY", "CSeq: 2 INVITE")
    records = _records((US, broken_ours), (DEVICE, _answer(200, "OK", extra="CSeq: 3 NOTIFY\r\n")))
    found = check_device_messages(records, [US], step=None, transport="udp")
    assert found and all(v.source == "checker" for v in found)
    assert all(v.message_text and v.message_text.startswith("SIP/2.0 200") for v in found)
    assert any(v.rule.startswith("RFC3261") and v.severity == "error" for v in found)
