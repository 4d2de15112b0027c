"""The ``as-feature-event`` bodies (BroadSoft BroadWorks, Metaswitch): typed, built, checked.

Four ECMA-323 documents travel in ``application/x-as-feature-event+xml``: the phone's set
requests (``SetDoNotDisturb``, ``SetForwarding``, in a SUBSCRIBE) and the server's state
events (``DoNotDisturbEvent``, ``ForwardingEvent``, in a NOTIFY). The wire facts and the
known defects are in ``/work/shared/protocol/feature-sync-protocol.md`` section 1.

:func:`build` writes exactly the documents shown there, with knobs that inject the known
defects for negative tests. :func:`parse` reads a body through a hardened XML parser
(defusedxml: no DTD, no entities, no external references; a size limit) and returns the
typed document with a list of :class:`~fsync_model.findings.Finding`; when the body
cannot be used it raises one :class:`BodyError` carrying the status to answer with and the
findings that explain why. ``strict=True`` additionally rejects every finding that a strict
server rejects (a missing namespace, ``True`` for ``true``, an empty device, ...); with
``strict=False`` the parser behaves like a forgiving phone (first of several concatenated
documents, ``True`` read as true).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, NoReturn
from xml.etree.ElementTree import Element, ParseError, XMLParser
from xml.parsers.expat import errors as expat_errors
from xml.sax.saxutils import escape

from defusedxml.common import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from fsync_model.findings import Finding, Severity
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.multipart import BodyPart, build_multipart, parse_multipart
from fsync_model.sip.params import parse_header_value

EVENT_PACKAGE = "as-feature-event"
CONTENT_TYPE = "application/x-as-feature-event+xml"

#: ECMA-323 edition 3, the namespace of every as-feature-event document.
ECMA_323_ED3 = "http://www.ecma-international.org/standards/ecma-323/csta/ed3"
#: The spelling without the hyphen that OpenSIPS emits; accepted, reported at info level.
ECMA_323_ED3_NO_HYPHEN = "http://www.ecmainternational.org/standards/ecma-323/csta/ed3"
ACCEPTED_NAMESPACES: tuple[str, ...] = (ECMA_323_ED3, ECMA_323_ED3_NO_HYPHEN)

DEFAULT_ENCODING = "ISO-8859-1"
MAX_BODY_SIZE = 64 * 1024
#: Servers differ (1-10 in one, 1-100 in another): the vendor profile passes its own range.
#: The default is the wider one, so that an unconfigured check does not invent defects.
DEFAULT_RING_COUNT_RANGE = (1, 100)

Feature = Literal["dnd", "cfa", "cfb", "cfna"]

# Rule ids. XML-* and BODY-* come from the hardened loader (shared with uaCSTA bodies),
# AFE-* from the as-feature-event checks. RULES describes each for reports.
BODY_TOO_LARGE = "BODY-TOO-LARGE"
BODY_MULTIPART = "BODY-MULTIPART"
BODY_CONTENT_TYPE = "BODY-CONTENT-TYPE"
XML_MALFORMED = "XML-MALFORMED"
XML_ENCODING = "XML-ENCODING"
XML_DTD_REFUSED = "XML-DTD-REFUSED"
AFE_CONCATENATED = "AFE-CONCATENATED"
AFE_NS_MISSING = "AFE-NS-MISSING"
AFE_NS_WRONG = "AFE-NS-WRONG"
AFE_NS_VARIANT = "AFE-NS-VARIANT"
AFE_ROOT_UNKNOWN = "AFE-ROOT-UNKNOWN"
AFE_ELEMENT_MISSING = "AFE-ELEMENT-MISSING"
AFE_ELEMENT_DUPLICATE = "AFE-ELEMENT-DUPLICATE"
AFE_ELEMENT_UNKNOWN = "AFE-ELEMENT-UNKNOWN"
AFE_BOOL_LITERAL = "AFE-BOOL-LITERAL"
AFE_BOOL_INVALID = "AFE-BOOL-INVALID"
AFE_FWDTYPE_UNKNOWN = "AFE-FWDTYPE-UNKNOWN"
AFE_DEVICE_EMPTY = "AFE-DEVICE-EMPTY"
AFE_RINGCOUNT_INVALID = "AFE-RINGCOUNT-INVALID"
AFE_RINGCOUNT_RANGE = "AFE-RINGCOUNT-RANGE"
AFE_RINGCOUNT_IGNORED = "AFE-RINGCOUNT-IGNORED"
AFE_RINGCOUNT_MISSING = "AFE-RINGCOUNT-MISSING"
AFE_FORWARDTO_MISSING = "AFE-FORWARDTO-MISSING"
AFE_FORWARDTO_EMPTY = "AFE-FORWARDTO-EMPTY"
AFE_FORWARDDN_EMPTY = "AFE-FORWARDDN-EMPTY"

RULES: dict[str, str] = {
    BODY_TOO_LARGE: "body larger than the configured limit (413)",
    BODY_MULTIPART: "multipart body that cannot be split into parts",
    BODY_CONTENT_TYPE: "body type is neither the package type nor multipart",
    XML_MALFORMED: "not well-formed XML",
    XML_ENCODING: "declared encoding unknown or unsupported (multi-byte)",
    XML_DTD_REFUSED: "DTD, entity declaration or external reference: refused, never expanded",
    AFE_CONCATENATED: "several XML documents in one non-multipart body; phones use the first",
    AFE_NS_MISSING: "root element without the ECMA-323 namespace (Polycom reportedly crashes)",
    AFE_NS_WRONG: "root element in a namespace that is not accepted",
    AFE_NS_VARIANT: "the no-hyphen namespace spelling some servers emit (accepted)",
    AFE_ROOT_UNKNOWN: "root element is not one of the four as-feature-event documents",
    AFE_ELEMENT_MISSING: "a required element is missing",
    AFE_ELEMENT_DUPLICATE: "an element appears more than once",
    AFE_ELEMENT_UNKNOWN: "an element the package does not define (ignored)",
    AFE_BOOL_LITERAL: "boolean spelled True/1/... instead of exactly true/false",
    AFE_BOOL_INVALID: "boolean that is not true/false in any spelling",
    AFE_FWDTYPE_UNKNOWN: "forwardingType not forwardImmediate/forwardBusy/forwardNoAns",
    AFE_DEVICE_EMPTY: "device missing or empty (strict servers require it)",
    AFE_RINGCOUNT_INVALID: "ringCount is not a number",
    AFE_RINGCOUNT_RANGE: "ringCount outside the configured range",
    AFE_RINGCOUNT_IGNORED: "ringCount where it has no meaning (not an active no-answer forward)",
    AFE_RINGCOUNT_MISSING: "no-answer ForwardingEvent without ringCount: the phone goes stale",
    AFE_FORWARDTO_MISSING: "forwardTo omitted from an inactive forward (harmless)",
    AFE_FORWARDTO_EMPTY: "active forward without a forwardTo number",
    AFE_FORWARDDN_EMPTY: "SetForwarding activating a forward without forwardDN",
}


class BodyError(SipParseError):
    """A body that cannot be used. ``status`` is the response to answer with (400, 413,
    415...), ``reason`` a phrase fit for it, ``findings`` every finding up to the rejection
    (the last one caused it). A :class:`SipParseError`, so message-level code that turns
    parse errors into responses handles it unchanged."""

    def __init__(self, status: int, reason: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(reason, status)
        self.findings: tuple[Finding, ...] = tuple(findings)

    @property
    def rules(self) -> list[str]:
        return [finding.rule for finding in self.findings]


# --------------------------------------------------------------------------- documents


class ForwardingType(StrEnum):
    """The three forwardingType values; anything else is invalid (protocol file 1.1)."""

    #: unconditional ("always") forward: our feature ``cfa``.
    IMMEDIATE = "forwardImmediate"
    #: forward on busy: ``cfb``.
    BUSY = "forwardBusy"
    #: forward on no answer: ``cfna``; the only type where ringCount means something.
    NO_ANSWER = "forwardNoAns"

    @property
    def feature(self) -> Feature:
        return _FEATURE_OF[self]

    @classmethod
    def from_feature(cls, feature: str) -> ForwardingType:
        """``cfa`` / ``cfb`` / ``cfna`` to the wire value (``ValueError`` otherwise)."""
        for member, name in _FEATURE_OF.items():
            if name == feature:
                return member
        raise ValueError(f"{feature!r} is not a forward feature (cfa, cfb, cfna)")


_FEATURE_OF: dict[ForwardingType, Feature] = {
    ForwardingType.IMMEDIATE: "cfa",
    ForwardingType.BUSY: "cfb",
    ForwardingType.NO_ANSWER: "cfna",
}


@dataclass(frozen=True)
class DoNotDisturbEvent:
    """Server -> phone (NOTIFY): the DND state."""

    ROOT: ClassVar[str] = "DoNotDisturbEvent"
    device: str
    on: bool

    @property
    def feature(self) -> Feature:
        return "dnd"


@dataclass(frozen=True)
class ForwardingEvent:
    """Server -> phone (NOTIFY): one forward's state. ``forward_to`` is ``None`` when the
    body had no number (omitted or empty); ``ring_count`` only for ``forwardNoAns``."""

    ROOT: ClassVar[str] = "ForwardingEvent"
    device: str
    forwarding_type: ForwardingType
    status: bool
    forward_to: str | None = None
    ring_count: int | None = None

    @property
    def feature(self) -> Feature:
        return self.forwarding_type.feature


@dataclass(frozen=True)
class SetDoNotDisturb:
    """Phone -> server (SUBSCRIBE body): switch DND on or off."""

    ROOT: ClassVar[str] = "SetDoNotDisturb"
    device: str
    on: bool

    @property
    def feature(self) -> Feature:
        return "dnd"

    def to_event(self) -> DoNotDisturbEvent:
        """The confirming event a server sends once it applied this request."""
        return DoNotDisturbEvent(self.device, self.on)


@dataclass(frozen=True)
class SetForwarding:
    """Phone -> server (SUBSCRIBE body): switch a forward on or off, with its number."""

    ROOT: ClassVar[str] = "SetForwarding"
    device: str
    activate: bool
    forwarding_type: ForwardingType
    forward_dn: str = ""
    ring_count: int | None = None

    @property
    def feature(self) -> Feature:
        return self.forwarding_type.feature

    def to_event(self) -> ForwardingEvent:
        """``activateForward -> forwardStatus``, ``forwardDN -> forwardTo`` (an empty number
        becomes ``None``), ``forwardingType`` kept, ringCount kept for ``forwardNoAns`` only."""
        return ForwardingEvent(
            device=self.device,
            forwarding_type=self.forwarding_type,
            status=self.activate,
            forward_to=self.forward_dn or None,
            ring_count=self.ring_count
            if self.forwarding_type is ForwardingType.NO_ANSWER
            else None,
        )


SetRequest = SetDoNotDisturb | SetForwarding
FeatureEvent = DoNotDisturbEvent | ForwardingEvent
FeatureDocument = SetDoNotDisturb | SetForwarding | DoNotDisturbEvent | ForwardingEvent

#: FreeSWITCH's part order in a full-state multipart NOTIFY.
FULL_STATE_ORDER: tuple[Feature, ...] = ("cfa", "cfb", "cfna", "dnd")

_ELEMENTS: dict[str, tuple[str, ...]] = {
    SetDoNotDisturb.ROOT: ("device", "doNotDisturbOn"),
    DoNotDisturbEvent.ROOT: ("device", "doNotDisturbOn"),
    SetForwarding.ROOT: ("device", "activateForward", "forwardingType", "forwardDN", "ringCount"),
    ForwardingEvent.ROOT: (
        "device", "forwardingType", "forwardStatus", "forwardTo", "ringCount",
    ),
}

# --------------------------------------------------------------------------- building


def _element_texts(
    doc: FeatureDocument, true_literal: str, false_literal: str
) -> list[tuple[str, str]]:
    def flag(value: bool) -> str:
        return true_literal if value else false_literal

    def count(value: int | None) -> str:
        return "" if value is None else str(value)

    if isinstance(doc, SetDoNotDisturb | DoNotDisturbEvent):
        return [("device", doc.device), ("doNotDisturbOn", flag(doc.on))]
    if isinstance(doc, SetForwarding):
        return [
            ("device", doc.device),
            ("activateForward", flag(doc.activate)),
            ("forwardingType", doc.forwarding_type.value),
            ("forwardDN", doc.forward_dn),
            ("ringCount", count(doc.ring_count)),
        ]
    return [
        ("device", doc.device),
        ("forwardingType", doc.forwarding_type.value),
        ("forwardStatus", flag(doc.status)),
        ("forwardTo", doc.forward_to or ""),
        ("ringCount", count(doc.ring_count)),
    ]


def build(
    doc: FeatureDocument,
    *,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
    true_literal: str = "true",
    false_literal: str = "false",
    omit_forward_to_when_off: bool = False,
    omit_ring_count: bool = False,
    override: Mapping[str, str | None] | None = None,
    xml_declaration: bool = True,
    indent: str = "  ",
) -> bytes:
    """The document as bytes, exactly as in the protocol file by default.

    Defect knobs, for negative tests: ``namespace=None`` omits ``xmlns`` (or pass a wrong
    one); ``true_literal="True"`` / ``"1"``; ``omit_forward_to_when_off`` drops forwardTo
    from an inactive ForwardingEvent; ``omit_ring_count`` drops ringCount; ``override`` maps
    an element name to the text to write instead (an unknown forwardingType, a non-numeric
    ringCount) or to ``None`` to drop it, and names not in the document are appended (an
    unknown element). An empty device is just ``device=""``. Characters the encoding cannot
    carry are written as character references. For several documents in one body (the
    concatenation defect) join the outputs of several calls.
    """
    elements = _element_texts(doc, true_literal, false_literal)
    if omit_ring_count:
        elements = [(name, text) for name, text in elements if name != "ringCount"]
    if omit_forward_to_when_off and isinstance(doc, ForwardingEvent) and not doc.status:
        elements = [(name, text) for name, text in elements if name != "forwardTo"]
    if override:
        present = {name for name, _ in elements}
        replaced: list[tuple[str, str]] = []
        for name, text in elements:
            new_text = override.get(name, text)
            if new_text is not None:
                replaced.append((name, new_text))
        replaced += [(name, text) for name, text in override.items()
                     if name not in present and text is not None]
        elements = replaced
    xmlns = "" if namespace is None else f' xmlns="{escape(namespace, {chr(34): "&quot;"})}"'
    lines = [f'<?xml version="1.0" encoding="{encoding}"?>'] if xml_declaration else []
    lines.append(f"<{doc.ROOT}{xmlns}>")
    lines.extend(f"{indent}<{name}>{escape(text)}</{name}>" for name, text in elements)
    lines.append(f"</{doc.ROOT}>")
    return "\n".join(lines).encode(encoding, "xmlcharrefreplace")


def build_full_state(
    events: Iterable[FeatureEvent], boundary: str, **build_options: Any
) -> tuple[str, bytes]:
    """``(Content-Type value, body)``: a ``multipart/mixed`` full-state NOTIFY body, one
    ``application/x-as-feature-event+xml`` part per event, in FreeSWITCH order
    (:data:`FULL_STATE_ORDER`). ``build_options`` go to :func:`build` for every part."""
    ordered = sorted(events, key=lambda event: FULL_STATE_ORDER.index(event.feature))
    parts = [BodyPart.make(CONTENT_TYPE, build(event, **build_options)) for event in ordered]
    return build_multipart(parts, boundary)


def build_concatenated(
    documents: Iterable[FeatureDocument], *, separator: bytes = b"\n", **build_options: Any
) -> bytes:
    """Several documents in one body: the known full-state DEFECT (protocol file 1.2),
    which phones read only up to the end of the first document. For negative tests."""
    return separator.join(build(document, **build_options) for document in documents)


# --------------------------------------------------------------------------- hardened XML


@dataclass(frozen=True)
class XmlDocument:
    """What :func:`load_xml` read: the first document's root, and where a further document
    starts when several are concatenated (``None`` when there is only one)."""

    root: Element
    declared_encoding: str | None
    trailing_offset: int | None = None
    trailing: bytes = b""


_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)
_JUNK_CODES = frozenset(
    expat_errors.codes[message]
    for message in (
        expat_errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT,
        expat_errors.XML_ERROR_MISPLACED_XML_PI,
    )
)


#: Encodings in which the bytes ``<!`` are the characters ``<!`` (and expat knows them).
_PLAIN_ENCODINGS = frozenset({"utf-8", "utf8", "iso-8859-1", "latin-1", "latin1", "us-ascii",
                              "ascii"})


def _plain(body: bytes, declared: str | None) -> bool:
    """Whether ``body`` cannot hold a markup declaration, so the C parser may read it:
    no ``<!`` at all (no DOCTYPE, so no entity declaration, external entity or DTD; no
    comment or CDATA either), no NUL byte (UTF-16 or UTF-32, where ``<!`` is other bytes)
    and an encoding declared, if any, that is ASCII-compatible. The result is the tree
    the hardened parser builds (both are expat with the same TreeBuilder); anything the
    C parser refuses goes to the hardened parser, for its exact error."""
    return (b"<!" not in body and b"\x00" not in body
            and (declared is None or declared.lower() in _PLAIN_ENCODINGS))


def _evidence(data: bytes, start: int = 0, length: int = 80) -> str:
    return data[start : start + length].decode("latin-1")


def _refuse(
    status: int, rule: str, message: str, evidence: str | None, prefix: str,
    findings: Sequence[Finding] = (),
) -> NoReturn:
    finding = Finding(rule, "error", message, status, evidence)
    raise BodyError(status, f"{prefix}: {message}", [*findings, finding])


def _parse_one(body: bytes, xml_error_status: int, prefix: str) -> tuple[Element | None, int]:
    """Parse ``body`` with DTDs, entities and external references forbidden. Returns the
    root, or ``(None, offset)`` when a further document or other content follows the root
    element at ``offset``; raises :class:`BodyError` for everything else."""
    parser = DefusedXMLParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(body)
        root: Element = parser.close()
        return root, -1
    except DefusedXmlException as error:
        _refuse(xml_error_status, XML_DTD_REFUSED,
                f"DTDs and entity declarations are refused ({type(error).__name__})",
                _evidence(body), prefix)
    except ParseError as error:
        code = getattr(error, "code", None)
        offset = int(parser.parser.ErrorByteIndex)
        if code in _JUNK_CODES and 0 < offset < len(body):
            return None, offset
        _refuse(xml_error_status, XML_MALFORMED, f"XML is not well-formed ({error})",
                _evidence(body, max(offset, 0)), prefix)
    except (LookupError, ValueError) as error:
        # An unknown encoding name (LookupError) or a multi-byte one expat cannot take.
        _refuse(xml_error_status, XML_ENCODING, f"unusable XML encoding ({error})",
                _evidence(body), prefix)


def load_xml(
    body: bytes,
    *,
    max_size: int = MAX_BODY_SIZE,
    xml_error_status: int = 400,
    reason_prefix: str = "Bad XML body",
) -> XmlDocument:
    """Read one XML document safely; the uaCSTA parser uses this too.

    Bodies over ``max_size`` bytes are refused with 413 before any parsing. A DTD of any
    kind (so every entity-expansion bomb and every external entity) is refused when expat
    reports the DOCTYPE, before anything is expanded or fetched. Not well-formed XML and
    unusable encodings are refused with ``xml_error_status`` (400 by default; one server
    answers 415). When the first document is followed by another one, the first is returned
    with the offset of the rest: deciding whether that is a defect is the caller's job.
    """
    if len(body) > max_size:
        _refuse(413, BODY_TOO_LARGE, f"body is {len(body)} bytes, the limit is {max_size}",
                None, reason_prefix)
    match = _DECLARED_ENCODING.match(body)
    declared = match.group(1).decode("ascii") if match else None
    if _plain(body, declared):
        try:
            plain = XMLParser()
            plain.feed(body)
            return XmlDocument(plain.close(), declared)
        except (ParseError, LookupError, ValueError):
            pass  # the hardened parser below says what is wrong, as it always did
    root, offset = _parse_one(body, xml_error_status, reason_prefix)
    if root is not None:
        return XmlDocument(root, declared)
    trailing = body[offset:]
    if not trailing.lstrip().startswith(b"<"):
        _refuse(xml_error_status, XML_MALFORMED,
                f"content after the root element at byte {offset}", _evidence(body, offset),
                reason_prefix)
    first, _ = _parse_one(body[:offset], xml_error_status, reason_prefix)
    if first is None:  # pragma: no cover - expat accepted these bytes a moment ago
        _refuse(xml_error_status, XML_MALFORMED, "XML is not well-formed", None, reason_prefix)
    return XmlDocument(first, declared, offset, trailing)


def split_tag(tag: str) -> tuple[str | None, str]:
    """``"{ns}local"`` -> ``(ns, local)``; ``(None, tag)`` when there is no namespace."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def element_text(element: Element) -> str:
    """All text inside ``element`` (nested elements included), stripped.

    Iterative on purpose: ``Element.itertext`` recurses, and a 64 KiB body can nest
    twenty thousand elements deep.
    """
    out: list[str] = []
    stack: list[Element | str] = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        if item.text:
            out.append(item.text)
        for child in reversed(list(item)):
            if child.tail:
                stack.append(child.tail)
            stack.append(child)
    return "".join(out).strip()


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParseResult:
    """A usable document and what was noticed on the way (in input order)."""

    document: FeatureDocument
    findings: tuple[Finding, ...] = ()
    namespace: str | None = None
    declared_encoding: str | None = None

    @property
    def feature(self) -> Feature:
        return self.document.feature

    @property
    def rules(self) -> list[str]:
        return [finding.rule for finding in self.findings]


_REASON = "Bad as-feature-event body"


@dataclass
class _Checker:
    """Collects findings for one document; ``fatal`` raises at once."""

    strict: bool
    findings: list[Finding] = field(default_factory=list)

    def note(
        self, rule: str, severity: Severity, message: str, *, status: int | None = None,
        evidence: str | None = None,
    ) -> None:
        self.findings.append(Finding(rule, severity, message, status, evidence))

    def reject_in_strict(self, rule: str, message: str, evidence: str | None = None) -> None:
        """An error that a strict server answers with 400 and a forgiving one lets pass."""
        self.note(rule, "error", message, status=400, evidence=evidence)

    def fatal(self, rule: str, message: str, evidence: str | None = None) -> NoReturn:
        _refuse(400, rule, message, evidence, _REASON, self.findings)

    def finish(self) -> tuple[Finding, ...]:
        if self.strict:
            for finding in self.findings:
                if finding.severity == "error" and finding.status is not None:
                    raise BodyError(finding.status, f"{_REASON}: {finding.message}",
                                    self.findings)
        return tuple(self.findings)


class _Fields:
    """The root's child elements by local name, with duplicate and unknown checks."""

    def __init__(self, root: Element, root_name: str, checker: _Checker) -> None:
        self.checker = checker
        self.values: dict[str, str] = {}
        known = _ELEMENTS[root_name]
        for child in root:
            _, local = split_tag(child.tag) if isinstance(child.tag, str) else (None, "")
            if local not in known:
                checker.note(AFE_ELEMENT_UNKNOWN, "info",
                             f"element <{local}> is not part of {root_name}; ignored",
                             evidence=local)
                continue
            if local in self.values:
                checker.reject_in_strict(AFE_ELEMENT_DUPLICATE,
                                         f"<{local}> appears more than once; the first counts",
                                         evidence=element_text(child))
                continue
            self.values[local] = element_text(child)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if value is None:
            self.checker.fatal(AFE_ELEMENT_MISSING, f"required element <{name}> is missing")
        return value

    def flag(self, name: str) -> bool:
        text = self.required(name)
        if text in ("true", "false"):
            return text == "true"
        lowered = text.lower()
        if lowered in ("true", "1", "false", "0"):
            self.checker.reject_in_strict(
                AFE_BOOL_LITERAL, f"<{name}> is {text!r}; only true and false are valid",
                evidence=text,
            )
            return lowered in ("true", "1")
        self.checker.fatal(AFE_BOOL_INVALID, f"<{name}> is {text!r}, not a boolean", text)

    def device(self) -> str:
        device = self.values.get("device")
        if not device:
            what = "missing" if device is None else "empty"
            self.checker.reject_in_strict(AFE_DEVICE_EMPTY, f"<device> is {what}",
                                          evidence=device)
        return device or ""

    def forwarding_type(self) -> ForwardingType:
        text = self.required("forwardingType")
        try:
            return ForwardingType(text)
        except ValueError:
            self.checker.fatal(AFE_FWDTYPE_UNKNOWN,
                               f"forwardingType {text!r} is not one of "
                               f"{', '.join(member.value for member in ForwardingType)}", text)

    def ring_count(self, applies: bool, limits: tuple[int, int]) -> int | None:
        text = self.values.get("ringCount")
        if not text:
            return None
        if not applies:
            self.checker.note(AFE_RINGCOUNT_IGNORED, "info",
                              "ringCount only counts for an active no-answer forward; ignored",
                              evidence=text)
            return None
        if not re.fullmatch(r"[0-9]+", text):
            self.checker.fatal(AFE_RINGCOUNT_INVALID, f"ringCount {text!r} is not a number", text)
        low, high = limits
        # Compare lengths first: int() refuses digit strings longer than 4300 characters.
        digits = text.lstrip("0") or "0"
        if len(digits) > len(str(high)) or not low <= int(digits) <= high:
            self.checker.fatal(AFE_RINGCOUNT_RANGE,
                               f"ringCount {text} is outside {low}-{high}", text)
        return int(digits)


def _check_namespace(
    namespace: str | None, accepted: Sequence[str], checker: _Checker
) -> None:
    if namespace is None:
        checker.reject_in_strict(AFE_NS_MISSING,
                                 f"root element has no namespace (expected {ECMA_323_ED3})")
    elif namespace not in accepted:
        checker.reject_in_strict(AFE_NS_WRONG, f"namespace {namespace!r} is not accepted",
                                 evidence=namespace)
    elif namespace != ECMA_323_ED3:
        checker.note(AFE_NS_VARIANT, "info", "namespace spelled differently (accepted)",
                     evidence=namespace)


def _document(
    root_name: str, fields: _Fields, checker: _Checker, ring_count_range: tuple[int, int]
) -> FeatureDocument:
    device = fields.device()
    if root_name in (SetDoNotDisturb.ROOT, DoNotDisturbEvent.ROOT):
        on = fields.flag("doNotDisturbOn")
        return SetDoNotDisturb(device, on) if root_name == SetDoNotDisturb.ROOT else (
            DoNotDisturbEvent(device, on)
        )
    forwarding_type = fields.forwarding_type()
    no_answer = forwarding_type is ForwardingType.NO_ANSWER
    if root_name == SetForwarding.ROOT:
        activate = fields.flag("activateForward")
        forward_dn = fields.get("forwardDN") or ""
        if activate and not forward_dn:
            checker.note(AFE_FORWARDDN_EMPTY, "warning",
                         "activating a forward without forwardDN (server keeps its number?)")
        ring_count = fields.ring_count(no_answer and activate, ring_count_range)
        return SetForwarding(device, activate, forwarding_type, forward_dn, ring_count)
    status = fields.flag("forwardStatus")
    raw_forward_to = fields.get("forwardTo")
    if status and not raw_forward_to:
        checker.reject_in_strict(AFE_FORWARDTO_EMPTY, "active forward without forwardTo")
    elif raw_forward_to is None:
        checker.note(AFE_FORWARDTO_MISSING, "warning", "forwardTo omitted (forward is off)")
    # A ForwardingEvent reports the stored no-answer ring count even when the forward is
    # off, so the value is checked whenever the type is forwardNoAns.
    ring_count = fields.ring_count(no_answer, ring_count_range)
    if no_answer and ring_count is None:
        checker.note(AFE_RINGCOUNT_MISSING, "error" if status else "warning",
                     "no-answer ForwardingEvent without ringCount: a changed ring count "
                     "never reaches the phone")
    return ForwardingEvent(device, forwarding_type, status, raw_forward_to or None, ring_count)


def parse(
    body: bytes,
    *,
    accepted_namespaces: Sequence[str] = ACCEPTED_NAMESPACES,
    ring_count_range: tuple[int, int] = DEFAULT_RING_COUNT_RANGE,
    strict: bool = True,
    max_size: int = MAX_BODY_SIZE,
    xml_error_status: int = 400,
) -> ParseResult:
    """Parse one ``application/x-as-feature-event+xml`` body.

    Always raises :class:`BodyError` (and nothing else) when the document cannot be used:
    too large (413), unsafe or not well-formed XML (``xml_error_status``), an unknown root,
    forwardingType or boolean, a required element missing, ringCount not a number or out of
    ``ring_count_range``. With ``strict`` it also rejects (400) on every error finding that
    a strict server refuses: concatenated documents, missing or unaccepted namespace,
    ``True``/``1`` booleans, empty device, duplicate elements, active forward without
    forwardTo. Otherwise those come back as findings next to the document.
    """
    xml = load_xml(body, max_size=max_size, xml_error_status=xml_error_status,
                   reason_prefix=_REASON)
    checker = _Checker(strict)
    if xml.trailing_offset is not None:
        checker.reject_in_strict(
            AFE_CONCATENATED,
            f"a second XML document starts at byte {xml.trailing_offset}; "
            "phones ignore everything after the first",
            evidence=_evidence(xml.trailing.lstrip()),
        )
    tag = xml.root.tag
    namespace, root_name = split_tag(tag)
    _check_namespace(namespace, accepted_namespaces, checker)
    if root_name not in _ELEMENTS:
        checker.fatal(AFE_ROOT_UNKNOWN, f"unknown root element <{root_name}>", root_name)
    fields = _Fields(xml.root, root_name, checker)
    document = _document(root_name, fields, checker, ring_count_range)
    return ParseResult(document, checker.finish(), namespace, xml.declared_encoding)


def parse_notify_body(
    content_type: str,
    body: bytes,
    *,
    accepted_namespaces: Sequence[str] = ACCEPTED_NAMESPACES,
    ring_count_range: tuple[int, int] = DEFAULT_RING_COUNT_RANGE,
    strict: bool = True,
    max_size: int = MAX_BODY_SIZE,
    xml_error_status: int = 400,
) -> tuple[ParseResult, ...]:
    """Every document of a NOTIFY body, whichever full-state encoding the server chose: one
    package body, or ``multipart/mixed`` with one package part per feature (parts of other
    types are skipped). Any other Content-Type is refused with 415."""
    def one(data: bytes) -> ParseResult:
        return parse(data, accepted_namespaces=accepted_namespaces,
                     ring_count_range=ring_count_range, strict=strict, max_size=max_size,
                     xml_error_status=xml_error_status)

    try:
        media_type = parse_header_value(content_type, "Content-Type").value_lower
    except SipParseError as error:
        _refuse(400, BODY_CONTENT_TYPE, error.reason, content_type, _REASON)
    if media_type == CONTENT_TYPE:
        return (one(body),)
    if not media_type.startswith("multipart/"):
        _refuse(415, BODY_CONTENT_TYPE, f"unsupported body type {media_type}", media_type,
                _REASON)
    if len(body) > max_size:
        _refuse(413, BODY_TOO_LARGE, f"body is {len(body)} bytes, the limit is {max_size}",
                None, _REASON)
    try:
        parts = parse_multipart(content_type, body)
    except SipParseError as error:
        _refuse(400, BODY_MULTIPART, error.reason, error.line, _REASON)
    results = tuple(one(part.body) for part in parts if part.media_type == CONTENT_TYPE)
    if not results:
        _refuse(415, BODY_CONTENT_TYPE, f"no {CONTENT_TYPE} part in the multipart body", None,
                _REASON)
    return results
