"""Every transition fsync knows, built from a Profile. Nothing else in fsync may keep a copy.

How the machines work
=====================

Feature sync is a handful of short exchanges, and the guide describes each one as a ladder:
"the phone sends a SUBSCRIBE carrying the DND state; the server answers 200 OK; once the
change is complete the server sends a confirming NOTIFY; the phone answers 200 OK". This
module writes each ladder down as a `TransitionTable`: states are named for what has just
happened on that ladder (``SetRequestSent``, ``AwaitingConfirm``, ``Synced``), inputs are
the arrows. Reading a table top to bottom should feel like reading the ladder.

Two rules, taken from h11's ``_state.py``:

1. Everything that affects a transition lives here, as a table where possible. The agents,
   the Hypothesis machines, the generated suites, the capture checker and the diagrams all
   *read* these tables (through `FlowTracker`, :func:`happy_path`, :func:`paths`, the
   `transitions` adapter in ``machines.py``); none of them decides on its own what may follow
   what. Anything not in a table is invalid.
2. The tables do not know which side they are on. An input names who acts
   (``PHONE_SENDS_SUBSCRIBE_SET``, ``SERVER_SENDS_2XX``), so one table serves the reference
   phone and the reference server; :func:`~fsync_model.model.inputs.role_view` turns it into
   ``SEND_SUBSCRIBE_SET`` or ``RECV_SUBSCRIBE_SET`` (h2's SEND_/RECV_ inputs, written once).

The machines of one system
--------------------------
``machines_for(profile)`` returns, keyed by `MachineKey`:

* ``<id>/registration``: REGISTER with an optional digest challenge, refresh, retry, and
  the de-REGISTER (``Expires: 0``), challenged like any REGISTER.
* ``<id>/line``: the phone's per-line setting. While it is off (``Local``) every feature
  runs locally and no feature flow may start. Fortinet is not gated: one state.
* ``<id>/subscription`` (as-feature-event systems): the body-less SUBSCRIBE, the full-state
  NOTIFY(s) that answer it, refresh, 481/489 handling, unsubscribe.
* ``<id>/uacsta-session`` (3CX): the INVITE and MonitorStart INFO that open uaCSTA.
* ``<id>/<feature>/<direction>-initiated``: one run of one change of one feature, e.g.
  ``broadsoft/dnd/phone-initiated``. A new change starts a new run (a new `FlowTracker`).

How a profile shapes the tables
-------------------------------
* ``as_feature_event.subscribe.answer`` / ``set_request.answer``: the ``status`` (and label)
  of the 2xx rows: 200 or 202. A phone accepts both; the reference server sends this one.
* ``notify.full_state``: ``multipart`` (and the ``concatenated`` defect) is one NOTIFY;
  ``per-feature`` is one NOTIFY per feature in ``full_state_order``, each answered before
  the next (at most one NOTIFY outstanding per dialog: a modelling assumption).
* ``policy.mode``: accept -> the confirming NOTIFY carries the new state, end ``Synced``;
  reject -> 2xx then ``SERVER_SENDS_NOTIFY_OLD_STATE``, end ``Reverted``; error -> the set
  request (or code INVITE) is answered ``policy.error_status``, end ``Failed``. A NOTIFY
  with the wrong state for the policy is an `IllegalTransition`: that is how a tester sees
  a server that silently ignored a change.
* ``feature_codes.executed_statuses``: a final non-2xx listed there ends the code call in
  ``Synced`` (``SERVER_SENDS_FINAL_EXECUTED``); otherwise only a 2xx does.
* ``registration.challenge`` / ``feature_codes.challenge``: with 401/407 the first request is
  challenged (``Challenged`` -> ``Authenticating``); with null there is no challenge row. A
  registration may be challenged again any number of times (a stale nonce: RFC 7616 3.3).
* ``line.gated_by_line_setting`` / ``default_sync``: the line table and its initial state.

Races and failures that the tables model explicitly
---------------------------------------------------
* Over UDP a NOTIFY may overtake the 2xx it follows (RFC 6665 section 4.1.2.4 allows the
  NOTIFY first): full-state and confirming NOTIFYs may arrive before the 2xx.
* 489 Bad Event or a timeout on the first SUBSCRIBE -> ``RetryWait`` (retry after
  ``subscribe.retry_after_489``); 481 to a refresh -> ``Unsubscribed`` and a new
  subscription; another error or a timeout on a refresh leaves the subscription ``Active``
  until it expires (RFC 6665 section 4.1.2.2).
* A set request answered with an error, or unanswered, -> ``Failed``: the phone reverts its
  indicator; so does a confirming NOTIFY that goes unanswered (the notifier ends the
  subscription, RFC 6665 4.2.2), and an early "confirmation" (an administrator's NOTIFY
  that crossed the request) followed by the request's error.
* While the full state is under way: a part refused leaves the subscription (a 481 ends it
  at the notifier), a part unanswered ends it, a refresh crossing it restarts it
  (``Restarting``), an unsubscribe ends it; a refresh whose 2xx is lost after its NOTIFYs
  came counts as taken.
* A code call's ACK lost or overtaken by the BYE: the PBX takes the BYE in ``Answered``
  (the dialog is confirmed at its 2xx) and resends the 2xx until the ACK of a resent 2xx
  arrives or 64*T1 passed (``ByeBeforeAck``, ``AwaitingLateAck``).

Rules that are not tables (the agents apply them; listed here so they live in one place)
---------------------------------------------------------------------------------------
* Routing NOTIFYs, by what a NOTIFY is (its body), never by which machine would take it:
  a single document of a feature whose set request is in flight is that request's
  confirmation (or rejection); otherwise a NOTIFY is the full state (the subscription
  machine's ``SERVER_SENDS_NOTIFY``) only while that machine waits for it and the body is
  one: a multipart body (or several documents) for the one-NOTIFY encoding, a single
  document of the feature its next row names (``Transition.feature``) for the per-feature
  one; any other single document is a change NOTIFY (server-initiated flow), and a full
  state nobody waits for only tells the server's state (it confirms nothing).
* A phone-initiated flow starts only on a line in ``SyncEnabled`` (or ``SyncAlwaysOn``),
  and, for as-feature-event with ``set_request.in_dialog``, only with the subscription
  ``Active``. One change in flight per user (protocol 3: parallel code calls loop).
* A uaCSTA DND INFO changes nothing on the phone (guide note on 3CX).
* Transaction-layer details (retransmissions, 100 Trying to non-INVITE requests, the ACK
  of a non-2xx final) are below these tables and never stepped.

Usage::

    tables = machines_for(load_all()["broadsoft"])
    dnd = tables[MachineKey.parse("broadsoft/dnd/phone-initiated")]
    [t.input.value for t in happy_path(dnd)]
    # ['PHONE_USER_CHANGE', 'PHONE_SENDS_SUBSCRIBE_SET', 'SERVER_SENDS_2XX',
    #  'SERVER_SENDS_NOTIFY', 'PHONE_SENDS_200']
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from fsync_model.profile import (
    AfeSettings,
    Direction,
    Feature,
    FeatureCodes,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
)

from .inputs import Input
from .table import FlowKind, MachineKey, State, Transition, TransitionTable

I = Input  # noqa: E741 - the tables read better with a one-letter alias

# -- the names of the end states, shared by every feature flow ----------------------------
SYNCED = "Synced"
REVERTED = "Reverted"
FAILED = "Failed"
INFORMED = "Informed"

_REASONS = {
    200: "OK",
    202: "Accepted",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    407: "Proxy Authentication Required",
    415: "Unsupported Media Type",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    488: "Not Acceptable Here",
    489: "Bad Event",
    500: "Server Internal Error",
    603: "Decline",
}

_FEATURE_TITLES = {
    Feature.DND: "DND",
    Feature.CFA: "forward 1 (unconditional)",
    Feature.CFB: "forward 2 (busy)",
    Feature.CFNA: "forward 3 (no answer)",
}


def _status(code: int) -> str:
    reason = _REASONS.get(code)
    return f"{code} {reason}" if reason else str(code)


class _Rows:
    """Collects the rows of one table; states are listed in order of first appearance."""

    def __init__(self, key: MachineKey) -> None:
        self.key = key
        self.rows: list[Transition] = []

    def add(
        self,
        source: State,
        input: Input,
        dest: State,
        label: str,
        ref: str,
        *,
        note: str = "",
        status: int | None = None,
        feature: Feature | None = None,
    ) -> None:
        self.rows.append(Transition(source, input, dest, label, ref, note, status, feature))

    def table(
        self,
        initial: State,
        goal: State,
        finals: tuple[State, ...],
        mechanism: Mechanism | None = None,
    ) -> TransitionTable:
        states: dict[State, None] = {initial: None}
        for row in self.rows:
            states.setdefault(row.source)
            states.setdefault(row.dest)
        return TransitionTable(
            key=self.key,
            states=tuple(states),
            initial=initial,
            finals=frozenset(f for f in finals if f in states),
            goal=goal,
            transitions=tuple(self.rows),
            mechanism=mechanism,
        )


# =========================================================================================
# registration (RFC 3261 section 10; digest: section 22)

_REF_REGISTER = "RFC 3261 10.2; guide Which server uses which mechanism (SUBSCRIBE at registration)"
_REF_DIGEST = "RFC 3261 22.2"
_REF_DIGEST_AGAIN = "RFC 3261 22.2; RFC 7616 3.3 (stale=true)"
_AGAIN = ("challenged again: a new nonce (stale) is answered at once with new credentials; "
          "the same nonce means they were refused: the phone gives up and starts anew later")


def _registration(profile: Profile) -> TransitionTable:
    reg = profile.registration
    challenge = reg.challenge.value
    rows = _Rows(MachineKey(profile.id, FlowKind.REGISTRATION))
    rows.add("Unregistered", I.PHONE_SENDS_REGISTER, "Registering",
             f"REGISTER (Expires: {reg.expires.value})", _REF_REGISTER)
    # Registering: the first REGISTER; Refreshing: a refresh; Authenticating: with credentials.
    # A challenging registrar never accepts the first REGISTER. A challenge to credentials
    # asks for them again: with a new nonce (stale=true, or a registrar that restarted and
    # forgot its nonces) the phone answers at once; with the same nonce they were refused
    # and the phone gives up: its next REGISTER, without credentials, is a new attempt
    # (Unregistered, RetryWait or Registered are where it starts; an agent that gave up
    # elsewhere starts a new run of this machine). Any sequence of challenges is legal.
    attempts = ("Registering", "Refreshing", "Authenticating") if challenge else (
        "Registering", "Refreshing")
    for source in attempts:
        if not (challenge and source == "Registering"):
            rows.add(source, I.SERVER_SENDS_2XX, "Registered", _status(200), _REF_REGISTER,
                     status=200)
        if challenge:
            notes = {"Refreshing": "a refresh is challenged when the nonce went stale",
                     "Authenticating": _AGAIN}
            rows.add(source, I.SERVER_SENDS_CHALLENGE, "Challenged", _status(challenge),
                     _REF_DIGEST_AGAIN if source == "Authenticating" else _REF_DIGEST,
                     note=notes.get(source, ""), status=challenge)
        rows.add(source, I.SERVER_SENDS_ERROR, "RetryWait", "4xx-6xx", _REF_REGISTER)
        rows.add(source, I.PHONE_TIMEOUT, "RetryWait", "timeout (Timer F)", "RFC 3261 17.1.2.2")
    if challenge:
        rows.add("Challenged", I.PHONE_SENDS_REGISTER, "Authenticating",
                 "REGISTER (Authorization)" if challenge == 401
                 else "REGISTER (Proxy-Authorization)", _REF_DIGEST)
    retry = reg.retry_after.value if reg.retry_after else None
    rows.add("RetryWait", I.PHONE_SENDS_REGISTER, "Registering",
             f"REGISTER (retry after {retry} s)" if retry else "REGISTER (retry)", _REF_REGISTER)
    rows.add("Registered", I.PHONE_SENDS_REGISTER, "Refreshing", "REGISTER (refresh)",
             _REF_REGISTER)
    rows.add("Registered", I.PHONE_SENDS_UNREGISTER, "Unregistering", "REGISTER (Expires: 0)",
             _REF_REGISTER)
    # the de-REGISTER: challenged like any REGISTER, then sent again with credentials
    unregistering = ("Unregistering", "UnregisterAuthenticating") if challenge else (
        "Unregistering",)
    for source in unregistering:
        rows.add(source, I.SERVER_SENDS_2XX, "Unregistered", _status(200), _REF_REGISTER,
                 note="a registrar may take a de-REGISTER without a challenge" if (
                     challenge and source == "Unregistering") else "", status=200)
        if challenge:
            rows.add(source, I.SERVER_SENDS_CHALLENGE, "UnregisterChallenged",
                     _status(challenge),
                     _REF_DIGEST_AGAIN if source == "UnregisterAuthenticating" else _REF_DIGEST,
                     note=_AGAIN if source == "UnregisterAuthenticating" else "",
                     status=challenge)
        for failure, label in ((I.SERVER_SENDS_ERROR, "4xx-6xx"), (I.PHONE_TIMEOUT, "timeout")):
            rows.add(source, failure, "Unregistered", label, _REF_REGISTER,
                     note="the binding expires anyway")
    if challenge:
        rows.add("UnregisterChallenged", I.PHONE_SENDS_UNREGISTER, "UnregisterAuthenticating",
                 "REGISTER (Expires: 0, Authorization)" if challenge == 401
                 else "REGISTER (Expires: 0, Proxy-Authorization)", _REF_DIGEST)
    return rows.table("Unregistered", "Registered", ("Registered", "Unregistered", "RetryWait"))


# =========================================================================================
# the per-line setting (guide "Configuration"; protocol 5)

_REF_LINE = "guide Configuration; protocol 5"


def _line(profile: Profile) -> TransitionTable:
    rows = _Rows(MachineKey(profile.id, FlowKind.LINE))
    if not profile.gated:
        note = "not tied to the phone's feature-sync setting (guide Fortinet)"
        for setting in (I.PHONE_ENABLES_SYNC, I.PHONE_DISABLES_SYNC):
            rows.add("SyncAlwaysOn", setting, "SyncAlwaysOn", "setting changed (ignored)",
                     f"guide {profile.guide_section}", note=note)
        return rows.table("SyncAlwaysOn", "SyncAlwaysOn", ("SyncAlwaysOn",))
    rows.add("Local", I.PHONE_ENABLES_SYNC, "SyncEnabled", "SIP<n> Feature Sync: 1", _REF_LINE)
    rows.add("SyncEnabled", I.PHONE_DISABLES_SYNC, "Local", "SIP<n> Feature Sync: 0", _REF_LINE)
    rows.add("Local", I.PHONE_USER_CHANGE, "Local", "change executed locally", _REF_LINE,
             note="sync off: no SUBSCRIBE, no code INVITE; server NOTIFYs are not applied")
    initial = "SyncEnabled" if profile.line.default_sync.value else "Local"
    return rows.table(initial, "SyncEnabled", ("Local", "SyncEnabled"))


# =========================================================================================
# the as-feature-event subscription (protocol 1.1-1.3; RFC 6665)

_REF_SUB = "protocol 1.1; RFC 6665 4.1"
_REF_FULL = "protocol 1.2 (full-state notify); RFC 6665 4.1.2.4 (NOTIFY may precede the 2xx)"


@dataclass(frozen=True)
class _Part:
    """One NOTIFY of an exchange: the state names around it and its ladder label."""

    awaiting: str  # answered, this NOTIFY not yet received
    notified: str  # this NOTIFY received, not yet answered
    received: str  # (before the 2xx) this NOTIFY received and answered
    label: str
    feature: Feature | None = None


def _notify_label(feature: Feature, detail: str = "") -> str:
    csta = feature.csta_forwarding_type
    event = "DoNotDisturbEvent" if csta is None else f"ForwardingEvent {csta}"
    return f"NOTIFY ({event}, {detail})" if detail else f"NOTIFY ({event})"


def _full_state_parts(afe: AfeSettings) -> list[_Part]:
    encoding = afe.notify.full_state.value
    if encoding is FullStateEncoding.PER_FEATURE:
        return [
            _Part(f"Awaiting{f.camel}State", f"{f.camel}StateNotified", f"{f.camel}StateReceived",
                  _notify_label(f, "full state"), f)
            for f in afe.notify.full_state_order.value
        ]
    body = ("multipart/mixed" if encoding is FullStateEncoding.MULTIPART
            else "concatenated documents: DEFECT")
    return [_Part("AwaitingFullState", "FullStateNotified", "FullStateReceived",
                  f"NOTIFY (full state, {body})")]


def _answer_and_notifies(
    rows: _Rows,
    start: State,
    parts: list[_Part],
    notify: Input,
    done: State,
    answer_status: int,
    *,
    answered_rows: bool = True,
) -> None:
    """The 2xx to a request and the NOTIFYs it triggers, in any order the wire allows.

    State = (2xx seen?, NOTIFYs answered k, one NOTIFY outstanding?). Before the 2xx the
    names start with ``start`` (``SubscribingFullStateNotified``); after it they are shared
    by every request that leads there (``answered_rows=False`` skips re-adding them).
    """
    count = len(parts)

    def name(answered: bool, k: int, pending: bool) -> State:
        if answered:
            if k == count:
                return done
            return parts[k].notified if pending else parts[k].awaiting
        if pending:
            return start + parts[k].notified
        return start if k == 0 else start + parts[k - 1].received

    for answered in (False, True):
        if answered and not answered_rows:
            continue
        for k in range(count + 1):
            for pending in (False, True):
                if (pending and k == count) or (answered and k == count):
                    continue
                source = name(answered, k, pending)
                if not answered:
                    rows.add(source, I.SERVER_SENDS_2XX, name(True, k, pending),
                             _status(answer_status), _REF_SUB, status=answer_status)
                if pending:
                    rows.add(source, I.PHONE_SENDS_200, name(answered, k + 1, False),
                             _status(200), _REF_FULL, status=200)
                elif k < count:
                    note = "" if answered else "NOTIFY overtook the 2xx (UDP)"
                    rows.add(source, notify, name(answered, k, True), parts[k].label,
                             _REF_FULL, note=note, feature=parts[k].feature)


def _subscription(profile: Profile, afe: AfeSettings) -> TransitionTable:
    rows = _Rows(MachineKey(profile.id, FlowKind.SUBSCRIPTION))
    answer = afe.subscribe.answer.value
    expires = afe.subscribe.expires.value
    subscribe = f"SUBSCRIBE (Event: {afe.event.value}, no body, Expires: {expires})"
    parts = _full_state_parts(afe)
    rows.add("Unsubscribed", I.PHONE_SENDS_SUBSCRIBE, "Subscribing", subscribe,
             "guide Which server uses which mechanism; " + _REF_SUB)
    _answer_and_notifies(rows, "Subscribing", parts, I.SERVER_SENDS_NOTIFY, "Active", answer)
    retry = afe.subscribe.retry_after_489.value
    rows.add("Subscribing", I.SERVER_SENDS_489, "RetryWait", _status(489), "protocol 1.3",
             note=f"no as-feature-event package; retry in about {retry} s", status=489)
    rows.add("Subscribing", I.SERVER_SENDS_ERROR, "RetryWait", "4xx-6xx", _REF_SUB)
    rows.add("Subscribing", I.PHONE_TIMEOUT, "RetryWait", "timeout (Timer F)", "protocol 1.3")

    rows.add("Active", I.PHONE_SENDS_SUBSCRIBE, "Refreshing", "SUBSCRIBE (refresh, no body)",
             "protocol 1.1 (a body-less refresh asks for the full state again)")
    _answer_and_notifies(rows, "Refreshing", parts, I.SERVER_SENDS_NOTIFY, "Active", answer,
                         answered_rows=False)
    rows.add("Refreshing", I.SERVER_SENDS_481, "Unsubscribed", _status(481), "RFC 6665 4.1.2.2",
             note="the subscription is gone: start a new one at once", status=481)
    rows.add("Refreshing", I.SERVER_SENDS_489, "RetryWait", _status(489), "RFC 6665 4.1.2.2",
             status=489)
    for failure, label in ((I.SERVER_SENDS_ERROR, "4xx-6xx"), (I.PHONE_TIMEOUT, "timeout")):
        rows.add("Refreshing", failure, "Active", label, "RFC 6665 4.1.2.2",
                 note="a failed refresh leaves the subscription valid until it expires")
    _answer_lost(rows, "Refreshing", parts)

    rows.add("Active", I.PHONE_SENDS_UNSUBSCRIBE, "Unsubscribing", "SUBSCRIBE (Expires: 0)",
             "RFC 6665 4.1.2.3")
    final = [_Part("AwaitingFinalNotify", "FinalNotifyReceived", "FinalNotifyAnswered",
                   "NOTIFY (Subscription-State: terminated)")]
    _answer_and_notifies(rows, "Unsubscribing", final, I.SERVER_SENDS_NOTIFY_TERMINATED,
                         "Terminated", answer)
    for failure, label in ((I.SERVER_SENDS_481, _status(481)), (I.SERVER_SENDS_ERROR, "4xx-6xx"),
                           (I.PHONE_TIMEOUT, "timeout")):
        rows.add("Unsubscribing", failure, "Terminated", label, "RFC 6665 4.1.2.3")
    rows.add("Active", I.SERVER_SENDS_NOTIFY_TERMINATED, "TerminationNotified",
             "NOTIFY (Subscription-State: terminated)", "RFC 6665 4.2.2")
    rows.add("TerminationNotified", I.PHONE_SENDS_200, "Terminated", _status(200),
             "RFC 6665 4.2.2", status=200)
    for source in ("RetryWait", "Terminated"):
        rows.add(source, I.PHONE_SENDS_SUBSCRIBE, "Subscribing", subscribe + " (new dialog)",
                 _REF_SUB)
    _full_state_under_way(rows, parts, answer)
    return rows.table("Unsubscribed", "Active", ("Active", "Terminated", "RetryWait"))


_REF_NOTIFY_FAILS = "RFC 6665 4.2.2; RFC 5057 5.1"


def _answer_lost(rows: _Rows, request: str, parts: list[_Part]) -> None:
    """A refresh whose full-state NOTIFYs came but whose 2xx never did (its transaction
    times out): the NOTIFYs show the notifier took it, and a refresh that times out
    leaves the subscription (RFC 6665 4.1.2.2): as if the 2xx had come."""
    for k, part in enumerate(parts, 1):
        rows.add(request + part.received, I.PHONE_TIMEOUT,
                 parts[k].awaiting if k < len(parts) else "Active", "timeout (2xx lost)",
                 "RFC 6665 4.1.2.2", note="the NOTIFYs show the refresh was taken")


def _full_state_under_way(rows: _Rows, parts: list[_Part], answer: int) -> None:
    """What may happen while the full state is under way, the SUBSCRIBE answered (the
    notifier's view: it answers a SUBSCRIBE at once, then sends the parts one at a time).

    A part refused with an error leaves the subscription (RFC 5057: 400, 415, 500 end the
    transaction only) and the next part follows; a 481 also ends the subscription at the
    notifier, which then drops it with this run (RFC 6665 4.2.2). A part unanswered (Timer
    F) ends the subscription (RFC 6665 4.2.2). A refresh crossing the parts is legal: the
    full state starts over once the refresh is answered (the outstanding part's answer no
    longer counts, the parts not yet sent are dropped: ``Restarting``); an unsubscribe
    ends it. A crossing refresh refused or unanswered leaves the subscription and the full
    state under way; the phone, which no longer knows which part comes next, waits for the
    first again (a part it does not expect is a change: see the routing rule)."""
    restarting = "Restarting"
    for k, part in enumerate(parts):
        after = parts[k + 1].awaiting if k + 1 < len(parts) else "Active"
        rows.add(part.notified, I.PHONE_SENDS_ERROR, after, "4xx-6xx", _REF_NOTIFY_FAILS,
                 note="the phone refused this part: the subscription stays (a 481 ends it "
                 "at the notifier)", feature=part.feature)
        rows.add(part.notified, I.SERVER_TIMEOUT, "Terminated", "timeout (Timer F)",
                 _REF_NOTIFY_FAILS, note="an unanswered NOTIFY ends the subscription")
        for source in (part.awaiting, part.notified):
            rows.add(source, I.PHONE_SENDS_SUBSCRIBE, restarting,
                     "SUBSCRIBE (refresh, no body)", "RFC 6665 4.1.2.2",
                     note="a refresh crossing the full state: it starts over")
            rows.add(source, I.PHONE_SENDS_UNSUBSCRIBE, "Unsubscribing",
                     "SUBSCRIBE (Expires: 0)", "RFC 6665 4.1.2.3",
                     note="an unsubscribe crossing the full state ends it")
    _answer_and_notifies(rows, restarting, parts, I.SERVER_SENDS_NOTIFY, "Active", answer,
                         answered_rows=False)
    rows.add(restarting, I.SERVER_SENDS_481, "Unsubscribed", _status(481), "RFC 6665 4.1.2.2",
             note="the subscription is gone: start a new one at once", status=481)
    rows.add(restarting, I.SERVER_SENDS_489, "RetryWait", _status(489), "RFC 6665 4.1.2.2",
             status=489)
    for failure, label in ((I.SERVER_SENDS_ERROR, "4xx-6xx"), (I.PHONE_TIMEOUT, "timeout")):
        rows.add(restarting, failure, parts[0].awaiting, label, "RFC 6665 4.1.2.2",
                 note="a failed refresh leaves the subscription and the full state under way")
    _answer_lost(rows, restarting, parts)


# =========================================================================================
# feature flows over as-feature-event (guide BroadSoft / Metaswitch / Fortinet)


def _afe_ref(profile: Profile, feature: Feature, direction: Direction) -> str:
    step = "1" if direction is Direction.SERVER else "2"
    return f"guide {profile.guide_section}: {_FEATURE_TITLES[feature]} {step}; protocol 1"


def _set_label(feature: Feature) -> str:
    csta = feature.csta_forwarding_type
    return "SUBSCRIBE (SetDoNotDisturb)" if csta is None else f"SUBSCRIBE (SetForwarding {csta})"


def _afe_server(profile: Profile, feature: Feature, afe: AfeSettings) -> TransitionTable:
    ref = _afe_ref(profile, feature, Direction.SERVER)
    rows = _Rows(MachineKey.flow(profile.id, feature, Direction.SERVER))
    rows.add("Idle", I.SERVER_ADMIN_CHANGE, "ChangedOnServer",
             f"{_FEATURE_TITLES[feature]} changed on the server", ref)
    rows.add("ChangedOnServer", I.SERVER_SENDS_NOTIFY, "NotifySent", _notify_label(feature),
             ref + ".2", note="only the affected feature, to every subscription of the user")
    rows.add("NotifySent", I.PHONE_SENDS_200, SYNCED, _status(200), ref,
             note="the phone applies the state", status=200)
    rows.add("NotifySent", I.PHONE_SENDS_ERROR, FAILED, "4xx-6xx", ref,
             note="the phone refused the NOTIFY: states differ")
    rows.add("NotifySent", I.SERVER_TIMEOUT, FAILED, "timeout (Timer F)", "RFC 3261 17.1.2.2")
    return rows.table("Idle", SYNCED, (SYNCED, FAILED), Mechanism.AS_FEATURE_EVENT)


def _afe_phone(profile: Profile, feature: Feature, afe: AfeSettings) -> TransitionTable:
    ref = _afe_ref(profile, feature, Direction.PHONE)
    rows = _Rows(MachineKey.flow(profile.id, feature, Direction.PHONE))
    mode = profile.policy.mode.value
    in_dialog = "inside the subscription dialog" if afe.set_request.in_dialog.value else (
        "in a new dialog")
    rows.add("Idle", I.PHONE_USER_CHANGE, "ChangedLocally",
             f"{_FEATURE_TITLES[feature]} changed at the phone", ref,
             note="the indicator shows the new state until the server confirms")
    rows.add("ChangedLocally", I.PHONE_SENDS_SUBSCRIBE_SET, "SetRequestSent", _set_label(feature),
             ref + ".1", note=f"a set request, {in_dialog}")
    reverted = "the phone reverts its indicator"
    if mode is PolicyMode.ERROR:
        status = profile.policy.error_status.value
        rows.add("SetRequestSent", I.SERVER_SENDS_ERROR, FAILED, _status(status),
                 "protocol 1.2 (policy)", note=f"policy error: {reverted}", status=status)
        rows.add("SetRequestSent", I.PHONE_TIMEOUT, FAILED, "timeout (Timer F)",
                 "RFC 3261 17.1.2.2", note=reverted)
        return rows.table("Idle", FAILED, (FAILED,), Mechanism.AS_FEATURE_EVENT)

    answer = afe.set_request.answer.value
    if mode is PolicyMode.ACCEPT:
        confirm, end, word = I.SERVER_SENDS_NOTIFY, SYNCED, "Confirm"
        notify_label = _notify_label(feature, "new state")
        end_note = "synced: phone and server agree on the new state"
    else:
        confirm, end, word = I.SERVER_SENDS_NOTIFY_OLD_STATE, REVERTED, "Rejection"
        notify_label = _notify_label(feature, "OLD state")
        end_note = f"policy rejection: {reverted} (protocol 1.2)"
    early = f"{word}BeforeAnswer"
    early_done = "ConfirmedAwaitingAnswer" if word == "Confirm" else "RejectedAwaitingAnswer"
    received = f"{word}Received"
    rows.add("SetRequestSent", I.SERVER_SENDS_2XX, "AwaitingConfirm", _status(answer),
             ref, status=answer)
    rows.add("SetRequestSent", confirm, early, notify_label, _REF_FULL,
             note="the NOTIFY overtook the 2xx (UDP)")
    bad_body = afe.set_request.bad_body_answer
    rows.add("SetRequestSent", I.SERVER_SENDS_ERROR, FAILED, "4xx-6xx", "protocol 1.3",
             note=f"e.g. {bad_body.value} for an unparsable body; {reverted}" if bad_body
             else reverted)
    rows.add("SetRequestSent", I.PHONE_TIMEOUT, FAILED, "timeout (Timer F)", "RFC 3261 17.1.2.2",
             note=reverted)
    rows.add("AwaitingConfirm", confirm, received, notify_label, ref + ".2")
    wait = afe.set_request.confirm_timeout
    rows.add("AwaitingConfirm", I.PHONE_TIMEOUT, FAILED,
             f"no NOTIFY within {wait.value} s" if wait else "no NOTIFY", ref,
             note=f"no confirmation: {reverted}")
    rows.add(received, I.PHONE_SENDS_200, end, _status(200), ref, note=end_note, status=200)
    rows.add(received, I.PHONE_SENDS_ERROR, FAILED, "4xx-6xx", ref,
             note="the phone could not read the confirmation")
    rows.add(received, I.SERVER_TIMEOUT, FAILED, "timeout (Timer F)",
             "RFC 3261 17.1.2.2; RFC 6665 4.2.2",
             note="the confirmation went unanswered: the notifier ends the subscription; "
             "the phone, unconfirmed, reverts")
    rows.add(early, I.PHONE_SENDS_200, early_done, _status(200), ref, status=200)
    rows.add(early, I.SERVER_SENDS_2XX, received, _status(answer), ref,
             note="the 2xx arrived before the phone answered the early NOTIFY", status=answer)
    rows.add(early, I.PHONE_SENDS_ERROR, FAILED, "4xx-6xx", ref,
             note="the phone could not read the confirmation")
    rows.add(early_done, I.SERVER_SENDS_2XX, end, _status(answer), ref, note=end_note,
             status=answer)
    rows.add(early_done, I.PHONE_TIMEOUT, end, "timeout (2xx lost)", ref,
             note="the NOTIFY already told the outcome")
    rows.add(early_done, I.SERVER_SENDS_ERROR, FAILED, "4xx-6xx", ref,
             note="the NOTIFY crossed the request (an administrator's change of the "
             f"feature), which failed all the same: {reverted} to what the NOTIFY said")
    return rows.table("Idle", end, (end, FAILED), Mechanism.AS_FEATURE_EVENT)


# =========================================================================================
# feature-code INVITE, phone -> server only (guide 3CX and Yeastar; protocol 3)


def _code_label(codes: FeatureCodes, feature: Feature) -> str:
    templates = " / ".join(entry.template.value for entry in codes.codes
                           if entry.feature is feature)
    return f"INVITE sip:<code>@domain with SDP ({templates})"


def _feature_code(profile: Profile, feature: Feature, codes: FeatureCodes) -> TransitionTable:
    ref = f"guide {profile.guide_section}; protocol 3"
    rows = _Rows(MachineKey.flow(profile.id, feature, Direction.PHONE))
    mode = profile.policy.mode.value
    challenge = codes.challenge.value
    rows.add("Idle", I.PHONE_USER_CHANGE, "ChangedLocally",
             f"{_FEATURE_TITLES[feature]} changed at the phone", ref)
    rows.add("ChangedLocally", I.PHONE_SENDS_INVITE, "Inviting", _code_label(codes, feature), ref)
    executed = [s for s in codes.executed_statuses.value if s != "2xx"]
    error_status = profile.policy.error_status.value if mode is PolicyMode.ERROR else None
    reject_note = (
        "policy reject is invisible to a one-way mechanism: the PBX answers and ignores it"
        if mode is PolicyMode.REJECT else ""
    )

    def outcomes(source: State) -> None:
        if source != "Proceeding":
            rows.add(source, I.SERVER_SENDS_1XX, "Proceeding", "100 Trying / 18x", ref)
        else:
            rows.add(source, I.SERVER_SENDS_1XX, "Proceeding", "18x", ref)
        if error_status is None:
            rows.add(source, I.SERVER_SENDS_2XX, "Answered", _status(200), ref,
                     note=reject_note or "the PBX executed the code", status=200)
            if executed:
                rows.add(source, I.SERVER_SENDS_FINAL_EXECUTED, SYNCED,
                         f"final {'/'.join(executed)}", ref + " (executed_statuses)",
                         note="the PBX executed the code and ended the call")
        if challenge is not None:
            if source == "Authenticating":
                rows.add(source, I.SERVER_SENDS_CHALLENGE, FAILED, _status(challenge),
                         _REF_DIGEST, note="credentials refused", status=challenge)
            else:
                note = "a proxy may send 100 Trying before its challenge" if (
                    source == "Proceeding") else ""
                rows.add(source, I.SERVER_SENDS_CHALLENGE, "Challenged", _status(challenge),
                         _REF_DIGEST, note=note, status=challenge)
        if error_status is not None:
            rows.add(source, I.SERVER_SENDS_ERROR, FAILED, _status(error_status),
                     "protocol 1.2 (policy)", note="policy error: the code was refused",
                     status=error_status)
        else:
            rows.add(source, I.SERVER_SENDS_ERROR, FAILED, "4xx-6xx", ref,
                     note="code not executed (e.g. not provisioned): states differ")
        rows.add(source, I.PHONE_TIMEOUT, FAILED, "timeout (Timer B)", "RFC 3261 17.1.1.2")

    outcomes("Inviting")
    outcomes("Proceeding")
    if challenge is not None:
        rows.add("Challenged", I.PHONE_SENDS_INVITE, "Authenticating",
                 "INVITE (Authorization)" if challenge == 401 else "INVITE (Proxy-Authorization)",
                 _REF_DIGEST)
        outcomes("Authenticating")
    if error_status is not None:
        return rows.table("Idle", FAILED, (FAILED,), Mechanism.FEATURE_CODE)
    rows.add("Answered", I.PHONE_SENDS_ACK, "InCall", "ACK", "RFC 3261 13.2.2.4")
    rows.add("InCall", I.PHONE_SENDS_BYE, "HangingUp", "BYE", ref,
             note="the phone hangs up at once: a background call")
    rows.add("InCall", I.SERVER_SENDS_BYE, "ServerHungUp", "BYE", ref,
             note="the PBX ended the call (after its confirmation tone)")
    rows.add("HangingUp", I.SERVER_SENDS_2XX, SYNCED, _status(200), ref, status=200)
    for failure, label in ((I.SERVER_SENDS_ERROR, "4xx-6xx"), (I.PHONE_TIMEOUT, "timeout")):
        rows.add("HangingUp", failure, SYNCED, label, ref,
                 note="the code was executed at the 2xx; the BYE outcome does not matter")
    rows.add("ServerHungUp", I.PHONE_SENDS_200, SYNCED, _status(200), ref, status=200)
    # the ACK lost or overtaken by the BYE (the PBX's side): as long as the canonical
    # ladder, so the happy path stays ACK, BYE, 200
    rows.add("Answered", I.PHONE_SENDS_BYE, "ByeBeforeAck", "BYE (before the ACK)",
             "RFC 3261 12.1.1, 15.1.2",
             note="the ACK was lost or overtaken: the dialog is confirmed at the PBX's 2xx, "
                  "so it takes the BYE all the same")
    rows.add("ByeBeforeAck", I.SERVER_SENDS_2XX, "AwaitingLateAck", _status(200), ref,
             note="the PBX still resends its 2xx until the ACK arrives", status=200)
    rows.add("AwaitingLateAck", I.PHONE_SENDS_ACK, SYNCED, "ACK (of a resent 2xx)",
             "RFC 3261 13.2.2.4", note="the code was executed at the 2xx")
    rows.add("AwaitingLateAck", I.SERVER_TIMEOUT, SYNCED, "no ACK within 64*T1",
             "RFC 3261 13.3.1.4", note="the code was executed at the 2xx")
    return rows.table("Idle", SYNCED, (SYNCED, FAILED), Mechanism.FEATURE_CODE)


# =========================================================================================
# 3CX uaCSTA (guide note on 3CX; protocol 4): informational only

_REF_UACSTA = "guide 3CX and Yeastar (note on uaCSTA); protocol 4"


def _uacsta_session(profile: Profile) -> TransitionTable:
    rows = _Rows(MachineKey(profile.id, FlowKind.UACSTA_SESSION))
    rows.add("NoSession", I.SERVER_SENDS_INVITE, "SessionOffered", "INVITE (uaCSTA session)",
             _REF_UACSTA, note="after registration")
    rows.add("SessionOffered", I.PHONE_SENDS_200, "SessionAnswered", _status(200), _REF_UACSTA,
             status=200)
    rows.add("SessionOffered", I.PHONE_SENDS_ERROR, FAILED, "4xx-6xx", _REF_UACSTA,
             note="the phone does not take uaCSTA")
    rows.add("SessionOffered", I.SERVER_TIMEOUT, FAILED, "timeout (Timer B)", "RFC 3261 17.1.1.2")
    rows.add("SessionAnswered", I.SERVER_SENDS_ACK, "SessionUp", "ACK", "RFC 3261 13.2.2.4")
    rows.add("SessionUp", I.SERVER_SENDS_INFO, "MonitorRequested", "INFO (MonitorStart)",
             _REF_UACSTA)
    rows.add("MonitorRequested", I.PHONE_SENDS_200, "Monitoring", _status(200), _REF_UACSTA,
             status=200)
    rows.add("MonitorRequested", I.PHONE_SENDS_ERROR, FAILED, "4xx-6xx", _REF_UACSTA)
    rows.add("MonitorRequested", I.SERVER_TIMEOUT, FAILED, "timeout (Timer F)",
             "RFC 3261 17.1.2.2")
    rows.add("Monitoring", I.SERVER_SENDS_BYE, "ServerClosing", "BYE", _REF_UACSTA)
    rows.add("ServerClosing", I.PHONE_SENDS_200, "Closed", _status(200), _REF_UACSTA, status=200)
    rows.add("Monitoring", I.PHONE_SENDS_BYE, "PhoneClosing", "BYE", _REF_UACSTA)
    rows.add("PhoneClosing", I.SERVER_SENDS_2XX, "Closed", _status(200), _REF_UACSTA, status=200)
    rows.add("PhoneClosing", I.PHONE_TIMEOUT, "Closed", "timeout", _REF_UACSTA)
    return rows.table("NoSession", "Monitoring", ("Monitoring", "Closed", FAILED))


def _uacsta_info(profile: Profile, feature: Feature) -> TransitionTable:
    assert profile.uacsta is not None
    answer = profile.uacsta.info_answer.value
    document = profile.uacsta.dnd_document.value if profile.uacsta.dnd_document else "ECMA-323"
    rows = _Rows(MachineKey.flow(profile.id, feature, Direction.SERVER))
    unchanged = "informational: the phone's state stays as it was (guide note on 3CX)"
    rows.add("Idle", I.SERVER_ADMIN_CHANGE, "ChangedOnServer",
             f"{_FEATURE_TITLES[feature]} changed on the server", _REF_UACSTA)
    rows.add("ChangedOnServer", I.SERVER_SENDS_INFO, "InfoSent",
             f"INFO ({document}, application/csta+xml)", _REF_UACSTA)
    rows.add("InfoSent", I.PHONE_SENDS_200, INFORMED, _status(answer), _REF_UACSTA,
             note=unchanged, status=answer)
    rows.add("InfoSent", I.PHONE_SENDS_ERROR, INFORMED, "4xx-6xx", _REF_UACSTA,
             note="any final answer will do (protocol 4); " + unchanged)
    rows.add("InfoSent", I.SERVER_TIMEOUT, FAILED, "timeout (Timer F)", "RFC 3261 17.1.2.2")
    return rows.table("Idle", INFORMED, (INFORMED, FAILED), Mechanism.UACSTA)


# =========================================================================================
# all machines of a profile


def flow_table(profile: Profile, feature: Feature, direction: Direction) -> TransitionTable:
    """The table of one feature flow; KeyError when the profile does not sync it that way."""
    spec = profile.feature(feature)
    mechanism = spec.mechanism(direction) if spec else None
    if mechanism is Mechanism.AS_FEATURE_EVENT:
        assert profile.afe is not None
        if direction is Direction.SERVER:
            return _afe_server(profile, feature, profile.afe)
        return _afe_phone(profile, feature, profile.afe)
    if mechanism is Mechanism.FEATURE_CODE:
        assert profile.codes is not None
        return _feature_code(profile, feature, profile.codes)
    if mechanism is Mechanism.UACSTA:
        return _uacsta_info(profile, feature)
    raise KeyError(f"{profile.id} does not sync {feature.value} {direction.initiated}")


@functools.lru_cache(maxsize=64)
def _machines(profile: Profile) -> tuple[TransitionTable, ...]:
    tables = [_registration(profile), _line(profile)]
    if profile.afe is not None:
        tables.append(_subscription(profile, profile.afe))
    if profile.uacsta is not None and profile.uacsta.session_setup.value:
        tables.append(_uacsta_session(profile))
    for spec in profile.features:
        for direction in spec.directions:
            tables.append(flow_table(profile, spec.feature, direction))
    return tuple(tables)


def machines_for(profile: Profile) -> dict[MachineKey, TransitionTable]:
    """Every machine of ``profile``: lifecycles first (registration, line, subscription,
    uacsta-session), then each feature's flows (server-initiated before phone-initiated).
    Built once per profile (profiles are hashable) and returned as a fresh dict."""
    return {table.key: table for table in _machines(profile)}
