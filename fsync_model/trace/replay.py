"""Replay a capture through the model of one profile and collect every deviation.

The capture is read passively: nothing is sent, nobody is waited for. Each SIP message is

1. checked by the strict RFC checker (alone, and with its request when it is a response);
2. if it belongs to feature sync (REGISTER, the profile's event package, a code INVITE, the
   uaCSTA session), mapped to an `Input` by the same rules the reference agents apply, and
   stepped on a *neutral* `FlowTracker` (``role=None``) of the machine it belongs to: the
   registration of the line, the subscription dialog, the feature flow it starts or
   continues. The peers' local events (a keypad press, a portal change) cannot be seen on the
   wire; they are inferred at the message that reveals them (a set request is preceded by
   ``PHONE_USER_CHANGE``, a change NOTIFY by ``SERVER_ADMIN_CHANGE``);
3. its body checked with the profile's body rules (namespaces, literals, ring-count range,
   Content-Type).

The mapping (see the agents in :mod:`fsync_model.agents`):

* REGISTER: ``PHONE_SENDS_REGISTER`` (``Expires: 0``: ``PHONE_SENDS_UNREGISTER``); 2xx,
  401/407 (``SERVER_SENDS_CHALLENGE``), other finals (``SERVER_SENDS_ERROR``);
* SUBSCRIBE of the profile's package: no body = ``PHONE_SENDS_SUBSCRIBE`` (a new dialog is a
  new subscription, in a dialog a refresh), a body = ``PHONE_SENDS_SUBSCRIBE_SET`` (a new run of
  the feature's phone-initiated flow), ``Expires: 0`` = ``PHONE_SENDS_UNSUBSCRIBE``; answers
  2xx, 481, 489, other errors;
* NOTIFY: ``Subscription-State: terminated`` = ``SERVER_SENDS_NOTIFY_TERMINATED``; otherwise
  routed as the model's rule says (model/tables.py, as the reference phone does): the
  subscription machine takes it while it allows ``SERVER_SENDS_NOTIFY`` (the full state),
  except a single document of a feature whose set request is in flight, which confirms it
  unless the answers show the server took the SUBSCRIBE first; else each feature it reports
  either confirms the pending set request of that feature (``SERVER_SENDS_NOTIFY`` when it
  reports the requested value, ``..._OLD_STATE`` when not) or starts a server-initiated
  flow, and a multipart full state nobody waits for confirms nothing; the phone's answer is
  ``PHONE_SENDS_200`` / ``_ERROR``;
* INVITE to a code (``profile.codes.parse_code``) = ``PHONE_SENDS_INVITE``; 1xx, 2xx, 401/407,
  finals the profile counts as executed, other errors; ACK of the 2xx, BYE either way;
* uaCSTA: the server's INVITE, ACK, MonitorStart INFO, and a DND INFO (informational).

Transaction-layer traffic is not stepped (as in the agents): retransmissions (same branch and
CSeq, or the same bytes), 100 Trying to non-INVITE requests, the ACK of a non-2xx final, a
request retried with credentials after a challenge the table does not model.

At the end of the capture: transactions still unanswered long after Timer F, flows that did
not finish, and the convergence of each line: the phone's last state as its set requests,
code calls and the NOTIFYs it accepted show it, against the server's as its NOTIFYs (for
one-way profiles: the codes it executed) show it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fsync_model.bodies import csta
from fsync_model.bodies import feature_event as fe
from fsync_model.findings import Finding, Severity
from fsync_model.model import (
    FAILED,
    FlowKind,
    FlowTracker,
    IllegalTransition,
    Input,
    MachineKey,
    Transition,
    TransitionTable,
    machines_for,
    subscribe_answered_first,
)
from fsync_model.profile import Action, Direction, Feature, FullStateEncoding, Mechanism, Profile
from fsync_model.sip.checker import check_bytes, check_pair
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.fields import parse_uri
from fsync_model.sip.message import Message, Request, Response, parse_message
from fsync_model.trace import rules as R
from fsync_model.trace.records import CapturedMessage
from fsync_model.transport.address import Address

FeatureName = Literal["dnd", "cfa", "cfb", "cfna"]

#: 64*T1 with T1 = 500 ms: no final answer after this is a timeout (RFC 3261 17.1.1.2, 17.1.2.2)
TRANSACTION_TIMEOUT = 32.0
#: the states from which a subscription restarts with a new dialog
_RESTART_STATES = ("Unsubscribed", "RetryWait", "Terminated")
_STREAM = ("tcp", "tls")


# =========================================================================================
# values: what a line's feature is, as a message shows it


@dataclass(frozen=True)
class FeatureValue:
    """One feature's value as a message shows it (a set request, a NOTIFY, a code)."""

    on: bool
    target: str | None = None
    rings: int | None = None

    def describe(self, feature: str) -> str:
        if not self.on:
            return f"{feature} off"
        if feature == "dnd":
            return "dnd on"
        rings = f" {self.rings} rings" if feature == "cfna" and self.rings is not None else ""
        return f"{feature} on {self.target or '(no number)'}{rings}"


def agrees(feature: str, a: FeatureValue, b: FeatureValue) -> bool:
    """Same on/off; when on, the same number and (when both tell it) the same ring count."""
    if a.on != b.on:
        return False
    if not a.on or feature == "dnd":
        return True
    if a.target != b.target:
        return False
    return feature != "cfna" or a.rings is None or b.rings is None or a.rings == b.rings


def _value_of(doc: fe.FeatureDocument) -> tuple[FeatureName, FeatureValue]:
    if isinstance(doc, fe.SetDoNotDisturb | fe.DoNotDisturbEvent):
        return "dnd", FeatureValue(doc.on)
    feature: FeatureName = doc.forwarding_type.feature
    if isinstance(doc, fe.SetForwarding):
        rings = doc.ring_count if feature == "cfna" and doc.activate else None
        return feature, FeatureValue(doc.activate, doc.forward_dn or None, rings)
    rings = doc.ring_count if feature == "cfna" else None
    return feature, FeatureValue(doc.status, doc.forward_to, rings)


# =========================================================================================
# the results


@dataclass(frozen=True)
class FlowOutcome:
    """One run of one machine in the capture: where it started and how it ended."""

    machine: str
    user: str
    state: str
    goal: str
    done: bool
    first_packet: int
    last_packet: int

    @property
    def reached_goal(self) -> bool:
        return self.state == self.goal


@dataclass
class ReplayResult:
    """Everything the replay found: deviations in packet order, and what it saw."""

    deviations: list[R.Deviation]
    users: list[str]
    flows: list[FlowOutcome]
    #: SIP messages replayed (retransmissions and other users' messages excluded)
    messages: int = 0
    #: messages skipped as retransmissions (same branch and CSeq, or the same bytes)
    retransmissions: int = 0
    #: messages replayed that are not feature sync (other packages, ordinary calls...)
    unrelated: int = 0
    #: messages left out by the --user filter
    filtered: int = 0


# =========================================================================================
# what the replay keeps per line, subscription, flow and transaction


@dataclass(eq=False)
class _Run:
    """A tracker with the context the report needs."""

    tracker: FlowTracker
    user: str
    first_packet: int
    last_packet: int = 0
    last_time: float = 0.0
    last_line: str = ""
    #: what the last step was, in words ("the 200 OK to the set request")
    last_what: str = ""
    #: stopped being stepped after an illegal transition (reported once, no cascade)
    broken: bool = False

    @property
    def key(self) -> MachineKey:
        return self.tracker.key


@dataclass(eq=False)
class _Subscription(_Run):
    call_id: str = ""
    #: features reported by the current full state, in order
    series: list[str] = field(default_factory=list)
    in_series: bool = False


@dataclass(eq=False)
class _Flow(_Run):
    feature: FeatureName = "dnd"
    direction: Direction = Direction.PHONE
    mechanism: Mechanism | None = None
    #: the value a phone-initiated change asks for
    requested: FeatureValue | None = None
    #: the phone's value before it (restored when the change fails)
    before: _Seen | None = None
    #: the Call-ID the change travels in (the subscription dialog, the code call)
    call_id: str | None = None
    confirmed: bool = False
    timed_out: bool = False


@dataclass(frozen=True)
class _Seen:
    """A feature's value and the message that showed it."""

    value: FeatureValue
    packet: int
    time: float
    line: str


def _seen(value: FeatureValue, cap: CapturedMessage) -> _Seen:
    return _Seen(value, cap.number, cap.time, _first_line(cap.data))


@dataclass
class _Line:
    """One phone line (user) as the capture shows it."""

    user: str
    registration: _Run | None = None
    uacsta: _Run | None = None
    subscriptions: list[_Subscription] = field(default_factory=list)
    flows: list[_Flow] = field(default_factory=list)
    #: feature -> the phone's and the server's last word on it
    phone_view: dict[str, _Seen] = field(default_factory=dict)
    server_view: dict[str, _Seen] = field(default_factory=dict)

    def in_flight(self) -> _Flow | None:
        for flow in self.flows:
            if (flow.direction is Direction.PHONE and not flow.tracker.done
                    and not flow.broken and not flow.timed_out):
                return flow
        return None


TxnKind = Literal["register", "subscribe", "unsubscribe", "set", "notify", "code-invite",
                  "bye", "uacsta-invite", "info", "other"]


@dataclass(eq=False)
class _Txn:
    """A request waiting for its final answer, and the runs its answer steps."""

    kind: TxnKind
    request: Request
    packet: int
    time: float
    first_line: str
    user: str | None
    by_phone: bool
    runs: list[_Run] = field(default_factory=list)
    #: NOTIFY: what it reported, applied to the phone's view when the phone accepts it
    values: list[tuple[str, FeatureValue]] = field(default_factory=list)
    final: bool = False
    #: a 401/407 the table does not model: the request is retried with credentials
    challenged: bool = False


@dataclass(eq=False)
class _Call:
    """An INVITE dialog that belongs to feature sync (a code call, a uaCSTA session)."""

    kind: Literal["code", "uacsta", "ignored"]
    run: _Run | None
    caller_tag: str | None
    answered_cseq: int | None = None


# =========================================================================================
# the replay


_INPUT_WORDS: dict[Input, str] = {
    Input.PHONE_SENDS_REGISTER: "REGISTER",
    Input.PHONE_SENDS_UNREGISTER: "REGISTER (Expires: 0)",
    Input.PHONE_SENDS_SUBSCRIBE: "body-less SUBSCRIBE",
    Input.PHONE_SENDS_SUBSCRIBE_SET: "set request",
    Input.PHONE_SENDS_UNSUBSCRIBE: "SUBSCRIBE (Expires: 0)",
    Input.PHONE_SENDS_INVITE: "code INVITE",
    Input.PHONE_SENDS_ACK: "ACK",
    Input.PHONE_SENDS_BYE: "BYE from the phone",
    Input.PHONE_SENDS_200: "200 from the phone",
    Input.PHONE_SENDS_ERROR: "error answer from the phone",
    Input.SERVER_SENDS_1XX: "provisional answer",
    Input.SERVER_SENDS_2XX: "2xx from the server",
    Input.SERVER_SENDS_CHALLENGE: "digest challenge",
    Input.SERVER_SENDS_481: "481",
    Input.SERVER_SENDS_489: "489 Bad Event",
    Input.SERVER_SENDS_ERROR: "error answer from the server",
    Input.SERVER_SENDS_FINAL_EXECUTED: "final answer counted as executed",
    Input.SERVER_SENDS_NOTIFY: "NOTIFY",
    Input.SERVER_SENDS_NOTIFY_OLD_STATE: "NOTIFY carrying the OLD state",
    Input.SERVER_SENDS_NOTIFY_TERMINATED: "NOTIFY (terminated)",
    Input.SERVER_SENDS_INVITE: "uaCSTA INVITE",
    Input.SERVER_SENDS_ACK: "ACK from the server",
    Input.SERVER_SENDS_INFO: "INFO",
    Input.SERVER_SENDS_BYE: "BYE from the server",
}


def _first_line(data: bytes) -> str:
    line = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    return line[:200].decode("utf-8", "replace")


def _uri_user(text: str) -> str | None:
    try:
        return parse_uri(text, "URI").unescaped_user
    except SipParseError:
        return None


def _looks_like_code(dialed: str) -> bool:
    return dialed[:1] in ("*", "#") or dialed.startswith("%23")


class Replayer:
    """Feeds captured messages through the checkers and the model of ``profile``."""

    def __init__(self, profile: Profile, *, user: str | None = None) -> None:
        self.profile = profile
        self.tables: dict[MachineKey, TransitionTable] = machines_for(profile)
        self.user_filter = user
        self.deviations: list[R.Deviation] = []
        self.lines: dict[str, _Line] = {}
        self.runs: list[_Run] = []
        self.txns: dict[tuple[str, int, str], _Txn] = {}
        self.subs: dict[str, _Subscription] = {}
        self.calls: dict[str, _Call] = {}
        self.call_users: dict[str, str] = {}
        self.phone_addresses: set[Address] = set()
        self._seen_keys: set[tuple[object, ...]] = set()
        self._seen_bytes: set[tuple[Address, Address, bytes]] = set()
        self.result = ReplayResult([], [], [])
        self.last_time: float | None = None
        afe = profile.afe
        self.event = afe.event.value.lower() if afe is not None else None

    # ------------------------------------------------------------------ reporting

    def deviate(self, rule: str, severity: Severity, cap: CapturedMessage | None,
                expected: str, *, user: str | None = None, evidence: str | None = None,
                first_line: str | None = None) -> None:
        self.deviations.append(R.Deviation(
            rule, severity, cap.number if cap is not None else None,
            cap.time if cap is not None else None,
            first_line if first_line is not None else (_first_line(cap.data) if cap else ""),
            expected, user, evidence))

    def _findings(self, findings: Iterable[Finding], cap: CapturedMessage, user: str | None,
                  where: str = "") -> None:
        for finding in findings:
            text = f"{where}{finding.message}" if where else finding.message
            self.deviate(finding.rule, finding.severity, cap, text, user=user,
                         evidence=finding.evidence)

    # ------------------------------------------------------------------ model plumbing

    def line(self, user: str) -> _Line:
        line = self.lines.get(user)
        if line is None:
            line = self.lines[user] = _Line(user)
        return line

    def _run(self, key: MachineKey, user: str, cap: CapturedMessage, *,
             state: str | None = None) -> _Run:
        run = _Run(FlowTracker(self.tables[key], state=state), user, cap.number)
        self.runs.append(run)
        return run

    def step(self, run: _Run, input: Input, cap: CapturedMessage, what: str, *,
             status: int | None = None) -> Transition | None:
        """Step ``run``; an illegal input is reported once and the run is left alone."""
        if run.broken:
            return None
        tracker = run.tracker
        try:
            row = tracker.step(input, cap.time)
        except IllegalTransition as exc:
            allowed = ", ".join(i.value for i in exc.allowed) or "nothing (final state)"
            after = f" after {run.last_what}" if run.last_what else ""
            self.deviate(R.MODEL_ILLEGAL, "error", cap,
                         f"{what}{after} (state {exc.state}): table {run.key} allows "
                         f"{allowed} here", user=run.user, evidence=input.value)
            run.broken = True
            return None
        run.last_packet, run.last_time, run.last_what = cap.number, cap.time, what
        run.last_line = _first_line(cap.data)
        if row.status is not None and status is not None and status != row.status:
            self.deviate(R.MODEL_STATUS, "warning", cap,
                         f"{what}: the profile {self.profile.id} answers {row.status} here "
                         f"({row.label}); a phone accepts either", user=run.user,
                         evidence=str(status))
        table = tracker.table
        if isinstance(run, _Flow):
            if tracker.done and tracker.state != table.goal:
                self.deviate(R.MODEL_NOT_GOAL, "error", cap,
                             f"{what}: {run.key} ends {tracker.state}; the profile "
                             f"(policy {self.profile.policy.mode.value.value}) expects "
                             f"{table.goal}", user=run.user)
            self._flow_moved(run, cap)
        elif tracker.state == "RetryWait":
            self.deviate(R.MODEL_LIFECYCLE_FAILED, "error", cap,
                         f"{what}: {run.key} went to RetryWait; expected {table.goal}",
                         user=run.user)
        return row

    def _flow_moved(self, flow: _Flow, cap: CapturedMessage) -> None:
        """Keep the line's views in step with a flow that just ended."""
        tracker = flow.tracker
        if not tracker.done or flow.direction is not Direction.PHONE:
            return
        line = self.line(flow.user)
        if tracker.state == FAILED:
            if flow.before is None:
                line.phone_view.pop(flow.feature, None)
            else:
                line.phone_view[flow.feature] = flow.before
        elif flow.mechanism is Mechanism.FEATURE_CODE and flow.requested is not None:
            line.server_view[flow.feature] = _seen(flow.requested, cap)

    # ------------------------------------------------------------------ feeding

    def feed(self, cap: CapturedMessage) -> None:
        self.last_time = cap.time if self.last_time is None else max(self.last_time, cap.time)
        transport = cap.src.transport
        try:
            msg: Message | None = parse_message(cap.data, stream=transport in _STREAM)
        except SipParseError:
            msg = None
        if msg is not None and self._retransmission(cap, msg):
            self.result.retransmissions += 1
            return
        user = self._user_of(msg, cap) if msg is not None else self._guess_user(cap.data)
        if self.user_filter is not None and user != self.user_filter:
            self.result.filtered += 1
            return
        self.result.messages += 1
        self._findings(check_bytes(cap.data, transport=transport), cap, user)
        if msg is None:
            return
        try:
            if isinstance(msg, Request):
                handled = self._request(msg, cap, user)
            else:
                handled = self._response(msg, cap)
        except SipParseError:
            handled = False  # a header the model needs is unreadable: the checker said so
        if not handled:
            self.result.unrelated += 1

    def _retransmission(self, cap: CapturedMessage, msg: Message) -> bool:
        seen = (cap.src, cap.dst, cap.data)
        if seen in self._seen_bytes:
            return True
        self._seen_bytes.add(seen)
        try:
            if isinstance(msg, Request):
                key: tuple[object, ...] = ("req", msg.method, msg.call_id, msg.cseq.seq,
                                           msg.cseq.method, msg.branch)
            else:
                key = ("rsp", msg.status, msg.call_id, msg.cseq.seq, msg.cseq.method,
                       msg.branch, msg.to_tag)
        except SipParseError:
            return False
        if key in self._seen_keys:
            return True
        self._seen_keys.add(key)
        return False

    def _guess_user(self, data: bytes) -> str | None:
        for user in self.lines:
            if f":{user}@".encode() in data:
                return user
        return None

    def _user_of(self, msg: Message, cap: CapturedMessage) -> str | None:
        try:
            call_id = msg.call_id
        except SipParseError:
            return None
        known = self.call_users.get(call_id)
        if known is not None:
            return known
        if isinstance(msg, Response):
            return None
        try:
            if msg.method == "REGISTER":
                user = _uri_user(msg.to_addr.uri)
            elif self._sent_by_phone(msg, cap):
                user = _uri_user(msg.from_addr.uri)
            else:
                user = _uri_user(msg.to_addr.uri) or _uri_user(msg.uri)
        except SipParseError:
            return None
        if user:
            self.call_users[call_id] = user
        return user

    def _sent_by_phone(self, msg: Request, cap: CapturedMessage) -> bool:
        method = msg.method
        if method in ("REGISTER", "SUBSCRIBE", "PUBLISH"):
            return True
        if method in ("NOTIFY", "INFO"):
            return False
        call = self.calls.get(msg.call_id)
        if call is not None and call.caller_tag is not None:
            caller = msg.from_tag == call.caller_tag
            return caller if call.kind == "code" else not caller
        if cap.src in self.phone_addresses:
            return True
        if cap.dst in self.phone_addresses:
            return False
        if method == "INVITE":
            dialed = _uri_user(msg.uri) or ""
            return self.profile.codes is not None and (
                self.profile.codes.parse_code(dialed) is not None or _looks_like_code(dialed))
        return True

    # ------------------------------------------------------------------ requests

    def _request(self, req: Request, cap: CapturedMessage, user: str | None) -> bool:
        by_phone = self._sent_by_phone(req, cap)
        self.phone_addresses.add(cap.src if by_phone else cap.dst)
        txn = _Txn("other", req, cap.number, cap.time, _first_line(cap.data), user, by_phone)
        if req.method != "ACK":
            self.txns[(req.call_id, req.cseq.seq, req.cseq.method)] = txn
        if user is None:
            return False
        method = req.method
        if method == "REGISTER":
            return self._register(req, cap, txn)
        if method == "SUBSCRIBE":
            return self._subscribe(req, cap, txn)
        if method == "NOTIFY":
            return self._notify(req, cap, txn)
        if method == "INVITE":
            return self._invite(req, cap, txn)
        if method == "ACK":
            return self._ack(req, cap)
        if method == "BYE":
            return self._bye(req, cap, txn)
        if method == "INFO":
            return self._info(req, cap, txn)
        return False

    def _register(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        assert txn.user is not None
        line = self.line(txn.user)
        try:
            expires = req.expires
            if expires is None and req.contacts:
                raw = req.contacts[0].param("expires")
                expires = int(raw) if raw and raw.isdigit() else None
        except SipParseError:
            expires = None
        unregister = expires == 0
        if line.registration is None or line.registration.broken:
            credentials = "authorization" in req.headers or "proxy-authorization" in req.headers
            # the capture starts after the registration: a refresh, or the unregister
            assumed = "Registered" if unregister or (
                credentials and self.profile.registration.challenge.value) else None
            line.registration = self._run(MachineKey(self.profile.id, FlowKind.REGISTRATION),
                                          txn.user, cap, state=assumed)
        run = line.registration
        if unregister:
            self.step(run, Input.PHONE_SENDS_UNREGISTER, cap, "REGISTER (Expires: 0)")
        else:
            self.step(run, Input.PHONE_SENDS_REGISTER, cap, "the REGISTER")
        txn.kind, txn.runs = "register", [run]
        return True

    def _package(self, req: Request) -> bool:
        """Whether ``req`` belongs to the profile's event package (missing Event: by dialog)."""
        if self.event is None:
            return False
        event = req.event
        if event is None:
            return req.call_id in self.subs
        return event.value_lower == self.event

    def _subscription(self, user: str, cap: CapturedMessage, call_id: str, *,
                      state: str | None) -> _Subscription:
        key = MachineKey(self.profile.id, FlowKind.SUBSCRIPTION)
        sub = _Subscription(FlowTracker(self.tables[key], state=state), user, cap.number,
                            call_id=call_id)
        self.runs.append(sub)
        self.subs[call_id] = sub
        self.line(user).subscriptions.append(sub)
        return sub

    def _subscribe(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        if not self._package(req):
            return False
        assert txn.user is not None
        try:
            expires = req.expires
        except SipParseError:
            expires = None
        if req.body and expires != 0:
            return self._set_request(req, cap, txn)
        sub = self.subs.get(req.call_id)
        if expires == 0:
            if sub is None:  # the capture starts inside the subscription
                sub = self._subscription(txn.user, cap, req.call_id, state="Active")
            self.step(sub, Input.PHONE_SENDS_UNSUBSCRIBE, cap, "the unsubscribe")
            txn.kind, txn.runs = "unsubscribe", [sub]
            return True
        if sub is None:
            state = "Active" if req.to_tag is not None else None
            sub = self._subscription(txn.user, cap, req.call_id, state=state)
        elif sub.broken and sub.tracker.state in _RESTART_STATES:
            sub.broken = False
        txn.kind, txn.runs = "subscribe", [sub]
        if self._retried(req, txn) is None:
            self._series_cut(sub, cap)
            self.step(sub, Input.PHONE_SENDS_SUBSCRIBE, cap,
                      "the refresh" if req.to_tag else "the SUBSCRIBE")
            sub.series, sub.in_series = [], True
        return True

    def _retried(self, req: Request, txn: _Txn) -> _Txn | None:
        """The earlier request of a challenge the table does not model, when ``req`` is it
        again with credentials (same Call-ID and method): ``txn`` takes over its runs."""
        for old in self.txns.values():
            if (old.challenged and old is not txn and old.request.call_id == req.call_id
                    and old.request.method == req.method):
                old.challenged = False
                txn.kind, txn.runs = old.kind, old.runs
                return old
        return None

    def _set_request(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        afe = self.profile.afe
        assert afe is not None and txn.user is not None
        user = txn.user
        line = self.line(user)
        txn.kind = "set"
        if self._retried(req, txn) is not None:
            return True
        ctype = req.content_type
        if ctype is not None and ctype != afe.content_type.value.lower():
            self.deviate(fe.BODY_CONTENT_TYPE, "error", cap,
                         f"set request body declared {ctype}; the profile sends "
                         f"{afe.content_type.value}", user=user, evidence=ctype)
        bad = afe.set_request.bad_body_answer
        try:
            parsed = fe.parse(req.body, accepted_namespaces=afe.accepted_namespaces.value,
                              ring_count_range=(afe.ring_count.min.value,
                                                afe.ring_count.max.value),
                              strict=False, xml_error_status=bad.value if bad else 400)
        except fe.BodyError as error:
            self._findings(error.findings, cap, user, "set request: ")
            if not error.findings:
                self.deviate(fe.XML_MALFORMED, "error", cap, f"set request: {error.reason}",
                             user=user)
            return True
        self._findings(parsed.findings, cap, user, "set request: ")
        doc = parsed.document
        if not isinstance(doc, fe.SetDoNotDisturb | fe.SetForwarding):
            self.deviate(fe.AFE_ROOT_UNKNOWN, "error", cap,
                         f"a set request carries SetDoNotDisturb or SetForwarding, not "
                         f"{type(doc).__name__}", user=user, evidence=doc.ROOT)
            return True
        feature, value = _value_of(doc)
        sub = self.subs.get(req.call_id) if req.to_tag is not None else None
        if req.to_tag is not None and sub is None:
            # the capture starts inside the subscription dialog
            sub = self._subscription(user, cap, req.call_id, state="Active")
        if sub is not None:
            self._series_cut(sub, cap)
            if sub.tracker.state != "Active":
                self.deviate(R.AFE_SET_NO_SUBSCRIPTION, "error", cap,
                             f"set request while the line's subscription was "
                             f"{sub.tracker.state}, not Active (the phone waits for the full "
                             f"state)", user=user)
        else:
            if afe.set_request.in_dialog.value:
                self.deviate(R.AFE_SET_OUT_OF_DIALOG, "error", cap,
                             "set request outside the subscription dialog; the profile sends "
                             "it inside (To tag, next CSeq)", user=user)
            if not any(s.tracker.state == "Active" for s in line.subscriptions):
                self.deviate(R.AFE_SET_NO_SUBSCRIPTION, "error", cap,
                             "set request while the line's subscription was not active",
                             user=user)
        flow = self._phone_flow(feature, value, cap, txn, Mechanism.AS_FEATURE_EVENT)
        if flow is None:
            return True
        flow.call_id = req.call_id
        self.step(flow, Input.PHONE_USER_CHANGE, cap, "the change at the phone (inferred)")
        self.step(flow, Input.PHONE_SENDS_SUBSCRIBE_SET, cap, "the set request")
        return True

    def _phone_flow(self, feature: FeatureName, value: FeatureValue, cap: CapturedMessage,
                    txn: _Txn, mechanism: Mechanism) -> _Flow | None:
        """A new run of the feature's phone-initiated flow, or None (reported) when the
        profile does not sync it that way."""
        assert txn.user is not None
        line = self.line(txn.user)
        key = MachineKey.flow(self.profile.id, Feature(feature), Direction.PHONE)
        if key not in self.tables:
            self.deviate(R.FEATURE_NOT_SYNCED, "error", cap,
                         f"{self.profile.id} does not sync {feature} phone-initiated",
                         user=txn.user)
            return None
        busy = line.in_flight()
        if busy is not None:
            if mechanism is Mechanism.FEATURE_CODE:
                self.deviate(R.CODE_PARALLEL, "error", cap,
                             f"code INVITE while {busy.key} (packet {busy.first_packet}) was "
                             "in flight: one change at a time (protocol 3: parallel code "
                             "calls loop)", user=txn.user)
            else:
                self.deviate(R.AFE_SET_PARALLEL, "warning", cap,
                             f"set request while {busy.key} (packet {busy.first_packet}) was "
                             "in flight: one change at a time", user=txn.user)
        flow = _Flow(FlowTracker(self.tables[key]), txn.user, cap.number, feature=feature,
                     direction=Direction.PHONE, mechanism=mechanism, requested=value,
                     before=line.phone_view.get(feature))
        self.runs.append(flow)
        line.flows.append(flow)
        line.phone_view[feature] = _seen(value, cap)
        txn.runs = [flow]
        return flow

    # ------------------------------------------------------------------ NOTIFY

    def _notify_values(self, req: Request, cap: CapturedMessage,
                       user: str) -> list[tuple[FeatureName, FeatureValue]] | None:
        """The features a NOTIFY body reports, after the profile's body rules; None when
        the body cannot be read."""
        afe = self.profile.afe
        assert afe is not None
        try:
            results = fe.parse_notify_body(
                req.headers.get("content-type") or "", req.body,
                accepted_namespaces=afe.accepted_namespaces.value,
                ring_count_range=(afe.ring_count.min.value, afe.ring_count.max.value),
                strict=False)
        except fe.BodyError as error:
            self._findings(error.findings, cap, user, "NOTIFY: ")
            if not error.findings:
                self.deviate(fe.BODY_CONTENT_TYPE, "error", cap, f"NOTIFY: {error.reason}",
                             user=user)
            return None
        values: list[tuple[FeatureName, FeatureValue]] = []
        for result in results:
            self._findings(result.findings, cap, user, "NOTIFY: ")
            doc = result.document
            if isinstance(doc, fe.SetDoNotDisturb | fe.SetForwarding):
                self.deviate(fe.AFE_ROOT_UNKNOWN, "error", cap,
                             f"a NOTIFY carries DoNotDisturbEvent or ForwardingEvent, not "
                             f"{doc.ROOT}", user=user, evidence=doc.ROOT)
                continue
            values.append(_value_of(doc))
        return values

    def _notify(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        if not self._package(req):
            return False
        assert txn.user is not None
        user = txn.user
        line = self.line(user)
        txn.kind = "notify"
        sub = self.subs.get(req.call_id)
        pending = [f for f in line.flows if f.call_id == req.call_id
                   and f.mechanism is Mechanism.AS_FEATURE_EVENT]
        if sub is None and not pending:
            sub = self._subscription(user, cap, req.call_id, state="Active")
        raw_state = (req.headers.get("subscription-state") or "").strip().lower()
        if raw_state.startswith("terminated"):
            if sub is not None:
                self.step(sub, Input.SERVER_SENDS_NOTIFY_TERMINATED, cap,
                          "the final NOTIFY (terminated)")
                txn.runs = [sub]
            return True
        values = self._notify_values(req, cap, user) if req.body else []
        for feature, value in values or ():
            line.server_view[feature] = _seen(value, cap)
        ctype = (req.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        whole = ctype.startswith("multipart/") or len(values or ()) > 1
        if sub is not None and not sub.broken and self._is_full_state(sub, values, whole,
                                                                        pending):
            row = self.step(sub, Input.SERVER_SENDS_NOTIFY, cap, "the full-state NOTIFY")
            txn.runs, txn.values = [sub], list(values or ())
            if row is not None and values is not None:
                self._full_state_part(sub, row, [f for f, _ in values], cap)
            return True
        if values is None:
            return True
        if not values:
            self.deviate(R.AFE_NOTIFY_NO_BODY, "warning", cap,
                         "a NOTIFY of the active subscription without a body: it reports "
                         "nothing", user=user)
            return True
        if whole and ctype.startswith("multipart/"):
            # a full state nobody waits for (a refresh crossed the one under way and brought
            # a second): the server's word on each feature, confirming nothing
            txn.values = list(values)
            return True
        if len(values) > 1:
            self.deviate(R.AFE_CHANGE_EXTRA, "warning", cap,
                         f"a change NOTIFY reports {len(values)} features "
                         f"({', '.join(f for f, _ in values)}); protocol 1.2: only the "
                         "affected one", user=user)
        txn.values = list(values)
        for feature, value in values:
            flow = next((f for f in pending if f.feature == feature and not f.confirmed
                         and not f.tracker.done and not f.broken), None)
            if flow is not None and flow.requested is not None:
                flow.confirmed = True
                if agrees(feature, flow.requested, value):
                    input, what = Input.SERVER_SENDS_NOTIFY, "NOTIFY carried the new state"
                else:
                    input = Input.SERVER_SENDS_NOTIFY_OLD_STATE
                    what = (f"NOTIFY carried the OLD state ({value.describe(feature)}, not "
                            f"the requested {flow.requested.describe(feature)})")
                self.step(flow, input, cap, what)
                txn.runs.append(flow)
                continue
            key = MachineKey.flow(self.profile.id, Feature(feature), Direction.SERVER)
            if key not in self.tables:
                self.deviate(R.FEATURE_NOT_SYNCED, "warning", cap,
                             f"change NOTIFY for {feature}, which {self.profile.id} does not "
                             "sync from the server", user=user)
                continue
            new = _Flow(FlowTracker(self.tables[key]), user, cap.number, feature=feature,
                        direction=Direction.SERVER, mechanism=Mechanism.AS_FEATURE_EVENT,
                        call_id=req.call_id)
            self.runs.append(new)
            line.flows.append(new)
            self.step(new, Input.SERVER_ADMIN_CHANGE, cap, "the change on the server (inferred)")
            self.step(new, Input.SERVER_SENDS_NOTIFY, cap, "the change NOTIFY")
            txn.runs.append(new)
        return True

    @staticmethod
    def _is_full_state(sub: _Subscription, values: list[tuple[FeatureName, FeatureValue]] | None,
                       whole: bool, pending: list[_Flow]) -> bool:
        """Whether the subscription takes this NOTIFY as (a part of) its full state: while
        it waits for one, except a single document of a feature whose set request is in
        flight, which is that request's confirmation unless the answers show the server
        took the SUBSCRIBE first (the routing rule of model/tables.py, as the reference
        phone applies it). A body in the other full-state encoding still goes to the
        subscription, where the full-state rules judge it."""
        table, state = sub.tracker.table, sub.tracker.state
        if not table.allows(state, Input.SERVER_SENDS_NOTIFY):
            return False
        if not values or whole:
            return True
        feature = values[0][0]
        flow = next((f for f in pending if f.feature == feature and not f.confirmed
                     and not f.tracker.done and not f.broken), None)
        if flow is None:
            return True
        return subscribe_answered_first(sub.tracker, flow.tracker)

    def _expected_full_state(self) -> list[str]:
        afe = self.profile.afe
        assert afe is not None
        return [f.value for f in afe.notify.full_state_order.value]

    def _full_state_part(self, sub: _Subscription, row: Transition, got: list[str],
                         cap: CapturedMessage) -> None:
        expected = self._expected_full_state()
        if row.feature is None:  # one NOTIFY carries the whole state
            self._judge_full_state(sub, got, cap, expected)
            sub.in_series = False
            return
        sub.series.extend(got)  # judged when the series ends (_series_done, _series_cut)

    def _judge_full_state(self, sub: _Subscription, got: list[str], cap: CapturedMessage,
                          expected: list[str]) -> None:
        missing = [f for f in expected if f not in got]
        what = "full-state NOTIFY" if not self._per_feature() else (
            "full state (one NOTIFY per feature)")
        if missing:
            self.deviate(R.AFE_FULLSTATE_MISSING, "error", cap,
                         f"{what} missing {', '.join(missing)} (the full state reports "
                         f"{', '.join(expected)})", user=sub.user)
        elif [f for f in got if f in expected] != expected:
            self.deviate(R.AFE_FULLSTATE_ORDER, "warning", cap,
                         f"full state in the order {', '.join(got)}; the profile's is "
                         f"{', '.join(expected)}", user=sub.user)

    def _per_feature(self) -> bool:
        afe = self.profile.afe
        return afe is not None and afe.notify.full_state.value is FullStateEncoding.PER_FEATURE

    def _series_done(self, sub: _Subscription, cap: CapturedMessage) -> None:
        """A per-feature full state just completed (the subscription is Active): judge it."""
        if not (sub.in_series and sub.tracker.state == "Active" and self._per_feature()):
            return
        sub.in_series = False
        self._judge_full_state(sub, sub.series, cap, self._expected_full_state())

    def _series_cut(self, sub: _Subscription, cap: CapturedMessage) -> None:
        """A per-feature full state that stopped short of the profile's features, seen at
        the phone's next request: report it, and take the subscription as Active."""
        if not (sub.in_series and self._per_feature() and not sub.broken
                and sub.tracker.state.startswith("Awaiting") and sub.series):
            return
        missing = [f for f in self._expected_full_state() if f not in sub.series]
        self.deviate(R.AFE_FULLSTATE_MISSING, "error", cap,
                     f"the full state stopped after {len(sub.series)} NOTIFY(s) "
                     f"({', '.join(sub.series)}): missing {', '.join(missing)}",
                     user=sub.user)
        sub.tracker.state = "Active"
        sub.in_series = False

    # ------------------------------------------------------------------ INVITE, ACK, BYE, INFO

    def _invite(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        assert txn.user is not None
        call = self.calls.get(req.call_id)
        if req.to_tag is not None:
            return call is not None and call.kind != "ignored"
        if call is not None:
            if call.kind != "code" or call.run is None:
                return call.kind != "ignored"
            # the INVITE again, with credentials after a challenge
            self.step(call.run, Input.PHONE_SENDS_INVITE, cap, "the code INVITE with credentials")
            txn.kind, txn.runs = "code-invite", [call.run]
            return True
        if txn.by_phone:
            return self._code_invite(req, cap, txn)
        uacsta = self.profile.uacsta
        key = MachineKey(self.profile.id, FlowKind.UACSTA_SESSION)
        if uacsta is None or key not in self.tables:
            return False
        line = self.line(txn.user)
        line.uacsta = self._run(key, txn.user, cap)
        self.calls[req.call_id] = _Call("uacsta", line.uacsta, req.from_tag)
        self.step(line.uacsta, Input.SERVER_SENDS_INVITE, cap, "the uaCSTA INVITE")
        txn.kind, txn.runs = "uacsta-invite", [line.uacsta]
        return True

    def _code_invite(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        codes = self.profile.codes
        dialed = _uri_user(req.uri) or ""
        if codes is None:
            return False
        code = codes.parse_code(dialed)
        if code is None:
            if not _looks_like_code(dialed):
                return False  # an ordinary call
            self.calls[req.call_id] = _Call("ignored", None, req.from_tag)
            self.deviate(R.CODE_UNKNOWN, "error", cap,
                         f"INVITE to {dialed!r}: not a feature code of {self.profile.id}",
                         user=txn.user, evidence=req.uri)
            return True
        feature: FeatureName = code.feature.value
        on = code.action is Action.ACTIVATE
        value = FeatureValue(on, code.number if on else None,
                             code.rings if on and feature == "cfna" else None)
        flow = self._phone_flow(feature, value, cap, txn, Mechanism.FEATURE_CODE)
        if flow is None:
            self.calls[req.call_id] = _Call("ignored", None, req.from_tag)
            return True
        flow.call_id = req.call_id
        self.calls[req.call_id] = _Call("code", flow, req.from_tag)
        self.step(flow, Input.PHONE_USER_CHANGE, cap, "the change at the phone (inferred)")
        self.step(flow, Input.PHONE_SENDS_INVITE, cap, f"the INVITE to {dialed}")
        txn.kind = "code-invite"
        return True

    def _ack(self, req: Request, cap: CapturedMessage) -> bool:
        call = self.calls.get(req.call_id)
        if call is None or call.run is None:
            return call is not None
        if call.answered_cseq != req.cseq.seq:
            return True  # the ACK of a non-2xx final: transaction layer
        input = Input.PHONE_SENDS_ACK if call.kind == "code" else Input.SERVER_SENDS_ACK
        if call.run.tracker.allows(input):
            self.step(call.run, input, cap, "the ACK")
        return True

    def _bye(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        call = self.calls.get(req.call_id)
        if call is None or call.run is None:
            return call is not None
        input = Input.PHONE_SENDS_BYE if txn.by_phone else Input.SERVER_SENDS_BYE
        self.step(call.run, input, cap, "the BYE")
        txn.kind, txn.runs = "bye", [call.run]
        return True

    def _info(self, req: Request, cap: CapturedMessage, txn: _Txn) -> bool:
        uacsta = self.profile.uacsta
        if uacsta is None or txn.by_phone:
            return False
        assert txn.user is not None
        line = self.line(txn.user)
        root = ""
        if req.body:
            try:
                parsed = csta.parse(req.body)
            except fe.BodyError as error:
                self._findings(error.findings, cap, txn.user, "INFO: ")
            else:
                self._findings(parsed.findings, cap, txn.user, "INFO: ")
                root = parsed.document.root
        session = line.uacsta
        txn.kind = "info"
        if (session is not None and root == csta.MONITOR_START
                and session.tracker.allows(Input.SERVER_SENDS_INFO)):
            self.step(session, Input.SERVER_SENDS_INFO, cap, "the MonitorStart INFO")
            txn.runs = [session]
            return True
        key = MachineKey.flow(self.profile.id, Feature.DND, Direction.SERVER)
        if key not in self.tables:
            return True
        flow = _Flow(FlowTracker(self.tables[key]), txn.user, cap.number, feature="dnd",
                     direction=Direction.SERVER, mechanism=Mechanism.UACSTA)
        self.runs.append(flow)
        line.flows.append(flow)
        self.step(flow, Input.SERVER_ADMIN_CHANGE, cap, "the change on the server (inferred)")
        self.step(flow, Input.SERVER_SENDS_INFO, cap, "the uaCSTA INFO")
        txn.runs = [flow]
        return True

    # ------------------------------------------------------------------ responses

    def _response(self, rsp: Response, cap: CapturedMessage) -> bool:
        txn = self.txns.get((rsp.call_id, rsp.cseq.seq, rsp.cseq.method))
        if txn is None:
            return False
        self._findings(check_pair(txn.request, rsp), cap, txn.user,
                       f"as the answer to {txn.first_line}: ")
        if txn.kind == "other":
            return False
        status = rsp.status
        if rsp.is_provisional:
            if txn.kind == "code-invite":
                for run in txn.runs:
                    if run.tracker.allows(Input.SERVER_SENDS_1XX):
                        self.step(run, Input.SERVER_SENDS_1XX, cap, f"the {status}")
            return True
        if txn.final:
            return True
        txn.final = True
        what = f"the {status} {rsp.reason}".rstrip() + f" to {self._request_words(txn)}"
        if txn.kind in ("code-invite", "uacsta-invite") and rsp.is_success:
            call = self.calls.get(rsp.call_id)
            if call is not None:
                call.answered_cseq = rsp.cseq.seq
        if txn.kind in ("notify", "info", "uacsta-invite") or (
                txn.kind == "bye" and not txn.by_phone):
            self._phone_answered(txn, rsp, cap, what)
            return True
        for run in txn.runs:
            input = self._server_input(txn, run, status)
            if input is None:
                txn.challenged = True
                continue
            self.step(run, input, cap, what, status=status)
            if isinstance(run, _Subscription):
                self._series_done(run, cap)
        return True

    def _request_words(self, txn: _Txn) -> str:
        return {
            "register": "the REGISTER", "subscribe": "the SUBSCRIBE",
            "unsubscribe": "the unsubscribe", "set": "the set request",
            "notify": "the NOTIFY", "code-invite": "the code INVITE", "bye": "the BYE",
            "uacsta-invite": "the uaCSTA INVITE", "info": "the INFO",
        }.get(txn.kind, txn.request.method)

    def _server_input(self, txn: _Txn, run: _Run, status: int) -> Input | None:
        """The input of the server's final answer to one of the phone's requests; None for a
        challenge the table does not model (the request comes again with credentials)."""
        if 200 <= status < 300:
            return Input.SERVER_SENDS_2XX
        if status in (401, 407):
            if run.tracker.allows(Input.SERVER_SENDS_CHALLENGE) or txn.kind == "register":
                return Input.SERVER_SENDS_CHALLENGE
            return None
        if txn.kind in ("subscribe", "unsubscribe"):
            if status == 481 and run.tracker.allows(Input.SERVER_SENDS_481):
                return Input.SERVER_SENDS_481
            if status == 489 and run.tracker.allows(Input.SERVER_SENDS_489):
                return Input.SERVER_SENDS_489
        codes = self.profile.codes
        if txn.kind == "code-invite" and codes is not None and codes.executes(status):
            return Input.SERVER_SENDS_FINAL_EXECUTED
        return Input.SERVER_SENDS_ERROR

    def _phone_answered(self, txn: _Txn, rsp: Response, cap: CapturedMessage,
                        what: str) -> None:
        ok = rsp.is_success
        for run in txn.runs:
            self.step(run, Input.PHONE_SENDS_200 if ok else Input.PHONE_SENDS_ERROR, cap, what,
                      status=rsp.status)
            if isinstance(run, _Subscription):
                self._series_done(run, cap)
        if ok and txn.user is not None and txn.values:
            line = self.line(txn.user)
            for feature, value in txn.values:
                line.phone_view[feature] = _seen(value, cap)

    # ------------------------------------------------------------------ the end

    def finish(self) -> ReplayResult:
        end = self.last_time
        if end is not None:
            self._timeouts(end)
        for line in self.lines.values():
            self._converged(line)
        result = self.result
        result.deviations = sorted(self.deviations, key=lambda d: (
            d.packet if d.packet is not None else 1 << 62))
        result.users = sorted(self.lines)
        result.flows = [FlowOutcome(str(run.key), run.user, run.tracker.state,
                                    run.tracker.table.goal, run.tracker.done,
                                    run.first_packet, run.last_packet or run.first_packet)
                        for run in self.runs if isinstance(run, _Flow)]
        return result

    def _timeouts(self, end: float) -> None:
        for txn in self.txns.values():
            if txn.final or txn.kind == "other" or end - txn.time <= TRANSACTION_TIMEOUT:
                continue
            txn.final = True
            self.deviations.append(R.Deviation(
                R.MODEL_TIMEOUT, "error", txn.packet, txn.time, txn.first_line,
                f"no final answer to {self._request_words(txn)} within "
                f"{TRANSACTION_TIMEOUT:g} s (64*T1) while the capture went on for "
                f"{end - txn.time:.1f} s", txn.user))
            for run in txn.runs:
                if isinstance(run, _Flow):
                    run.timed_out = True
        afe = self.profile.afe
        confirm = afe.set_request.confirm_timeout if afe is not None else None
        for run in self.runs:
            if not isinstance(run, _Flow) or run.tracker.done or run.broken:
                continue
            if run.timed_out:
                continue
            wait = float(confirm.value) if confirm is not None else TRANSACTION_TIMEOUT
            if (run.tracker.state == "AwaitingConfirm" and end - run.last_time > wait):
                run.timed_out = True
                self.deviations.append(R.Deviation(
                    R.MODEL_TIMEOUT, "error", run.last_packet, run.last_time, run.last_line,
                    f"no confirming NOTIFY within {wait:g} s of {run.last_what}: "
                    f"{run.key} would end {FAILED} (the phone reverts)", run.user))
                continue
            self.deviations.append(R.Deviation(
                R.MODEL_INCOMPLETE, "warning", run.last_packet, run.last_time, run.last_line,
                f"{run.key} still in state {run.tracker.state} after {run.last_what} when the "
                f"capture ends (allowed next: "
                f"{', '.join(i.value for i in run.tracker.allowed())})", run.user))
        for sub in (s for line in self.lines.values() for s in line.subscriptions):
            if sub.in_series and sub.tracker.state.startswith("Awaiting") and not sub.broken:
                missing = [f for f in self._expected_full_state() if f not in sub.series]
                text = (f"the full state stopped after {len(sub.series)} NOTIFY(s): missing "
                        f"{', '.join(missing)}")
                if end - sub.last_time <= TRANSACTION_TIMEOUT:  # the capture stopped early?
                    self.deviations.append(R.Deviation(
                        R.MODEL_INCOMPLETE, "warning", sub.last_packet, sub.last_time,
                        sub.last_line, f"{text} when the capture ends", sub.user))
                    continue
                self.deviations.append(R.Deviation(
                    R.AFE_FULLSTATE_MISSING, "error", sub.last_packet, sub.last_time,
                    sub.last_line, text, sub.user))

    def _converged(self, line: _Line) -> None:
        pending = {f.feature for f in line.flows if not f.tracker.done}
        for feature in ("dnd", "cfa", "cfb", "cfna"):
            if feature in pending:
                continue  # reported as incomplete or timed out: the phone's word is not final
            phone = line.phone_view.get(feature)
            server = line.server_view.get(feature)
            if phone is None or server is None or agrees(feature, phone.value, server.value):
                continue
            later = phone if phone.packet >= server.packet else server
            self.deviations.append(R.Deviation(
                R.SYNC_DIVERGED, "error", later.packet, later.time, later.line,
                f"at the end of the capture the phone shows {phone.value.describe(feature)} "
                f"(packet {phone.packet}) but the server's last word is "
                f"{server.value.describe(feature)} (packet {server.packet})", line.user))


def replay(messages: Sequence[CapturedMessage], profile: Profile, *,
           user: str | None = None) -> ReplayResult:
    """Replay ``messages`` (from :func:`~fsync_model.trace.capture.open_capture`) through the
    model of ``profile``; only ``user``'s messages when given."""
    replayer = Replayer(profile, user=user)
    for message in messages:
        replayer.feed(message)
    return replayer.finish()
