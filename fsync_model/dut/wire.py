"""Oracles on the device's messages, as fsync's transport saw them.

* every message from the device goes through the strict checker
  (:func:`fsync_model.sip.checker.check_bytes`), and every response of the device through
  :func:`~fsync_model.sip.checker.check_pair` with the request of fsync it answers;
* one final answer per transaction: a device that answers one request (or its
  retransmissions) with two different final responses breaks RFC 3261 17.2 (rule
  ``RFC3261-ONE-FINAL-ANSWER``).

Retransmissions (the same bytes again) are checked once. Errors are violations, warnings
and infos are remarks that never fail a test.

These oracles work on captured records, so they are the DUT runner's own; the Hypothesis
machines of ``fsync_model/testing`` run on the in-memory agents and may share them.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from fsync_model.dut.verdicts import Violation
from fsync_model.findings import Finding
from fsync_model.sip.checker import check_bytes, check_pair
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.transport.address import Address
from fsync_model.transport.tap import TapRecord

ONE_FINAL_ANSWER: Final = "RFC3261-ONE-FINAL-ANSWER"

#: what each kind of checker rule wants, for the report's "expected" line
_EXPECTED_PREFIX: Final = {
    "RFC3261": "RFC 3261 message syntax and rules",
    "RFC6665": "RFC 6665 (SIP events)",
    "RFC2046": "RFC 2046 multipart bodies",
    "SIP-PARSE": "a SIP message that parses",
}


def text_of(data: bytes) -> str:
    """A message as text for a report (CRLF made LF)."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def _expected(finding: Finding) -> str:
    for prefix, text in _EXPECTED_PREFIX.items():
        if finding.rule.startswith(prefix):
            return text
    return "the strict checker's rules"


def _violation(finding: Finding, step: int | None, data: bytes, what: str) -> Violation:
    return Violation(finding.rule, f"{what}: {finding.message}", "checker", finding.severity,
                     step, finding.evidence, _expected(finding), text_of(data))


def _key(message: Request | Response) -> tuple[str, str, str] | None:
    """(branch, CSeq method, Call-ID) of a message: what ties a response to its request."""
    try:
        branch = message.top_via.branch or ""
        return branch, message.cseq.method, message.call_id
    except (SipParseError, AttributeError, IndexError):
        return None


def _describe(message: Request | Response) -> str:
    if isinstance(message, Request):
        return f"{message.method} from the device"
    try:
        return f"{message.status} to {message.cseq.method} from the device"
    except SipParseError:
        return f"{message.status} from the device"


def check_device_messages(records: Iterable[TapRecord], ours: Sequence[Address], *,
                          step: int | None, transport: str,
                          requests: dict[tuple[str, str, str], Request] | None = None,
                          finals: dict[tuple[str, str, str], set[tuple[int, str]]] | None = None,
                          seen: set[bytes] | None = None) -> list[Violation]:
    """Violations and remarks about the messages the device sent among ``records``.

    ``requests`` (fsync's requests by branch, method and Call-ID) and ``finals`` (final
    answers already seen per transaction) carry over between calls, so a transaction that
    spans two steps is still checked whole; ``seen`` skips retransmissions."""
    requests = {} if requests is None else requests
    finals = {} if finals is None else finals
    seen = set() if seen is None else seen
    mine = set(ours)
    out: list[Violation] = []
    for record in records:
        data = bytes(record.data)
        if record.src in mine:
            try:
                message = parse_message(data)
            except SipParseError:
                continue
            key = _key(message)
            if isinstance(message, Request) and key is not None:
                requests[key] = message
            continue
        if data in seen:
            continue
        seen.add(data)
        try:
            parsed = parse_message(data)
        except SipParseError:
            out.extend(_violation(f, step, data, "message from the device")
                       for f in check_bytes(data, transport=transport))
            continue
        what = _describe(parsed)
        out.extend(_violation(f, step, data, what) for f in check_bytes(data, transport=transport))
        if not isinstance(parsed, Response):
            continue
        key = _key(parsed)
        request = requests.get(key) if key is not None else None
        if request is not None:
            out.extend(_violation(f, step, data, what) for f in check_pair(request, parsed))
        if key is None or parsed.status < 200:
            continue
        answers = finals.setdefault(key, set())
        try:
            to_tag = parsed.to_tag or ""
        except SipParseError:
            to_tag = "?"
        answer = (parsed.status, to_tag)
        if answers and answer not in answers:
            earlier = ", ".join(f"{s} (To tag {t or 'none'})" for s, t in sorted(answers))
            out.append(Violation(
                ONE_FINAL_ANSWER,
                f"the device answered one {key[1]} transaction twice differently: "
                f"{parsed.status} (To tag {answer[1] or 'none'}) after {earlier}",
                "transaction", "error", step, parsed.start_line,
                "one final response per transaction; retransmissions of the request get the "
                "same response again (RFC 3261 17.2.2)", text_of(data)))
        answers.add(answer)
    return out
