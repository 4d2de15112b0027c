"""Ladders from SIP messages: lifelines named from the traffic, labels, details, styles."""

from __future__ import annotations

import pytest

from fsync_model.diagrams.ladder import Arrow, LadderError, Note
from fsync_model.diagrams.messages import (
    MessageRecord,
    body_lines,
    ladder_from_messages,
    select_messages,
)
from fsync_model.diagrams.svg import render_svg
from fsync_model.sip.errors import SipParseError
from tests.diagrams.test_messages_support import (
    BROKEN,
    PHONE,
    SERVER,
    dnd_phone_initiated,
    feature_code_call,
    full_state_notify,
)


def test_dnd_phone_initiated_one_arrow_per_message_with_the_guide_details() -> None:
    ladder = ladder_from_messages(dnd_phone_initiated(), title="DND at the phone")
    assert [(line.id, line.label, line.sublabel) for line in ladder.lifelines] == [
        ("phone_1001", "phone 1001", "udp:127.0.0.1:5070"),
        ("server", "server (BroadWorks)", "udp:127.0.0.1:5060"),
    ]
    arrows = ladder.arrows
    assert [(a.src, a.dst, a.label) for a in arrows] == [
        ("phone_1001", "server", "SUBSCRIBE"),
        ("server", "phone_1001", "200 OK"),
        ("server", "phone_1001", "NOTIFY"),
        ("phone_1001", "server", "200 OK"),
    ]
    assert arrows[0].details == (
        "Event: as-feature-event",
        "CSeq: 2 SUBSCRIBE",
        "Expires: 3600",
        "Content-Type: application/x-as-feature-event+xml",
        "SetDoNotDisturb: doNotDisturbOn=true",
    )
    assert arrows[1].details == ("CSeq: 2 SUBSCRIBE", "Expires: 3600")
    assert arrows[2].details == (
        "Event: as-feature-event",
        "Subscription-State: active;expires=3599",
        "CSeq: 7 NOTIFY",
        "Content-Type: application/x-as-feature-event+xml",
        "DoNotDisturbEvent: doNotDisturbOn=true",
    )
    assert arrows[3].details == ("CSeq: 7 NOTIFY",)
    assert all(a.style == "normal" for a in arrows)
    assert arrows[0].time == pytest.approx(1_700_000_000.0)
    assert arrows[0].packet is None  # MessageRecord without a number


def test_multipart_full_state_gives_one_line_per_part() -> None:
    notify = ladder_from_messages(full_state_notify(), title="t").arrows[0]
    assert notify.details[-5:] == (
        "Content-Type: multipart/mixed",
        "forwardImmediate: forwardStatus=true forwardTo=2000",
        "forwardBusy: forwardStatus=false",
        "forwardNoAns: forwardStatus=true forwardTo=3000 ringCount=4",
        "DoNotDisturbEvent: doNotDisturbOn=false",
    )


def test_feature_code_call_labels_the_code_and_the_media() -> None:
    ladder = ladder_from_messages(feature_code_call(), title="t")
    assert [a.label for a in ladder.arrows] == ["INVITE *716000", "200 OK", "ACK", "BYE", "200 OK"]
    assert "m=audio 4000" in ladder.arrows[0].details
    assert "m=audio 5000" in ladder.arrows[1].details
    # the INVITE to a star code says who is the phone, without any REGISTER or SUBSCRIBE
    assert [line.label for line in ladder.lifelines] == ["phone 1001", "server"]


def test_retransmission_by_bytes_and_by_transaction() -> None:
    exchange = dnd_phone_initiated()
    again = exchange[2]
    # same branch and CSeq, different bytes (a server that re-serialises): still a retransmission
    varied = MessageRecord(
        again.time + 0.5,
        again.src,
        again.dst,
        again.data.replace(b"Max-Forwards: 70", b"Max-Forwards: 69"),
    )
    ladder = ladder_from_messages([*exchange, again, varied], title="t")
    assert [a.style for a in ladder.arrows] == ["normal"] * 4 + ["retransmission"] * 2


def test_unparsable_message_is_red_with_the_reason() -> None:
    broken = MessageRecord(5.0, SERVER, PHONE, BROKEN, number=42)
    arrow = ladder_from_messages([broken], title="t").arrows[0]
    assert arrow.style == "error"
    assert arrow.packet == 42
    assert arrow.details[0] == "unparsable: Content-Length larger than body"
    assert arrow.label.startswith("NOTIFY sip:1001@")


def test_unreadable_body_is_red_with_the_body_reason() -> None:
    record = dnd_phone_initiated()[2]
    bad = record.data.replace(b"<doNotDisturbOn>true", b"<doNotDisturbOn>maybe")
    arrow = ladder_from_messages([MessageRecord(0.0, SERVER, PHONE, bad)], title="t").arrows[0]
    assert arrow.style == "error"
    assert arrow.details[-1].startswith("body: ")


def test_body_lines_for_csta_and_errors() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">'
        b"<device>1001</device><doNotDisturbOn>true</doNotDisturbOn></DoNotDisturbEvent>"
    )
    csta = "application/csta+xml"
    assert body_lines(csta, csta, body) == ["DoNotDisturbEvent: doNotDisturbOn=true"]
    assert body_lines("text/plain", None, b"hello") == []
    assert body_lines(None, None, b"") == []
    with pytest.raises(SipParseError):
        body_lines("multipart/mixed", "multipart/mixed;boundary=x", b"no parts here")


def test_lifeline_names_map_overrides_the_heuristic_and_notes_follow_addresses() -> None:
    ladder = ladder_from_messages(
        dnd_phone_initiated(),
        title="t",
        lifeline_names={"127.0.0.1:5060": "BroadWorks AS", str(PHONE): "Yealink T46S"},
        notes=[(1, Note((str(PHONE),), "DND on (pending)")), (4, Note((str(SERVER),), "done"))],
    )
    assert [line.label for line in ladder.lifelines] == ["Yealink T46S", "BroadWorks AS"]
    kinds = [type(item).__name__ for item in ladder.items]
    assert kinds == ["Arrow", "Note", "Arrow", "Arrow", "Arrow", "Note"]
    note = ladder.items[1]
    assert isinstance(note, Note) and note.over == ("yealink_t46s",)


def test_unknown_roles_fall_back_to_numbered_endpoints() -> None:
    options = (
        b"OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    ladder = ladder_from_messages([MessageRecord(0.0, "mem:a", "mem:b", options)], title="t")
    assert [(line.id, line.label) for line in ladder.lifelines] == [
        ("endpoint_1", "endpoint 1"),
        ("endpoint_2", "endpoint 2"),
    ]


def test_nothing_to_draw_is_a_ladder_error() -> None:
    with pytest.raises(LadderError):
        ladder_from_messages([], title="t")


def test_select_by_user_and_call_id() -> None:
    records = [*dnd_phone_initiated(), *feature_code_call()]
    assert len(select_messages(records, user="1001")) == 9
    assert len(select_messages(records, user="*716000")) == 5
    assert select_messages(records, user="2000") == []
    assert len(select_messages(records, call_id="code-91b")) == 5
    assert len(select_messages(records, call_id="code-91b2e0c4a7@127.0.0.1")) == 5
    broken = MessageRecord(9.0, SERVER, PHONE, BROKEN)
    assert select_messages([broken], user="1001") == [broken]
    assert select_messages([broken], user="1002") == []


def test_same_messages_same_svg() -> None:
    records = [*dnd_phone_initiated(), *full_state_notify(), *feature_code_call()]
    first = render_svg(ladder_from_messages(records, title="t", caption="c"))
    second = render_svg(ladder_from_messages(list(records), title="t", caption="c"))
    assert first == second


def test_arrows_are_plain_ladder_arrows() -> None:
    arrow = ladder_from_messages(dnd_phone_initiated()[:1], title="t").arrows[0]
    assert isinstance(arrow, Arrow)
