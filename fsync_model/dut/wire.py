"""Oracles on the device's messages, as fsync's transport saw them.

* every message from the device goes through the strict checker
  (:func:`fsync_model.sip.checker.check_bytes`) with its severities kept (a warning is a
  remark, never a failure: a false alarm costs an engineer a day), and every response of the
  device through :func:`~fsync_model.sip.checker.check_pair` with the request of fsync it
  answers;
* the shared :class:`~fsync_model.testing.oracles.WireOracle` (the one the Hypothesis
  machines and generated suites use) is fed both directions and contributes what only a
  whole conversation shows: one final answer per transaction (``ORACLE-ONE-FINAL``),
  increasing in-dialog CSeqs (``ORACLE-CSEQ``), no older NOTIFY accepted after a newer one
  (``ORACLE-NOTIFY-ORDER``), the profile's body rules (``ORACLE-PROFILE-BODY``; the session
  drops it where fsync's agent already named the body rule), an out-of-range ring count accepted
  (``ORACLE-RANGE-ACCEPTED``) and requests of fsync the device never answered
  (``ORACLE-UNANSWERED``). Only what the *device* did is kept: its ``ORACLE-RFC`` is left
  out (the checker pass above reports the same findings with their rule ids and
  severities).

Retransmissions (the same bytes again) are checked once.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from fsync_model.dut.verdicts import Violation
from fsync_model.findings import Finding
from fsync_model.profile import Profile
from fsync_model.sip.checker import check_bytes, check_pair
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.testing import oracles
from fsync_model.transport.address import Address
from fsync_model.transport.tap import TapRecord

#: what the shared oracle's ids mean for a device, as the report's "expected" line
_EXPECTED_ORACLE: Final = {
    "ORACLE-ONE-FINAL": "one final response per transaction; retransmissions of the request "
                        "get the same response again (RFC 3261 17.2.2)",
    "ORACLE-CSEQ": "each new request in a dialog with a higher CSeq (RFC 3261 12.2.1.1)",
    "ORACLE-NOTIFY-ORDER": "no NOTIFY accepted after a newer one of the same subscription",
    "ORACLE-PROFILE-BODY": "bodies that follow the profile's rules",
    "ORACLE-RANGE-ACCEPTED": "a set request with a ring count outside the profile's range "
                             "refused",
    "ORACLE-UNANSWERED": "a final answer to every request fsync sends (RFC 3261 17.2)",
}

#: what the strict checker's rules are about, for the report's "expected" line
_EXPECTED_PREFIX: Final = {
    "RFC3261": "RFC 3261 message syntax and rules",
    "RFC6665": "RFC 6665 (SIP events)",
    "RFC2046": "RFC 2046 multipart bodies",
    "SIP-PARSE": "a SIP message that parses",
}


def text_of(data: bytes) -> str:
    """A message as text for a report (CRLF made LF)."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0][:120].decode("utf-8", "replace")


def _expected(finding: Finding) -> str:
    for prefix, text in _EXPECTED_PREFIX.items():
        if finding.rule.startswith(prefix):
            return text
    return "the strict checker's rules"


def _violation(finding: Finding, step: int | None, data: bytes, what: str) -> Violation:
    return Violation(finding.rule, f"{what}: {finding.message}", "checker", finding.severity,
                     step, finding.evidence, _expected(finding), text_of(data))


def _key(message: Request | Response) -> tuple[str, str, str] | None:
    """(branch, CSeq method, Call-ID): what ties a response to its request."""
    try:
        return message.top_via.branch or "", message.cseq.method, message.call_id
    except (SipParseError, AttributeError, IndexError):
        return None


def _describe(message: Request | Response) -> str:
    if isinstance(message, Request):
        return f"{message.method} from the device"
    try:
        return f"{message.status} to {message.cseq.method} from the device"
    except SipParseError:
        return f"{message.status} from the device"


class DeviceWire:
    """The oracles on the device's messages for one session (both roles).

    ``role`` is the device's; ``ours`` gives fsync's own addresses (known once bound)."""

    def __init__(self, profile: Profile, role: str, *, transport: str) -> None:
        self.role = role
        self.transport = transport
        self.shared = oracles.WireOracle(profile, phone=(), server=())
        self._taken = 0
        self._requests: dict[tuple[str, str, str], Request] = {}
        self._seen: set[bytes] = set()
        self._unanswered: set[tuple[str, float | None]] = set()
        self._sent: list[TapRecord] = []
        #: each record by the time it was fed (the shared oracle's findings carry it)
        self._by_time: dict[float, TapRecord] = {}
        #: (first line, sender) of every request, for whose transaction a finding is about
        self._requests_seen: set[tuple[str, Address]] = set()

    def check(self, records: Iterable[TapRecord], ours: Sequence[Address], *,
              step: int | None) -> list[Violation]:
        """Violations and remarks about the device's messages among ``records`` (call once
        per record, in order; what a transaction spanning two calls does is still seen)."""
        mine = set(ours)
        out: list[Violation] = []
        for record in records:
            data = bytes(record.data)
            device_side, our_side = (self.shared.phone, self.shared.server) if (
                self.role == "phone") else (self.shared.server, self.shared.phone)
            (our_side if record.src in mine else device_side).add(str(record.src))
            self._by_time.setdefault(record.time, record)
            if not data.startswith(b"SIP/2.0 "):
                self._requests_seen.add((_first_line(data), record.src))
            self.shared.feed(record.time, str(record.src), str(record.dst), data)
            if record.src in mine:
                self._sent.append(record)
                self._remember(data)
            else:
                out += self._from_device(data, step)
        return out + self._shared(mine, step)

    def _remember(self, data: bytes) -> None:
        try:
            message = parse_message(data)
        except SipParseError:
            return
        key = _key(message)
        if isinstance(message, Request) and key is not None:
            self._requests[key] = message

    def _from_device(self, data: bytes, step: int | None) -> list[Violation]:
        if data in self._seen:
            return []
        self._seen.add(data)
        try:
            parsed = parse_message(data)
        except SipParseError:
            return [_violation(f, step, data, "message from the device")
                    for f in check_bytes(data, transport=self.transport)]
        what = _describe(parsed)
        out = [_violation(f, step, data, what)
               for f in check_bytes(data, transport=self.transport)]
        if isinstance(parsed, Response):
            key = _key(parsed)
            request = self._requests.get(key) if key is not None else None
            if request is not None:
                out += [_violation(f, step, data, what) for f in check_pair(request, parsed)]
        return out

    def _at(self, time: float | None) -> TapRecord | None:
        return self._by_time.get(time) if time is not None else None

    def _device_did(self, found: oracles.Violation, mine: set[Address]) -> bytes | None:
        """The message a shared finding is about when the device is at fault (empty when
        there is none to show), None when it is fsync's own doing."""
        record = self._at(found.time)
        if found.oracle in ("ORACLE-ONE-FINAL", "ORACLE-RANGE-ACCEPTED",
                            "ORACLE-UNANSWERED"):
            # about the answer to a request: the device's fault when the request was ours
            line = found.evidence or ""
            ours = any(first == line and src in mine for first, src in self._requests_seen)
            if not ours:
                return None
        elif found.oracle == "ORACLE-NOTIFY-ORDER":
            if self.role != "phone":
                return None
        elif record is None or record.src in mine:
            return None
        return bytes(record.data) if record is not None else b""

    def _shared(self, mine: set[Address], step: int | None) -> list[Violation]:
        found = self.shared.violations()
        new, self._taken = found[self._taken:], len(found)
        received = [bytes(r.data) for r in self._sent]
        for item in self.shared.unanswered(received):
            key = (item.evidence or item.message, item.time)
            if key not in self._unanswered:
                self._unanswered.add(key)
                new.append(item)
        out = []
        for item in new:
            if item.oracle in ("ORACLE-RFC", "ORACLE-SYNC-OFF"):
                continue
            data = self._device_did(item, mine)
            if data is None:
                continue
            out.append(Violation(item.oracle, item.message, "transaction"
                                 if item.oracle != "ORACLE-PROFILE-BODY" else "body",
                                 "error", step, item.evidence,
                                 _EXPECTED_ORACLE.get(item.oracle),
                                 text_of(data) if data else None))
        return out
