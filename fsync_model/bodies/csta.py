"""uaCSTA bodies (``application/csta+xml``, ECMA-323 over SIP INFO) as 3CX uses them.

**Unconfirmed.** The guide and the protocol file (section 4) only say that 3CX sets up a
uaCSTA session (INVITE after registration, then ``MonitorStart``) and later sends INFO
requests with ``Content-Type: application/csta+xml`` and ``Content-Disposition:
signal;handling=required`` carrying ECMA-323 documents, for example a DND change; the phone
answers the INFO and does **not** change its state. No 3CX body has been seen. So the
builders below write plausible ECMA-323 edition 3 documents whose root element names (and
the device element's shape) are parameters with defaults, and :func:`parse` is lenient: it
reports the root name, the device and ``doNotDisturbOn`` when it finds them, anywhere in the
document, and turns oddities into warnings rather than rejections. Someone holding a real
capture should correct the defaults (or the vendor profile that passes them).

The XML is read by the same hardened loader as the as-feature-event bodies (no DTD, no
entities, size limit), and the only exception on bad input is
:class:`~fsync_model.bodies.feature_event.BodyError`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from fsync_model.bodies.feature_event import (
    ECMA_323_ED3,
    ECMA_323_ED3_NO_HYPHEN,
    MAX_BODY_SIZE,
    element_text,
    load_xml,
    split_tag,
)
from fsync_model.findings import Finding

CONTENT_TYPE = "application/csta+xml"
CONTENT_DISPOSITION = "signal;handling=required"
DEFAULT_ENCODING = "UTF-8"

# Root element names: ECMA-323 service and event names, the assumed 3CX defaults.
MONITOR_START = "MonitorStart"
MONITOR_START_RESPONSE = "MonitorStartResponse"
DO_NOT_DISTURB_EVENT = "DoNotDisturbEvent"
SET_DO_NOT_DISTURB = "SetDoNotDisturb"
SET_DO_NOT_DISTURB_RESPONSE = "SetDoNotDisturbResponse"
KNOWN_ROOTS = (
    MONITOR_START,
    MONITOR_START_RESPONSE,
    DO_NOT_DISTURB_EVENT,
    SET_DO_NOT_DISTURB,
    SET_DO_NOT_DISTURB_RESPONSE,
)

CSTA_CONCATENATED = "CSTA-CONCATENATED"
CSTA_NS_MISSING = "CSTA-NS-MISSING"
CSTA_NS_UNKNOWN = "CSTA-NS-UNKNOWN"
CSTA_NS_EDITION = "CSTA-NS-EDITION"
CSTA_ROOT_UNKNOWN = "CSTA-ROOT-UNKNOWN"
CSTA_BOOL_INVALID = "CSTA-BOOL-INVALID"

_ECMA_323 = re.compile(r"http://www\.ecma-?international\.org/standards/ecma-323/csta/ed[0-9]+")
#: Elements that name the device, in the order they are looked for.
_DEVICE_ELEMENTS = ("deviceObject", "device", "deviceID", "subjectDevice")

Child = tuple[str, "str | Sequence[Child]"]
"""An element to write: name and either its text or its own children."""


def _write(
    root: str, children: Sequence[Child], namespace: str | None, encoding: str, indent: str
) -> bytes:
    lines = [f'<?xml version="1.0" encoding="{encoding}"?>']
    xmlns = "" if namespace is None else f' xmlns="{escape(namespace, {chr(34): "&quot;"})}"'
    if not children:
        lines.append(f"<{root}{xmlns}/>")
        return "\n".join(lines).encode(encoding, "xmlcharrefreplace")
    lines.append(f"<{root}{xmlns}>")

    def emit(items: Sequence[Child], depth: int) -> None:
        pad = indent * depth
        for name, content in items:
            if isinstance(content, str):
                lines.append(f"{pad}<{name}>{escape(content)}</{name}>")
            else:
                lines.append(f"{pad}<{name}>")
                emit(content, depth + 1)
                lines.append(f"{pad}</{name}>")

    emit(children, 1)
    lines.append(f"</{root}>")
    return "\n".join(lines).encode(encoding, "xmlcharrefreplace")


def _device(device: str, nested: bool) -> Child:
    return ("device", [("deviceIdentifier", device)]) if nested else ("device", device)


def build_monitor_start(
    device: str,
    *,
    root: str = MONITOR_START,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
    indent: str = "  ",
) -> bytes:
    """``<MonitorStart><monitorObject><deviceObject>device</deviceObject>...`` (ECMA-323)."""
    children: list[Child] = [("monitorObject", [("deviceObject", device)])]
    return _write(root, children, namespace, encoding, indent)


def build_monitor_start_response(
    cross_ref_id: str,
    *,
    root: str = MONITOR_START_RESPONSE,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
    indent: str = "  ",
) -> bytes:
    """``<MonitorStartResponse><monitorCrossRefID>...`` (the phone's answer)."""
    return _write(root, [("monitorCrossRefID", cross_ref_id)], namespace, encoding, indent)


def build_do_not_disturb_event(
    device: str,
    on: bool,
    cross_ref_id: str | None = "1",
    *,
    root: str = DO_NOT_DISTURB_EVENT,
    nested_device: bool = False,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
    indent: str = "  ",
) -> bytes:
    """The server's DND notification. ``nested_device`` writes the device as
    ``<device><deviceIdentifier>...`` instead of plain text (which of the two 3CX sends is
    unknown)."""
    children: list[Child] = []
    if cross_ref_id is not None:
        children.append(("monitorCrossRefID", cross_ref_id))
    children += [_device(device, nested_device), ("doNotDisturbOn", "true" if on else "false")]
    return _write(root, children, namespace, encoding, indent)


def build_set_do_not_disturb(
    device: str,
    on: bool,
    *,
    root: str = SET_DO_NOT_DISTURB,
    nested_device: bool = False,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
    indent: str = "  ",
) -> bytes:
    """An ECMA-323 ``SetDoNotDisturb`` request."""
    children: list[Child] = [
        _device(device, nested_device),
        ("doNotDisturbOn", "true" if on else "false"),
    ]
    return _write(root, children, namespace, encoding, indent)


def build_set_do_not_disturb_response(
    *,
    root: str = SET_DO_NOT_DISTURB_RESPONSE,
    namespace: str | None = ECMA_323_ED3,
    encoding: str = DEFAULT_ENCODING,
) -> bytes:
    """The empty positive response ``<SetDoNotDisturbResponse/>``."""
    return _write(root, [], namespace, encoding, "")


@dataclass(frozen=True)
class CstaDocument:
    """What a lenient reading found: the root's local name and namespace, the device (from
    ``deviceObject``, ``device`` or ``deviceID``, nested identifiers included), the DND flag
    and the monitor cross-reference id, each ``None`` when absent."""

    root: str
    namespace: str | None
    device: str | None = None
    do_not_disturb_on: bool | None = None
    monitor_cross_ref_id: str | None = None


@dataclass(frozen=True)
class CstaParseResult:
    document: CstaDocument
    findings: tuple[Finding, ...] = ()

    @property
    def rules(self) -> list[str]:
        return [finding.rule for finding in self.findings]


def _elements(root: Element) -> Iterator[Element]:
    """Every element in document order, without recursion (deep nesting is input)."""
    stack = [root]
    while stack:
        element = stack.pop()
        yield element
        stack.extend(reversed(list(element)))


def _first(root: Element, names: Sequence[str]) -> Element | None:
    found: dict[str, Element] = {}
    for element in _elements(root):
        if element is root or not isinstance(element.tag, str):
            continue
        _, local = split_tag(element.tag)
        if local in names and local not in found:
            found[local] = element
    return next((found[name] for name in names if name in found), None)


def parse(
    body: bytes, *, max_size: int = MAX_BODY_SIZE, xml_error_status: int = 400
) -> CstaParseResult:
    """Read an ``application/csta+xml`` body leniently.

    Raises :class:`~fsync_model.bodies.feature_event.BodyError` only when the XML itself is
    unusable (too large, unsafe, not well-formed). A missing or unknown namespace, an
    unknown root, several concatenated documents or a DND flag that is not a boolean are
    findings (warnings), never rejections: the phone answers the INFO either way.
    """
    xml = load_xml(body, max_size=max_size, xml_error_status=xml_error_status,
                   reason_prefix="Bad CSTA body")
    findings: list[Finding] = []
    if xml.trailing_offset is not None:
        findings.append(Finding(CSTA_CONCATENATED, "warning",
                                f"a second XML document starts at byte {xml.trailing_offset}",
                                None, xml.trailing.lstrip()[:80].decode("latin-1")))
    namespace, root_name = split_tag(xml.root.tag)
    if namespace is None:
        findings.append(Finding(CSTA_NS_MISSING, "warning", "root element has no namespace"))
    elif namespace not in (ECMA_323_ED3, ECMA_323_ED3_NO_HYPHEN):
        if _ECMA_323.fullmatch(namespace):
            findings.append(Finding(CSTA_NS_EDITION, "info",
                                    "another ECMA-323 edition's namespace", None, namespace))
        else:
            findings.append(Finding(CSTA_NS_UNKNOWN, "warning", "not an ECMA-323 namespace",
                                    None, namespace))
    if root_name not in KNOWN_ROOTS:
        findings.append(Finding(CSTA_ROOT_UNKNOWN, "info",
                                f"root <{root_name}> is not one this tool knows", None,
                                root_name))
    device_element = _first(xml.root, _DEVICE_ELEMENTS)
    dnd_element = _first(xml.root, ("doNotDisturbOn",))
    cross_ref = _first(xml.root, ("monitorCrossRefID",))
    dnd: bool | None = None
    if dnd_element is not None:
        text = element_text(dnd_element)
        if text.lower() in ("true", "1", "false", "0"):
            dnd = text.lower() in ("true", "1")
        else:
            findings.append(Finding(CSTA_BOOL_INVALID, "warning",
                                    f"doNotDisturbOn is {text!r}, not a boolean", None, text))
    document = CstaDocument(
        root=root_name,
        namespace=namespace,
        device=element_text(device_element) if device_element is not None else None,
        do_not_disturb_on=dnd,
        monitor_cross_ref_id=element_text(cross_ref) if cross_ref is not None else None,
    )
    return CstaParseResult(document, tuple(findings))
