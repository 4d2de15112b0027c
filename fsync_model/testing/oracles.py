"""The oracles: what must hold whatever happened, as checks over plain data.

Each oracle has a stable id (`ORACLES`) and reports `Violation`s. They read what any test
can observe, so the Hypothesis machines, the generated suites, the capture checker and the
device runner share them:

* `WireOracle` is fed every datagram as it was sent (time, source, destination, bytes)
  and checks, as it goes: the strict RFC checker finds nothing; the profile's body rules
  hold (body type, namespace, forwardingType, true/false literals, ring count in range: a
  set request outside the range must be refused); every transaction gets one final answer
  (never two different ones); in-dialog CSeqs increase; the phone never accepts an older
  NOTIFY after a newer one of the same dialog; nothing goes out for a line whose sync is
  off. :meth:`WireOracle.unanswered` adds, once traffic is quiet, that every request that
  arrived was answered.
* :func:`check_problems`: no agent reported an error the faults of the run do not
  explain, and no transition the tables forbid (never excused).
* :func:`check_convergence`: once traffic is quiet, phone and server agree on every synced
  feature (as-feature-event); for one-way mechanisms the server shows the phone's latest
  change and the phone never takes a server change (3CX uaCSTA INFO); the phone is
  registered and subscribed again (unless it was told to unregister: then it is not
  registered), its indicator shows its state.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fsync_model.agents.events import Problem
from fsync_model.agents.state import FEATURES, Change, FeatureName, FeatureState
from fsync_model.bodies import feature_event as fe
from fsync_model.model import MachineKey, Step
from fsync_model.profile import Direction, Feature, Mechanism, PolicyMode, Profile
from fsync_model.sip.checker import check_message
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_uri
from fsync_model.sip.message import Request, Response, parse_message

ORACLES: dict[str, str] = {
    "ORACLE-RFC": "the strict checker (sip/checker.py) found something in a message",
    "ORACLE-PROFILE-BODY": "a body breaks the profile's rules (type, namespace, "
                           "forwardingType, true/false, ring count range, feature code)",
    "ORACLE-RANGE-ACCEPTED": "a set request outside the profile's ring-count range was "
                             "accepted instead of refused",
    "ORACLE-ONE-FINAL": "a transaction got two different final answers",
    "ORACLE-UNANSWERED": "a request arrived and was never answered",
    "ORACLE-CSEQ": "an in-dialog request did not increase the dialog's CSeq",
    "ORACLE-NOTIFY-ORDER": "the phone accepted a NOTIFY older than one it had accepted",
    "ORACLE-SYNC-OFF": "the phone sent a feature-sync request for a line whose sync is off",
    "ORACLE-ILLEGAL-TRANSITION": "an agent saw a transition its table does not allow",
    "ORACLE-AGENT-ERROR": "an agent reported an error that no injected fault explains",
    "ORACLE-CONVERGENCE": "once quiet, phone and server disagree on a synced feature",
    "ORACLE-UACSTA": "a uaCSTA INFO (informational) changed the phone's state",
    "ORACLE-POLICY": "a change the phone sent under the accept policy ended reverted: the "
                     "server confirmed a state other than the one asked for",
    "ORACLE-LIVENESS": "once quiet, the phone is not registered or not subscribed",
    "ORACLE-UNFINISHED": "once quiet, a change at the phone is still in the middle of its "
                         "flow (neither synced, reverted nor failed)",
    "ORACLE-INDICATOR": "once quiet, the phone's indicator differs from its state",
}


@dataclass(frozen=True)
class Violation:
    """One oracle violated: ``oracle`` is an id of `ORACLES`."""

    oracle: str
    message: str
    time: float | None = None
    evidence: str | None = None

    def __str__(self) -> str:
        when = f" at t={self.time:.3f}" if self.time is not None else ""
        shown = f" [{self.evidence}]" if self.evidence else ""
        return f"{self.oracle}{when}: {self.message}{shown}"


class OracleFailure(AssertionError):
    """Raised by a bench or a replay when oracles are violated; the message lists them."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        lines = "\n".join(f"  {v}" for v in self.violations)
        super().__init__(f"{len(self.violations)} oracle violation(s):\n{lines}")

    @property
    def oracles(self) -> list[str]:
        return sorted({v.oracle for v in self.violations})


# ============================================================================ the wire


@dataclass
class _Txn:
    sender: str
    method: str
    cseq: int
    dialog: tuple[str, str, str] | None
    time: float
    first_line: str
    data: set[bytes] = field(default_factory=set)
    finals: set[int] = field(default_factory=set)
    first_final: float | None = None
    #: a set request whose ring count is outside the profile's range: must be refused
    must_refuse: str | None = None


#: how long a server transaction absorbs copies of its request (64*T1, Timers J and H)
TRANSACTION_LIFETIME = 32.0


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0][:120].decode("utf-8", "replace")


class WireOracle:
    """Checks every datagram fed to it (see the module docstring). ``phone`` and ``server``
    are the text forms of the addresses each side sends from."""

    def __init__(self, profile: Profile, *, phone: Iterable[str], server: Iterable[str]) -> None:
        self.profile = profile
        self.phone = set(phone)
        self.server = set(server)
        self._found: list[Violation] = []
        self._seen: set[tuple[str, str, bytes]] = set()
        self._txns: dict[tuple[str, str, str], _Txn] = {}
        self._cseq: dict[tuple[str, str, str, str], int] = {}
        self._accepted_notify: dict[tuple[str, str, str], int] = {}
        self._line_active = True
        #: Call-IDs of the INVITEs the phone sent while its line synced: the INVITE with
        #: credentials that answers a challenge is the same call (RFC 3261 22.2, 8.1.3.5)
        self._calls_on: set[str] = set()

    def violations(self) -> list[Violation]:
        return list(self._found)

    def line(self, time: float, active: bool) -> None:
        """The phone's line sync became ``active`` (or inactive) at ``time``."""
        self._line_active = active

    def feed(self, time: float, src: str, dst: str, data: bytes) -> None:
        """One datagram as sent from ``src`` to ``dst``, in the order it was sent."""
        copy = (src, dst, data) in self._seen
        self._seen.add((src, dst, data))
        try:
            msg = parse_message(data)
        except SipParseError as error:
            if not copy:
                self._add("ORACLE-RFC", f"unparsable message: {error.reason}", time,
                          _first_line(data))
            return
        if not copy:
            for finding in check_message(msg):
                self._add("ORACLE-RFC", f"{finding.rule}: {finding.message}", time,
                          finding.evidence or _first_line(data))
        if isinstance(msg, Request):
            self._request(msg, time, src, data, copy)
        else:
            self._response(msg, time, src, dst)

    def unanswered(self, received: Iterable[bytes]) -> list[Violation]:
        """Requests the receiver got (``received``: the datagrams that reached an agent)
        and never answered: call once traffic is quiet."""
        got = set(received)
        out = []
        for txn in self._txns.values():
            if txn.method == "ACK" or txn.finals or not txn.data & got:
                continue
            out.append(Violation("ORACLE-UNANSWERED", f"{txn.method} sent by {txn.sender} "
                                 "arrived and got no final answer", txn.time, txn.first_line))
        return out

    # -- internals --------------------------------------------------------------------

    def _add(self, oracle: str, message: str, time: float | None,
             evidence: str | None = None) -> None:
        self._found.append(Violation(oracle, message, time, evidence))

    def _request(self, msg: Request, time: float, src: str, data: bytes, copy: bool) -> None:
        try:
            key = (src, msg.branch or "", msg.cseq.method)
            cseq = msg.cseq.seq
            to_tag, from_tag, call_id = msg.to_tag, msg.from_tag, msg.call_id
        except SipParseError:
            return  # the checker reported it
        txn = self._txns.get(key)
        new = txn is None
        if txn is None:
            dialog = (call_id, from_tag or "", to_tag) if to_tag else None
            txn = _Txn(src, msg.method, cseq, dialog, time, _first_line(data))
            self._txns[key] = txn
        txn.data.add(data)
        if not new or copy:
            return
        if txn.dialog is not None and msg.method not in ("ACK", "CANCEL"):
            dialog_key = (src, *txn.dialog)
            last = self._cseq.get(dialog_key)
            if last is not None and cseq <= last:
                self._add("ORACLE-CSEQ", f"{msg.method} CSeq {cseq} after {last} in the same "
                          "dialog", time, _first_line(data))
            self._cseq[dialog_key] = max(cseq, last or 0)
        if src in self.phone and self._line_active and msg.method == "INVITE":
            self._calls_on.add(call_id)
        elif src in self.phone and not self._line_active and not (
                msg.method == "INVITE" and call_id in self._calls_on):
            self._sync_off(msg, time, data)
        self._body_rules(msg, time, txn)

    def _sync_off(self, msg: Request, time: float, data: bytes) -> None:
        try:
            expires = msg.expires
        except SipParseError:
            expires = None
        feature_request = (msg.method == "SUBSCRIBE" and expires != 0) or msg.method == "INVITE"
        if feature_request:
            self._add("ORACLE-SYNC-OFF", f"{msg.method} sent while the line's feature sync is "
                      "off", time, _first_line(data))

    def _response(self, msg: Response, time: float, src: str, dst: str) -> None:
        try:
            key = (dst, msg.branch or "", msg.cseq.method)
        except SipParseError:
            return
        status = msg.status
        txn = self._txns.get(key)
        if txn is None or status < 200:
            return
        first = not txn.finals
        if first:
            txn.first_final = time
        elif status not in txn.finals and txn.first_final is not None and (
                time - txn.first_final > TRANSACTION_LIFETIME):
            # a copy that arrived after the transaction ended is a new request to its
            # receiver (RFC 3261 17.2.2, Timer J): answering it 500 (old CSeq) is right
            return
        txn.finals.add(status)
        if len(txn.finals) > 1:
            self._add("ORACLE-ONE-FINAL", f"{txn.method} answered {sorted(txn.finals)}", time,
                      txn.first_line)
        if first and txn.must_refuse is not None and 200 <= status < 300:
            self._add("ORACLE-RANGE-ACCEPTED", txn.must_refuse, time, txn.first_line)
        if (first and txn.method == "NOTIFY" and src in self.phone and 200 <= status < 300
                and txn.dialog is not None):
            high = self._accepted_notify.get(txn.dialog)
            if high is not None and txn.cseq < high:
                self._add("ORACLE-NOTIFY-ORDER", f"NOTIFY CSeq {txn.cseq} accepted after CSeq "
                          f"{high} of the same subscription", time, txn.first_line)
            self._accepted_notify[txn.dialog] = max(txn.cseq, high or 0)

    def _body_rules(self, msg: Request, time: float, txn: _Txn) -> None:
        profile = self.profile
        afe = profile.afe
        try:
            ctype = msg.headers.get("content-type") or ""
            event = msg.event.value if msg.event is not None else None
        except SipParseError:
            return
        if afe is not None and msg.body and event == afe.event.value:
            if msg.method == "NOTIFY":
                self._notify_body(msg, ctype, time)
            elif msg.method == "SUBSCRIBE":
                self._set_request_body(msg, ctype, time, txn)
        elif msg.method == "INFO" and profile.uacsta is not None and msg.body:
            wanted = profile.uacsta.content_type.value
            if ctype.split(";", 1)[0].strip().lower() != wanted.lower():
                self._add("ORACLE-PROFILE-BODY", f"INFO body is {ctype or 'untyped'}, the "
                          f"profile says {wanted}", time, txn.first_line)
        elif msg.method == "INVITE" and msg.to_tag is None and profile.codes is not None and (
                txn.sender in self.phone):
            try:
                dialed = parse_uri(msg.uri).unescaped_user or ""
            except SipParseError:
                dialed = ""
            if profile.codes.parse_code(dialed) is None:
                self._add("ORACLE-PROFILE-BODY", f"INVITE to {dialed!r}: not a feature code "
                          f"of {profile.id}", time, txn.first_line)

    def _notify_body(self, msg: Request, ctype: str, time: float) -> None:
        afe = self.profile.afe
        assert afe is not None
        low = (afe.ring_count.min.value, afe.ring_count.max.value)
        try:
            results = fe.parse_notify_body(ctype, msg.body,
                                           accepted_namespaces=afe.accepted_namespaces.value,
                                           ring_count_range=low, strict=True)
        except fe.BodyError as error:
            self._add("ORACLE-PROFILE-BODY", f"NOTIFY body: {error.reason}", time,
                      "; ".join(f.rule for f in error.findings) or _first_line(msg.serialize()))
            return
        media = ctype.split(";", 1)[0].strip().lower()
        if media != afe.content_type.value.lower() and len(results) == 1 and (
                not media.startswith("multipart/")):
            self._add("ORACLE-PROFILE-BODY", f"NOTIFY body is {media}, the profile says "
                      f"{afe.content_type.value}", time)

    def _set_request_body(self, msg: Request, ctype: str, time: float, txn: _Txn) -> None:
        afe = self.profile.afe
        assert afe is not None
        media = ctype.split(";", 1)[0].strip().lower()
        if media != afe.content_type.value.lower():
            self._add("ORACLE-PROFILE-BODY", f"set request body is {media or 'untyped'}, the "
                      f"profile says {afe.content_type.value}", time, txn.first_line)
            return
        try:
            result = fe.parse(msg.body, accepted_namespaces=afe.accepted_namespaces.value,
                              ring_count_range=(0, 10**6), strict=True)
        except fe.BodyError as error:
            self._add("ORACLE-PROFILE-BODY", f"set request body: {error.reason}", time,
                      "; ".join(f.rule for f in error.findings) or txn.first_line)
            return
        document = result.document
        rings = getattr(document, "ring_count", None)
        if isinstance(rings, int) and rings not in afe.ring_count:
            txn.must_refuse = (f"ringCount {rings} outside {afe.ring_count.min.value}-"
                               f"{afe.ring_count.max.value} was accepted")


# ============================================================================ known issues


@dataclass(frozen=True)
class KnownIssue:
    """A defect of the reference agents (or a gap in their tables) that the property runs
    found, recognised by the illegal transition it causes: ``side`` reports ``input`` in
    a state matching ``states`` of a machine matching ``machine`` (regular expressions).
    The bench reports it as known instead of failing, so the runs can keep every fault;
    ``tests/testing/test_known_issues.py`` reproduces each one (strict xfail) and fails
    once it is fixed, to have its entry removed."""

    id: str
    summary: str
    fix_in: str
    side: str
    machine: str
    states: str
    inputs: frozenset[str]

    def matches(self, side: str, problem: Problem) -> bool:
        if problem.rule != "MODEL-ILLEGAL-TRANSITION" or side != self.side:
            return False
        found = _ILLEGAL.match(problem.message)
        return bool(found and re.fullmatch(self.machine, found["machine"])
                    and re.fullmatch(self.states, found["state"])
                    and found["input"] in self.inputs)


_ILLEGAL = re.compile(r"(?P<machine>\S+): (?P<input>[A-Z0-9_]+) in state (?P<state>\w+)")

REFERENCE_AGENT_ISSUES: tuple[KnownIssue, ...] = (
)


#: known defects an oracle (not a transition) shows: id -> what, and where to fix it
KNOWN_STATE_ISSUES: dict[str, str] = {
}


def known_issue(side: str, problem: Problem,
                known: Iterable[KnownIssue] = REFERENCE_AGENT_ISSUES) -> KnownIssue | None:
    return next((issue for issue in known if issue.matches(side, problem)), None)


# ============================================================================ problems

_BODY_RULE_PREFIXES = ("AFE-", "XML-", "BODY-", "CSTA-")


def check_problems(problems: Iterable[tuple[str, Problem]],
                   faults: Mapping[str, float],
                   known: Iterable[KnownIssue] = ()) -> list[Violation]:
    """Errors the agents reported, minus those the run's faults explain.

    ``faults`` maps a fault kind to when it was first applied: ``mangle-phone`` /
    ``mangle-server`` explain body findings on that side after that time,
    ``range-server`` / ``range-phone`` a ring count out of range the user typed (the
    server refuses the set request; a code phone has no code for it); any other fault
    explains the other errors (timeouts, refusals) after it. An illegal transition is never
    explained away, unless it is one of the ``known`` issues of the reference agents."""
    first_fault = min(faults.values(), default=None)
    known = tuple(known)
    out = []
    for side, problem in problems:
        if problem.severity != "error" or known_issue(side, problem, known) is not None:
            continue
        if problem.rule == "MODEL-ILLEGAL-TRANSITION":
            out.append(Violation("ORACLE-ILLEGAL-TRANSITION", f"{side}: {problem.message}",
                                 problem.t))
            continue
        if problem.rule.startswith(_BODY_RULE_PREFIXES):
            mangled = faults.get(f"mangle-{side}")
            if mangled is not None and problem.t >= mangled:
                continue
            ranged = faults.get(f"range-{side}")
            if problem.rule == fe.AFE_RINGCOUNT_RANGE and ranged is not None and (
                    problem.t >= ranged):
                continue
        elif (problem.rule == "CODE-MISSING" and faults.get(f"range-{side}") is not None
              and problem.t >= faults[f"range-{side}"]) or (
                first_fault is not None and problem.t >= first_fault):
            continue
        out.append(Violation("ORACLE-AGENT-ERROR", f"{side} reported {problem.rule}: "
                             f"{problem.message}", problem.t, problem.evidence))
    return out


# ============================================================================ convergence


@dataclass(frozen=True)
class _Event:
    kind: str  # user | admin | policy | dropped (a user change the phone gave up)
    time: float
    change: Change | None = None
    active: bool = False
    policy: PolicyMode | None = None


class Ledger:
    """What the test did to the features, in order: the phone's user changes (and whether
    its line synced at the time), the server's admin changes, policy changes. One-way
    convergence is judged against it."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.events: list[_Event] = []

    def user(self, change: Change, *, active: bool, time: float) -> None:
        self.events.append(_Event("user", time, change, active))

    def admin(self, change: Change, *, time: float) -> None:
        self.events.append(_Event("admin", time, change))

    def policy(self, mode: PolicyMode, *, time: float) -> None:
        self.events.append(_Event("policy", time, policy=mode))

    def drop(self, change: Change) -> None:
        """The phone gave ``change`` up before sending it (no code for it, or the line's
        sync switched off while it waited): it changes nothing, on either side. The
        latest user change equal to it that is not dropped yet becomes a dropped one
        (changes wait in order, so those given up are the latest)."""
        for index in range(len(self.events) - 1, -1, -1):
            event = self.events[index]
            if event.kind == "user" and event.active and event.change == change:
                self.events[index] = dataclasses.replace(event, kind="dropped")
                return


class _Agents(Protocol):
    """What convergence reads from the phone (the reference phone fits)."""

    @property
    def state(self) -> FeatureState: ...
    @property
    def indicator(self) -> FeatureState: ...
    @property
    def sync_active(self) -> bool: ...
    registered: bool
    steps: list[Step]


class _Server(Protocol):
    def state(self, user: str) -> FeatureState: ...


def carries_rings(profile: Profile, feature: FeatureName) -> bool:
    """Whether the phone's mechanism for ``feature`` carries a ring count to the server."""
    if feature != "cfna":
        return True
    spec = profile.feature(Feature.CFNA)
    if spec is None or spec.phone is not Mechanism.FEATURE_CODE:
        return True
    return profile.codes is not None and profile.codes.has_timer(Feature.CFNA)


def agree(a: FeatureState, b: FeatureState, feature: FeatureName, rings: bool = True) -> bool:
    """Same value of ``feature``; the no-answer ring count only where it is carried."""
    if feature != "cfna" or rings:
        return a.agrees(b, feature)
    return a.cfna.on == b.cfna.on and (not a.cfna.on or a.cfna.target == b.cfna.target)


def _shown(state: FeatureState, feature: FeatureName) -> str:
    return str(state.to_json()[feature]).replace("'", "")


def effective(profile: Profile, state: FeatureState) -> FeatureState:
    """The state as the server reports it: a no-answer forward without a ring count is
    reported with the profile's minimum (agents/afe.py ``event_for``)."""
    if profile.afe is None or state.cfna.rings is not None or not state.cfna.on:
        return state
    return FeatureState(state.dnd, state.cfa, state.cfb, dataclasses.replace(
        state.cfna, rings=profile.afe.ring_count.min.value))


_FLOW_ENDS = frozenset({"Synced", "Failed", "Reverted"})
#: the steps at which a server has decided on a phone's change
_ANSWERS = frozenset({"SERVER_SENDS_2XX", "SERVER_SENDS_FINAL_EXECUTED", "SERVER_SENDS_ERROR"})


def _runs(steps: Sequence[Step], key: MachineKey) -> list[tuple[str, float, float, float]]:
    """Each run of ``key``, in order: (how it ended, when it started, when the server
    answered, when it ended). A run starts where a step leaves the initial state ``Idle``."""
    runs: list[tuple[str, float, float, float]] = []
    answered: float | None = None
    for step in steps:
        if step.machine != key:
            continue
        time = step.time if step.time is not None else 0.0
        if step.source == "Idle":
            runs.append((step.dest, time, time, time))
            answered = None
            continue
        if not runs:
            continue
        start = runs[-1][1]
        if answered is None and step.input.value in _ANSWERS:
            answered = time
        runs[-1] = (step.dest, start, answered if answered is not None else time, time)
    return runs


@dataclass(frozen=True)
class _Effect:
    """A change reaching one side: ``kind`` admin / synced / unsure (the phone does not
    know whether the server took it) / local; ``window`` when it could have happened."""

    kind: str
    time: float
    change: Change
    window: tuple[float, float]


def _fold(start: list[FeatureState], effects: Sequence[_Effect],
          modes: Sequence[set[PolicyMode]]) -> list[FeatureState]:
    """The values the server may show after ``effects`` (in this order), each taken
    under one of its possible policies (a reject policy takes nothing, silently)."""
    values = list(start)
    for effect, mode in zip(effects, modes, strict=True):
        applied = [v.applied(effect.change) for v in values]
        if effect.kind == "admin":
            values = applied
        elif effect.kind == "synced" and mode == {PolicyMode.REJECT}:
            continue
        elif effect.kind == "synced" and PolicyMode.REJECT not in mode:
            values = applied
        elif effect.kind in ("synced", "unsure"):
            values = values + applied
    return values


def check_convergence(profile: Profile, phone: _Agents, server: _Server, user: str,
                      ledger: Ledger, known: Iterable[str] = ()) -> list[Violation]:
    """Call once traffic is quiet (after a settle). See the module docstring; ``known``
    names `KNOWN_STATE_ISSUES` to tolerate."""
    out = []
    # a phone told to unregister (the line offline) must stay so, and syncs nothing
    online = getattr(phone, "online", True)
    if online and not phone.registered:
        out.append(Violation("ORACLE-LIVENESS", "the phone is not registered"))
    elif not online and phone.registered:
        out.append(Violation("ORACLE-LIVENESS", "the phone unregistered, yet it is registered"))
    for spec in profile.features:
        key = MachineKey.flow(profile.id, spec.feature, Direction.PHONE)
        runs = _runs(phone.steps, key) if spec.phone is not None else []
        if not runs or runs[-1][0] in _FLOW_ENDS | {"Idle"}:
            continue
        out.append(Violation("ORACLE-UNFINISHED", f"{key}: the phone's last change stopped "
                             f"in {runs[-1][0]}", runs[-1][3]))
    for shown in FEATURES:
        if not agree(phone.indicator, phone.state, shown):
            out.append(Violation("ORACLE-INDICATOR", f"{shown}: the phone shows "
                                 f"{_shown(phone.indicator, shown)}, its state is "
                                 f"{_shown(phone.state, shown)}"))
    server_state = server.state(user)
    if profile.afe is not None:
        server_state = effective(profile, server_state)
        if not phone.sync_active or not online:
            return out
        subscription = [s for s in phone.steps
                        if s.machine == MachineKey.parse(f"{profile.id}/subscription")]
        if not subscription or subscription[-1].dest != "Active":
            where = subscription[-1].dest if subscription else "never subscribed"
            out.append(Violation("ORACLE-LIVENESS", f"the subscription is not active ({where})"))
        for spec in profile.features:
            name: FeatureName = spec.feature.value
            if not agree(phone.state, server_state, name):
                out.append(Violation("ORACLE-CONVERGENCE", f"{name}: phone "
                                     f"{_shown(phone.state, name)} != server "
                                     f"{_shown(server_state, name)}"))
        return out
    return out + _one_way(profile, phone, server_state, ledger)


def check_ignored_changes(profile: Profile, phone: _Agents, ledger: Ledger,
                          known: Iterable[str] = ()) -> list[Violation]:
    """as-feature-event under the accept policy: a set request must not end Reverted (the
    server confirmed another state), unless an administrator changed the same feature
    while it was in flight or just before (its NOTIFY still on the way), or the policy
    changed meanwhile. Holds at any time. (``known``: `KNOWN_STATE_ISSUES` to tolerate;
    none concerns this oracle at present.)"""
    if profile.afe is None:
        return []
    out = []
    for spec in profile.features:
        if spec.phone is None:
            continue
        name: FeatureName = spec.feature.value
        key = MachineKey.flow(profile.id, spec.feature, Direction.PHONE)
        for end, start, _, finish in _runs(phone.steps, key):
            if end != "Reverted" or _modes_during(profile, ledger, (start, finish)) != {
                    PolicyMode.ACCEPT}:
                continue
            # an administrator's change of the same feature whose NOTIFY may still have been
            # on its way (retransmitted for up to 64*T1) races the set request: legitimate
            if any(e.kind == "admin" and e.change is not None and e.change.feature == name
                   and start - TRANSACTION_LIFETIME <= e.time <= finish
                   for e in ledger.events):
                continue
            out.append(Violation("ORACLE-POLICY", f"{name}: the phone's change sent at "
                                 f"t={start:.3f} was reverted although the server's policy "
                                 "is accept (the server confirmed another state)", finish))
    return out


def _one_way(profile: Profile, phone: _Agents, server_state: FeatureState,
             ledger: Ledger) -> list[Violation]:
    """Feature codes (and 3CX uaCSTA): the server shows the latest change that reached
    it (the phone's, in the order the PBX took them, or the administrator's); the phone
    shows its own changes only."""
    out = []
    for name in FEATURES:
        spec = profile.feature(Feature(name))
        synced = spec is not None and spec.phone is not None
        key = MachineKey.flow(profile.id, Feature(name), Direction.PHONE)
        runs = iter(_runs(phone.steps, key)) if synced else iter(())
        effects: list[_Effect] = []
        phone_ok = [FeatureState()]
        admin_seen = False
        for event in ledger.events:
            change = event.change
            if change is None or change.feature != name or event.kind == "dropped":
                continue
            if event.kind == "admin":
                admin_seen = True
                effects.append(_Effect("admin", event.time, change, (event.time, event.time)))
            elif not (event.active and synced):
                phone_ok = [ok.applied(change) for ok in phone_ok]
            else:
                run = next(runs, None)
                if run is None or run[0] not in _FLOW_ENDS:
                    # not finished: the phone may show it or not, the server too
                    phone_ok = phone_ok + [ok.applied(change) for ok in phone_ok]
                    effects.append(_Effect("unsure", event.time, change, (event.time, 1e18)))
                    continue
                end, start, answered, finish = run
                if end == "Synced":
                    phone_ok = [ok.applied(change) for ok in phone_ok]
                effects.append(_Effect("synced" if end == "Synced" else "unsure", answered,
                                       change, (start, finish)))
        effects.sort(key=lambda e: e.time)
        orders = [effects]
        for i in range(len(effects) - 1):
            a, b = effects[i], effects[i + 1]
            overlap = a.window[0] <= b.window[1] and b.window[0] <= a.window[1]
            if overlap and len(orders) < 16 and "admin" in (a.kind, b.kind):
                orders += [[*o[:i], o[i + 1], o[i], *o[i + 2:]] for o in orders]
        server_ok: list[FeatureState] = []
        for order in orders:
            modes = [_modes_during(profile, ledger, e.window) for e in order]
            server_ok += _fold([FeatureState()], order, modes)
        rings = carries_rings(profile, name)
        if not any(agree(phone.state, ok, name) for ok in phone_ok):
            oracle = "ORACLE-UACSTA" if admin_seen and any(
                agree(phone.state, ok, name) for ok in server_ok) else "ORACLE-CONVERGENCE"
            out.append(Violation(oracle, f"{name}: the phone shows "
                                 f"{_shown(phone.state, name)}, expected "
                                 f"{' or '.join(_shown(v, name) for v in phone_ok)}"))
        if not any(agree(server_state, ok, name, rings) for ok in server_ok):
            unique = {_shown(v, name): None for v in server_ok}
            out.append(Violation("ORACLE-CONVERGENCE", f"{name}: the server shows "
                                 f"{_shown(server_state, name)}, expected "
                                 f"{' or '.join(unique)}"))
    return out


def _modes_during(profile: Profile, ledger: Ledger, window: tuple[float, float]
                  ) -> set[PolicyMode]:
    """The server policies in force at some moment of ``window``."""
    mode = profile.policy.mode.value
    modes: set[PolicyMode] = set()
    for event in ledger.events:
        if event.kind != "policy" or event.policy is None:
            continue
        if event.time <= window[0]:
            mode = event.policy
        elif event.time <= window[1]:
            modes.add(event.policy)
    return modes | {mode}
