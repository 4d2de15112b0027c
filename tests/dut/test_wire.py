"""Oracles on the device's own messages: strict checker, request/response pairs, and the
shared WireOracle's conversation rules (one final answer, unanswered requests), kept only
where the device is at fault."""
from __future__ import annotations

from fsync_model.dut.verdicts import Violation
from fsync_model.dut.wire import DeviceWire
from fsync_model.transport.address import Address
from fsync_model.transport.tap import TapRecord
from tests.dut.support import profile

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


def _check(records: list[TapRecord], step: int | None = 0) -> list[Violation]:
    return DeviceWire(profile("broadsoft"), "phone", transport="udp").check(records, [US],
                                                                            step=step)


def _records(*messages: tuple[Address, str]) -> list[TapRecord]:
    return [TapRecord(float(i), src, DEVICE if src == US else US, text.encode())
            for i, (src, text) in enumerate(messages)]


def test_a_clean_answer_and_its_retransmission_are_fine() -> None:
    records = _records((US, NOTIFY), (DEVICE, _answer(200, "OK")), (US, NOTIFY),
                       (DEVICE, _answer(200, "OK")))
    assert _check(records) == []


def test_two_different_final_answers_to_one_transaction() -> None:
    records = _records((US, NOTIFY), (DEVICE, _answer(200, "OK")), (US, NOTIFY),
                       (DEVICE, _answer(500, "Server Internal Error")))
    found = DeviceWire(profile("broadsoft"), "phone", transport="udp").check(records, [US],
                                                                              step=2)
    assert [v.rule for v in found] == ["ORACLE-ONE-FINAL"]
    assert found[0].step == 2 and "[200, 500]" in found[0].message
    assert found[0].message_text is not None and found[0].message_text.startswith(
        "SIP/2.0 500")


def test_a_request_of_fsync_left_unanswered() -> None:
    found = DeviceWire(profile("broadsoft"), "phone", transport="udp").check(
        _records((US, NOTIFY)), [US], step=1)
    assert [v.rule for v in found] == ["ORACLE-UNANSWERED"]
    assert found[0].message_text is not None and found[0].message_text.startswith("NOTIFY")


def test_what_fsync_itself_does_wrong_is_not_the_device_s_fault() -> None:
    # fsync's server answering the device's SUBSCRIBE twice differently: not a finding
    subscribe = NOTIFY.replace("NOTIFY sip", "SUBSCRIBE sip").replace(
        "CSeq: 2 NOTIFY", "CSeq: 2 SUBSCRIBE").replace("127.0.0.1:5070;branch",
                                                       "127.0.0.1:5071;branch")
    first = _answer(200, "OK").replace("CSeq: 2 NOTIFY", "CSeq: 2 SUBSCRIBE").replace(
        "127.0.0.1:5070;branch", "127.0.0.1:5071;branch")
    second = first.replace("200 OK", "500 Server Internal Error")
    records = _records((DEVICE, subscribe), (US, first), (DEVICE, subscribe), (US, second))
    assert [v.rule for v in _check(records)] == []


def test_only_the_device_is_checked_and_its_errors_carry_the_message() -> None:
    broken_ours = NOTIFY.replace("CSeq: 2 NOTIFY", "CSeq: 2 INVITE")
    records = _records((US, broken_ours), (DEVICE, _answer(200, "OK", extra="CSeq: 3 NOTIFY\r\n")))
    found = DeviceWire(profile("broadsoft"), "phone", transport="udp").check(records, [US],
                                                                              step=None)
    checked = [v for v in found if v.source == "checker"]
    assert checked and not any(v.rule == "ORACLE-RFC" for v in found)
    assert all(v.message_text and v.message_text.startswith("SIP/2.0 200") for v in checked)
    assert any(v.rule.startswith("RFC3261") and v.severity == "error" for v in checked)
