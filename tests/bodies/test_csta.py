"""uaCSTA (application/csta+xml) bodies: plausible ECMA-323 documents, lenient reading."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.bodies import csta
from fsync_model.bodies.csta import (
    CstaDocument,
    build_do_not_disturb_event,
    build_monitor_start,
    build_monitor_start_response,
    build_set_do_not_disturb,
    build_set_do_not_disturb_response,
    parse,
)
from fsync_model.bodies.feature_event import (
    BODY_TOO_LARGE,
    ECMA_323_ED3,
    XML_DTD_REFUSED,
    BodyError,
)


def test_monitor_start_document() -> None:
    assert build_monitor_start("1001") == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<MonitorStart xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">\n'
        b"  <monitorObject>\n"
        b"    <deviceObject>1001</deviceObject>\n"
        b"  </monitorObject>\n"
        b"</MonitorStart>"
    )
    result = parse(build_monitor_start("1001"))
    assert result.document == CstaDocument("MonitorStart", ECMA_323_ED3, device="1001")
    assert result.findings == ()


def test_monitor_start_response_and_set_dnd_response() -> None:
    assert parse(build_monitor_start_response("42")).document.monitor_cross_ref_id == "42"
    empty = build_set_do_not_disturb_response()
    assert empty.endswith(b"/>")
    assert parse(empty).document == CstaDocument("SetDoNotDisturbResponse", ECMA_323_ED3)


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("on", [False, True])
def test_dnd_event_and_request_read_back(nested: bool, on: bool) -> None:
    event = parse(build_do_not_disturb_event("1001", on, "7", nested_device=nested)).document
    assert (event.root, event.device, event.do_not_disturb_on, event.monitor_cross_ref_id) == (
        "DoNotDisturbEvent", "1001", on, "7"
    )
    request = parse(build_set_do_not_disturb("1001", on, nested_device=nested)).document
    assert (request.root, request.device, request.do_not_disturb_on) == (
        "SetDoNotDisturb", "1001", on
    )


def test_root_names_are_parameters() -> None:
    body = build_do_not_disturb_event("1001", True, root="DeviceDoNotDisturbEvent")
    result = parse(body)
    assert result.document.root == "DeviceDoNotDisturbEvent"
    assert result.document.do_not_disturb_on is True
    assert result.rules == [csta.CSTA_ROOT_UNKNOWN]


@pytest.mark.parametrize(
    ("namespace", "rule"),
    [
        (None, csta.CSTA_NS_MISSING),
        ("http://www.ecma-international.org/standards/ecma-323/csta/ed5", csta.CSTA_NS_EDITION),
        ("urn:example", csta.CSTA_NS_UNKNOWN),
    ],
)
def test_namespace_oddities_are_findings_not_rejections(namespace: str | None, rule: str) -> None:
    result = parse(build_set_do_not_disturb("1001", True, namespace=namespace))
    assert result.document.do_not_disturb_on is True
    assert result.rules == [rule]


def test_lenient_booleans_and_concatenation() -> None:
    body = build_set_do_not_disturb("1001", True).replace(b">true<", b">TRUE<")
    assert parse(body).document.do_not_disturb_on is True
    odd = parse(build_set_do_not_disturb("1001", True).replace(b">true<", b">maybe<"))
    assert odd.document.do_not_disturb_on is None
    assert odd.rules == [csta.CSTA_BOOL_INVALID]
    twice = parse(build_set_do_not_disturb("1", True) + b"\n" + build_monitor_start("2"))
    assert twice.document.device == "1"
    assert twice.rules == [csta.CSTA_CONCATENATED]


def test_hardened_like_as_feature_event() -> None:
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><SetDoNotDisturb>&a;</SetDoNotDisturb>'
    with pytest.raises(BodyError) as caught:
        parse(bomb)
    assert caught.value.rules == [XML_DTD_REFUSED]
    assert caught.value.reason.startswith("Bad CSTA body")
    with pytest.raises(BodyError) as caught:
        parse(b" " * 70_000 + build_monitor_start("1"))
    assert (caught.value.status, caught.value.rules) == (413, [BODY_TOO_LARGE])


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_body_error(body: bytes) -> None:
    try:
        parse(body)
    except BodyError as error:
        assert error.findings
