"""SIP exchanges built with the SIP layer, for the ladder-from-messages tests.

Each function returns the messages of one exchange as ``MessageRecord`` values (time, source,
destination, bytes), in the order they went on the wire, the way a tap records them.
"""

from __future__ import annotations

from fsync_model.bodies import feature_event as afe
from fsync_model.diagrams.messages import MessageRecord
from fsync_model.sip.message import Request, build_request
from fsync_model.sip.sdp import make_answer, make_offer
from fsync_model.transport.address import Address

PHONE = Address("udp", "127.0.0.1", 5070)
SERVER = Address("udp", "127.0.0.1", 5060)
PHONE_TAG = "ph0ne7a9"
SERVER_TAG = "s3rv3r41"
CALL_ID = "afe-3c26700f51a3e1d8b5a@127.0.0.1"


def _headers(
    cseq: str, *, branch: str, to_tag: bool = True, phone_side: bool = True, call_id: str = CALL_ID
) -> list[tuple[str, str]]:
    """From/To/Via of a request in the phone's subscription dialog (or the server's)."""
    phone = f"<sip:1001@127.0.0.1>;tag={PHONE_TAG}"
    server = "<sip:1001@127.0.0.1>" + (f";tag={SERVER_TAG}" if to_tag else "")
    via_host = "127.0.0.1:5070" if phone_side else "127.0.0.1:5060"
    return [
        ("Via", f"SIP/2.0/UDP {via_host};branch=z9hG4bK{branch};rport"),
        ("Max-Forwards", "70"),
        ("From", phone if phone_side else server),
        ("To", server if phone_side else phone),
        ("Call-ID", call_id),
        ("CSeq", cseq),
    ]


def _ok(
    request: Request, *extra: tuple[str, str], body: bytes = b"", ct: str | None = None
) -> bytes:
    to_tag = SERVER_TAG if request.method != "NOTIFY" else None
    return request.response(
        200, to_tag=to_tag, headers=extra, body=body, content_type=ct
    ).serialize()


def dnd_phone_initiated(start: float = 1_700_000_000.0) -> list[MessageRecord]:
    """BroadSoft: DND switched on at the phone (guide 'DND switched on/off at the phone')."""
    body = afe.build(afe.SetDoNotDisturb("1001", True))
    subscribe = build_request(
        "SUBSCRIBE",
        "sip:1001@127.0.0.1:5060",
        [
            *_headers("2 SUBSCRIBE", branch="sub2"),
            ("Contact", "<sip:1001@127.0.0.1:5070>"),
            ("Event", afe.EVENT_PACKAGE),
            ("Accept", afe.CONTENT_TYPE),
            ("Expires", "3600"),
            ("User-Agent", "Yealink SIP-T46S 66.86"),
        ],
        body,
        afe.CONTENT_TYPE,
    )
    notify = build_request(
        "NOTIFY",
        "sip:1001@127.0.0.1:5070",
        [
            *_headers("7 NOTIFY", branch="ntf7", phone_side=False),
            ("Contact", "<sip:127.0.0.1:5060>"),
            ("Event", afe.EVENT_PACKAGE),
            ("Subscription-State", "active;expires=3599"),
        ],
        afe.build(afe.DoNotDisturbEvent("1001", True)),
        afe.CONTENT_TYPE,
    )
    return [
        MessageRecord(start, PHONE, SERVER, subscribe.serialize()),
        MessageRecord(
            start + 0.034,
            SERVER,
            PHONE,
            _ok(subscribe, ("Expires", "3600"), ("Server", "BroadWorks")),
        ),
        MessageRecord(start + 0.061, SERVER, PHONE, notify.serialize()),
        MessageRecord(start + 0.063, PHONE, SERVER, _ok(notify)),
    ]


def full_state_notify(start: float = 1_700_000_001.0) -> list[MessageRecord]:
    """A full-state NOTIFY as OpenSIPS sends it: multipart/mixed, one part per feature."""
    events: list[afe.FeatureEvent] = [
        afe.DoNotDisturbEvent("1001", False),
        afe.ForwardingEvent("1001", afe.ForwardingType.IMMEDIATE, True, "2000"),
        afe.ForwardingEvent("1001", afe.ForwardingType.BUSY, False),
        afe.ForwardingEvent("1001", afe.ForwardingType.NO_ANSWER, True, "3000", 4),
    ]
    content_type, body = afe.build_full_state(events, "fsync-boundary-1")
    notify = build_request(
        "NOTIFY",
        "sip:1001@127.0.0.1:5070",
        [
            *_headers("8 NOTIFY", branch="ntf8", phone_side=False),
            ("Event", afe.EVENT_PACKAGE),
            ("Subscription-State", "active;expires=3500"),
        ],
        body,
        content_type,
    )
    return [
        MessageRecord(start, SERVER, PHONE, notify.serialize()),
        MessageRecord(start + 0.002, PHONE, SERVER, _ok(notify)),
    ]


def feature_code_call(start: float = 1_700_000_002.0) -> list[MessageRecord]:
    """Yeastar: forward always to 6000 set at the phone, by a call to the code ``*716000``."""
    call_id = "code-91b2e0c4a7@127.0.0.1"
    offer = make_offer("127.0.0.1", 4000, 1)
    headers = _headers("1 INVITE", branch="inv1", to_tag=False, call_id=call_id)
    headers[3] = ("To", "<sip:*716000@127.0.0.1>")
    invite = build_request(
        "INVITE",
        "sip:*716000@127.0.0.1",
        [*headers, ("Contact", "<sip:1001@127.0.0.1:5070>")],
        offer,
        "application/sdp",
    )
    answer = make_answer(offer, "127.0.0.1", 5000, 2)
    ok = invite.response(
        200,
        to_tag=SERVER_TAG,
        headers=[("Contact", "<sip:*716000@127.0.0.1:5060>")],
        body=answer,
        content_type="application/sdp",
    )
    in_dialog = [
        ("From", f"<sip:1001@127.0.0.1>;tag={PHONE_TAG}"),
        ("To", f"<sip:*716000@127.0.0.1>;tag={SERVER_TAG}"),
        ("Call-ID", call_id),
        ("Max-Forwards", "70"),
    ]
    ack = build_request(
        "ACK",
        "sip:*716000@127.0.0.1:5060",
        [("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKack1"), *in_dialog, ("CSeq", "1 ACK")],
    )
    bye = build_request(
        "BYE",
        "sip:*716000@127.0.0.1:5060",
        [("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye2"), *in_dialog, ("CSeq", "2 BYE")],
    )
    return [
        MessageRecord(start, PHONE, SERVER, invite.serialize()),
        MessageRecord(start + 0.010, SERVER, PHONE, ok.serialize()),
        MessageRecord(start + 0.011, PHONE, SERVER, ack.serialize()),
        MessageRecord(start + 0.020, PHONE, SERVER, bye.serialize()),
        MessageRecord(start + 0.030, SERVER, PHONE, _ok(bye)),
    ]


#: A datagram that starts like SIP but whose Content-Length promises more than it carries.
BROKEN = (
    b"NOTIFY sip:1001@127.0.0.1:5070 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbad9\r\n"
    b"Call-ID: " + CALL_ID.encode() + b"\r\nCSeq: 9 NOTIFY\r\n"
    b"Content-Length: 999\r\n\r\n<DoNotDisturbEvent/>"
)
