"""Regression suites as data: the test cases ``fsync generate`` writes, built from a profile
and its tables.

Each `Case` has a stable test-purpose id in the ETSI style (``TP/BSFT/DND/SRV/001``: the
profile's purpose code, the feature, SRV for server-initiated or PHN for phone-initiated;
``TP/BSFT/NEG/007`` for the system's negative cases), a purpose in words, the steps (typed
stimuli), what must hold afterwards (typed expectations) and the expected ladder: the
table's happy path for a flow, the table's shortest path through the rows a negative case
is about. A case is written only when the rows it is about exist in the profile's tables,
so the catalogue follows the spec: a registrar without a challenge gets no challenge case.

``templates.py`` renders the cases as pytest modules; :func:`run_case` runs one on a bench
in-process (the coverage test folds the steps in).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from fsync_model.agents.state import Change, FeatureName
from fsync_model.model import (
    FAILED,
    SYNCED,
    FlowKind,
    Input,
    MachineKey,
    Transition,
    TransitionTable,
    happy_path,
    machines_for,
    shortest_path,
)
from fsync_model.profile import Direction, Feature, Mechanism, PolicyMode, Profile
from fsync_model.testing.fixtures import (
    Answer,
    Bench,
    HoldBack,
    Mangle,
    Match,
    Provisional,
    Side,
    Swallow,
)
from fsync_model.testing.flows import DEFAULT_CHANGES
from fsync_model.testing.stimuli import (
    AdminChange,
    Advance,
    Arm,
    LinkFaults,
    Register,
    SetPolicy,
    SetSync,
    Settle,
    Start,
    Stimulus,
    Unregister,
    UserChange,
    python,
)

# ============================================================================ expectations


@dataclass(frozen=True)
class ExpectFlow:
    """The last run of ``key`` ended in ``end`` on ``sides`` (along ``path`` if given)."""

    key: str
    end: str
    path: tuple[str, ...] | None = None
    sides: tuple[Side, ...] = ("phone", "server")

    def apply(self, bench: Bench) -> None:
        bench.expect_flow(self.key, self.end, path=self.path, sides=self.sides)

    def target_call(self) -> str:
        extra = ""
        if self.path is not None:
            extra += f", path={python(self.path)}"
        if self.sides != ("phone", "server"):
            extra += f", sides={python(self.sides)}"
        return f"expect_flow({python(self.key)}, {python(self.end)}{extra})"


@dataclass(frozen=True)
class ExpectReached:
    """The row (``source``, ``input``) of ``key`` was taken by one of the agents."""

    key: str
    source: str
    input: str

    def apply(self, bench: Bench) -> None:
        bench.expect_reached(self.key, self.source, self.input)

    def target_call(self) -> str:
        return (f"expect_reached({python(self.key)}, {python(self.source)}, "
                f"{python(self.input)})")


@dataclass(frozen=True)
class ExpectState:
    """``side`` shows the value ``change`` sets."""

    side: Side
    change: Change

    def apply(self, bench: Bench) -> None:
        bench.expect_state(self.side, self.change)

    def target_call(self) -> str:
        return f"expect_state({python(self.side)}, {python(self.change)})"


@dataclass(frozen=True)
class ExpectProblem:
    """An agent reported ``rule``: the defect was detected, not just survived."""

    rule: str

    def apply(self, bench: Bench) -> None:
        bench.expect_problem(self.rule)

    def target_call(self) -> str:
        return f"expect_problem({python(self.rule)})"


@dataclass(frozen=True)
class Check:
    """Every oracle holds (``final``: the quiet-traffic ones too)."""

    final: bool = True

    def apply(self, bench: Bench) -> None:
        bench.check(final=self.final)

    def target_call(self) -> str:
        return "check(final=True)" if self.final else "check()"


Expectation = ExpectFlow | ExpectReached | ExpectState | ExpectProblem | Check


# ============================================================================ cases


@dataclass(frozen=True)
class CaseSetup:
    """How the bench is built for a case (the ``fsync_setup`` marker)."""

    sync: bool = True
    subscribe_expires: int | None = None

    def marker_arguments(self) -> str:
        args = []
        if not self.sync:
            args.append("sync=False")
        if self.subscribe_expires is not None:
            args.append(f"subscribe_expires={self.subscribe_expires}")
        return ", ".join(args)


@dataclass(frozen=True)
class Case:
    """One generated test (see the module docstring)."""

    tp: str
    title: str
    purpose: str
    module: str
    machine: str
    ladder: tuple[str, ...]
    steps: tuple[Stimulus, ...]
    expect: tuple[Expectation, ...]
    setup: CaseSetup = CaseSetup()
    #: the rows this case exists for (coverage)
    targets: tuple[tuple[str, str, str], ...] = ()

    @property
    def function(self) -> str:
        return "test_" + self.tp.lower().replace("/", "_")


@dataclass(frozen=True)
class Module:
    """One generated file: a flow of the system, or its negative cases."""

    name: str
    profile: Profile
    title: str
    cases: tuple[Case, ...]


def run_case(case: Case, profile: Profile, *, seed: int = 1) -> Bench:
    """Run ``case`` on a fresh bench and check its expectations (AssertionError when one
    fails). Returns the bench, for its steps."""
    bench = Bench(profile, seed=seed, sync=case.setup.sync,
                  subscribe_expires=case.setup.subscribe_expires)
    for step in case.steps:
        step.apply(bench)
    for expectation in case.expect:
        expectation.apply(bench)
    return bench


# ============================================================================ ladders


def ladder_lines(rows: Sequence[Transition]) -> tuple[str, ...]:
    """The rows as a ladder: ``phone -> server  SUBSCRIBE (SetDoNotDisturb)``, local
    events as ``phone           DND changed at the phone``."""
    out = []
    for row in rows:
        actor = row.input.actor.value
        if row.input.on_wire:
            peer = "server" if actor == "phone" else "phone"
            where = f"{actor} -> {peer}"
        else:
            where = actor
        out.append(f"{where:<16} {row.label}")
    return tuple(out)


def path_through(table: TransitionTable, rows: Sequence[Transition]) -> tuple[Transition, ...]:
    """The table's shortest run from its initial state through ``rows`` (in order) to a
    final state: the ladder a negative case expects."""
    path: list[Transition] = []
    state = table.initial
    for row in rows:
        way = () if state == row.source else shortest_path(table, state, row.source)
        if way is None:
            continue  # a row the other side takes (the two sides part ways there)
        path.extend(way)
        path.append(row)
        state = row.dest
    if state not in table.finals:
        best = shortest_path(table, state, table.goal)
        for final in sorted(table.finals):
            way = shortest_path(table, state, final)
            if best is None and way is not None:
                best = way
        path.extend(best or ())
    return tuple(path)


# ============================================================================ building

#: lets every transaction time out (64*T1) before the settle heals the network
WAIT = Advance(40.0, "transactions time out (64*T1)")


@dataclass
class _Builder:
    """Collects the cases of one module, numbering them in order."""

    profile: Profile
    module: str
    prefix: str
    cases: list[Case] = field(default_factory=list)

    def add(self, title: str, purpose: str, machine: MachineKey, rows: Sequence[Transition],
            steps: Sequence[Stimulus], expect: Sequence[Expectation], *,
            setup: CaseSetup = CaseSetup(), happy: bool = False) -> None:
        table = machines_for(self.profile)[machine]
        path = happy_path(table) if happy else path_through(table, rows)
        targets = tuple((str(machine), r.source, r.input.value) for r in rows)
        reached = tuple(ExpectReached(str(machine), r.source, r.input.value) for r in rows)
        self.cases.append(Case(
            tp=f"{self.prefix}/{len(self.cases) + 1:03d}", title=title, purpose=purpose,
            module=self.module, machine=str(machine), ladder=ladder_lines(path),
            steps=tuple(steps), expect=(*reached, *expect), setup=setup, targets=targets))


def _row(table: TransitionTable, source: str, input: Input) -> Transition | None:
    return table.transition(source, input) if table.allows(source, input) else None


def _rows(table: TransitionTable, *wanted: tuple[str, Input]) -> list[Transition] | None:
    """The rows, or None when the table lacks one of them (the case does not apply)."""
    rows = [_row(table, source, input) for source, input in wanted]
    return None if any(r is None for r in rows) else [r for r in rows if r is not None]


I = Input  # noqa: E741 - the catalogue reads like the tables


def _flow_case_builders(profile: Profile, feature: FeatureName, direction: Direction,
                        mechanism: Mechanism) -> _Builder:
    code = "SRV" if direction is Direction.SERVER else "PHN"
    module = f"test_{profile.id.replace('-', '_')}_{feature}_{code.lower()}"
    builder = _Builder(profile, module, f"TP/{profile.purpose_code}/{feature.upper()}/{code}")
    key = MachineKey.flow(profile.id, Feature(feature), direction)
    table = machines_for(profile)[key]
    change = DEFAULT_CHANGES[feature]
    off = Change(feature, False)
    actor = UserChange if direction is Direction.PHONE else AdminChange
    where = "at the phone" if direction is Direction.PHONE else "on the server"
    informational = mechanism is Mechanism.UACSTA
    goal = table.goal
    # the reference PBX challenges every code INVITE where the profile says so: its
    # happy path goes through the challenge
    challenge = _rows(table, ("Inviting", I.SERVER_SENDS_CHALLENGE))
    happy = path_through(table, challenge) if challenge else happy_path(table)
    happy_inputs = tuple(r.input.value for r in happy)

    def states(value: Change) -> list[Expectation]:
        if informational:
            return [ExpectState("server", value), ExpectState("phone", off)]
        return [ExpectState("phone", value), ExpectState("server", value)]

    what = "is shown on the phone, which keeps its own state (informational)" if (
        informational) else "reaches the other side, and both agree"
    builder.add(
        f"{change.describe()} {where} {what.split(',')[0]}",
        f"{change.describe()} is switched {where}; the exchange follows the guide's ladder "
        f"step for step and the change {what}.",
        key, challenge or [], [Start(), actor(change), Settle()],
        [ExpectFlow(str(key), goal, happy_inputs), *states(change), Check()],
        happy=not challenge)
    builder.add(
        f"{feature} switched on and off again {where}",
        f"{change.describe()} then {off.describe()} {where}: the deactivation goes the same "
        "way and both sides end with the feature off.",
        key, challenge or [], [Start(), actor(change), actor(off), Settle()],
        [ExpectFlow(str(key), goal), *states(off), Check()], happy=not challenge)
    if mechanism is Mechanism.AS_FEATURE_EVENT and direction is Direction.PHONE:
        _afe_phone_cases(builder, key, table, change)
    elif mechanism is Mechanism.AS_FEATURE_EVENT:
        _afe_server_cases(builder, key, table, change)
    elif mechanism is Mechanism.FEATURE_CODE:
        _code_cases(builder, key, table, change)
    elif mechanism is Mechanism.UACSTA:
        _uacsta_info_cases(builder, key, table, change)
    return builder


def _afe_phone_cases(b: _Builder, key: MachineKey, table: TransitionTable,
                     change: Change) -> None:
    rows = _rows(table, ("SetRequestSent", I.SERVER_SENDS_NOTIFY),
                 ("ConfirmBeforeAnswer", I.PHONE_SENDS_200),
                 ("ConfirmedAwaitingAnswer", I.SERVER_SENDS_2XX))
    if rows:
        b.add("the confirming NOTIFY overtakes the 2xx",
              "The server's 2xx to the set request is held back behind its confirming NOTIFY "
              "(RFC 6665 4.1.2.4 allows the NOTIFY first over UDP): the phone takes the "
              "confirmation, then the 2xx, and the change is synced.",
              key, rows, [Start(), Arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"),
                                                          Match("NOTIFY"))),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), SYNCED, sides=("phone",)), ExpectState("phone", change),
               Check()])
    rows = _rows(table, ("SetRequestSent", I.SERVER_SENDS_NOTIFY),
                 ("ConfirmedAwaitingAnswer", I.PHONE_TIMEOUT))
    if rows:
        b.add("the 2xx is lost after the confirming NOTIFY",
              "The 2xx to the set request never reaches the phone, the confirming NOTIFY "
              "does: when the transaction times out the phone keeps the change, since the "
              "NOTIFY already told the outcome.",
              key, rows, [Start(), Arm("phone", Swallow(Match("SUBSCRIBE", response="2xx"))),
                          UserChange(change), WAIT, Settle()],
              [ExpectFlow(str(key), SYNCED, sides=("phone",)), ExpectState("phone", change),
               Check()])
    rows = _rows(table, ("SetRequestSent", I.SERVER_SENDS_NOTIFY),
                 ("ConfirmBeforeAnswer", I.PHONE_SENDS_200),
                 ("ConfirmedAwaitingAnswer", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("an administrator's change crosses a refused set request",
              "The server refuses the set request (403), and the NOTIFY of an "
              "administrator's same change reaches the phone before the refusal: the phone "
              "takes the NOTIFY for the confirmation, then the refusal fails the change; "
              "the phone keeps what the NOTIFY said, the server's state.",
              key, rows, [Start(), Arm("server", Answer(Match("SUBSCRIBE", body=True), 403)),
                          Arm("phone", HoldBack(Match("SUBSCRIBE", response="4xx"),
                                                Match("NOTIFY"))),
                          UserChange(change), AdminChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), ExpectState("phone", change),
               ExpectState("server", change), Check()])
    rows = _rows(table, ("SetRequestSent", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("the server refuses the set request",
              "The server answers the set request 403: the flow fails and the phone puts its "
              "indicator back; phone and server still agree.",
              key, rows, [Start(), Arm("server", Answer(Match("SUBSCRIBE", body=True), 403)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)),
               ExpectState("phone", Change(change.feature, False)), Check()])
    rows = _rows(table, ("SetRequestSent", I.PHONE_TIMEOUT))
    if rows:
        b.add("the set request goes unanswered",
              "Every copy of the set request is lost: Timer F fires, the flow fails and the "
              "phone reverts.",
              key, rows, [Start(), Arm("server", Swallow(Match("SUBSCRIBE", body=True))),
                          UserChange(change), WAIT, Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)),
               ExpectState("phone", Change(change.feature, False)), Check()])
    rows = _rows(table, ("AwaitingConfirm", I.PHONE_TIMEOUT),
                 ("ConfirmReceived", I.PHONE_SENDS_200))
    if rows:
        b.add("the confirming NOTIFY never reaches the phone",
              "The confirming NOTIFY is answered on the path (an SBC) but never reaches the "
              "phone: the phone gives up after the confirm timeout and reverts; the next "
              "subscription refresh brings it the server's state.",
              key, rows, [Start(), Arm("phone", Answer(Match("NOTIFY"), 200)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), ExpectProblem("CONFIRM-TIMEOUT"),
               Check()])
    rows = _rows(table, ("AwaitingConfirm", I.PHONE_TIMEOUT),
                 ("ConfirmReceived", I.SERVER_TIMEOUT))
    if rows:
        b.add("the confirming NOTIFY goes unanswered",
              "Every copy of the confirming NOTIFY is lost: the phone gives up after the "
              "confirm timeout and reverts, the server's transaction times out and the "
              "subscription ends (RFC 6665 4.2.2); the phone's refresh is answered 481 and "
              "the new subscription's full state brings it the server's state.",
              key, rows, [Start(), Arm("phone", Swallow(Match("NOTIFY"))), UserChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), FAILED), ExpectProblem("CONFIRM-TIMEOUT"),
               ExpectState("phone", change), Check()])
    rows = _rows(table, ("ConfirmReceived", I.PHONE_SENDS_ERROR))
    if rows:
        b.add("the confirming NOTIFY is refused",
              "The confirming NOTIFY is answered 500: the server records the flow as failed; "
              "the next refresh reconciles the phone.",
              key, rows, [Start(), Arm("phone", Answer(Match("NOTIFY"), 500)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("server",)), ExpectProblem("PHONE-REFUSED"),
               Check()])


def _afe_server_cases(b: _Builder, key: MachineKey, table: TransitionTable,
                      change: Change) -> None:
    rows = _rows(table, ("NotifySent", I.PHONE_SENDS_ERROR))
    if rows:
        b.add("the phone refuses the change NOTIFY",
              "The change NOTIFY is answered 500: the server records the flow as failed and "
              "reports the refusal; the next subscription refresh resends the full state.",
              key, rows, [Start(), Arm("phone", Answer(Match("NOTIFY"), 500)),
                          AdminChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("server",)), ExpectProblem("PHONE-REFUSED"),
               ExpectState("phone", change), Check()])
    rows = _rows(table, ("NotifySent", I.SERVER_TIMEOUT))
    if rows:
        b.add("the change NOTIFY goes unanswered",
              "Every copy of the change NOTIFY is lost: the server's transaction times out "
              "and the subscription ends (RFC 6665 4.2.2); the phone's next refresh is "
              "answered 481 and it subscribes again, getting the full state.",
              key, rows, [Start(), Arm("phone", Swallow(Match("NOTIFY"))), AdminChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), FAILED, sides=("server",)), ExpectState("phone", change),
               Check()])
    rows = _rows(table, ("NotifySent", I.PHONE_SENDS_ERROR))
    if rows and change.feature == "dnd":
        b.add("the change NOTIFY has no namespace",
              "The change NOTIFY arrives without the ECMA-323 namespace (protocol 1: Polycom "
              "phones crash on it): the phone refuses it with 400 and reports the defect.",
              key, rows, [Start(), Arm("phone", Mangle(Match("NOTIFY"), "no-namespace")),
                          AdminChange(change), Settle()],
              [ExpectProblem("AFE-NS-MISSING"), ExpectProblem("PHONE-REFUSED"), Check()])


def _code_cases(b: _Builder, key: MachineKey, table: TransitionTable, change: Change) -> None:
    challenge = table.allows("Inviting", I.SERVER_SENDS_CHALLENGE)
    after = ("Proceeding", I.SERVER_SENDS_CHALLENGE) if challenge else (
        "Proceeding", I.SERVER_SENDS_2XX)
    rows = _rows(table, ("Inviting", I.SERVER_SENDS_1XX), ("Proceeding", I.SERVER_SENDS_1XX),
                 after)
    if rows:
        b.add("the PBX rings twice before it answers",
              "Two 180s come before the PBX's answer to the code INVITE: the call proceeds "
              "and the code is executed as usual.",
              key, rows, [Start(), Arm("server", Provisional(Match("INVITE"), repeat=2)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), SYNCED), ExpectState("server", change), Check()])
    rows = _rows(table, ("Authenticating", I.SERVER_SENDS_1XX), ("Proceeding", I.SERVER_SENDS_2XX))
    if rows:
        b.add("the PBX rings before answering the authenticated INVITE",
              "A 180 comes before the answer to the INVITE with credentials: the code is "
              "executed as usual.",
              key, rows, [Start(), Arm("server", Provisional(Match("INVITE"), skip=1)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), SYNCED), ExpectState("server", change), Check()])
    rows = _rows(table, ("Inviting", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("the PBX refuses the code",
              "The code INVITE is answered 403 (a code not provisioned, say): the flow "
              "fails, the phone reverts its indicator and reports the refusal.",
              key, rows, [Start(), Arm("server", Answer(Match("INVITE"), 403)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)),
               ExpectState("phone", Change(change.feature, False)), Check()])
    rows = _rows(table, ("Inviting", I.SERVER_SENDS_1XX), ("Proceeding", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("the PBX rings, then refuses",
              "A 180, then 486: the flow fails and the phone reverts.",
              key, rows, [Start(), Arm("server", Provisional(Match("INVITE"))),
                          Arm("server", Answer(Match("INVITE"), 486)), UserChange(change),
                          Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), Check()])
    rows = _rows(table, ("Inviting", I.PHONE_TIMEOUT))
    if rows:
        b.add("the code INVITE goes unanswered",
              "Every copy of the code INVITE is lost: Timer B fires, the flow fails and the "
              "phone reverts.",
              key, rows, [Start(), Arm("server", Swallow(Match("INVITE"))), UserChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)),
               ExpectState("phone", Change(change.feature, False)), Check()])
    rows = _rows(table, ("Authenticating", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("the PBX refuses the authenticated INVITE",
              "The INVITE with credentials is answered 403: the flow fails.",
              key, rows, [Start(), Arm("server", Answer(Match("INVITE"), 403, skip=1)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), Check()])
    status = 407 if table.allows("Inviting", I.SERVER_SENDS_CHALLENGE) and any(
        r.status == 407 for r in table.transitions) else 401
    rows = _rows(table, ("Authenticating", I.SERVER_SENDS_CHALLENGE))
    if rows:
        b.add("the PBX challenges the credentials again",
              f"The INVITE with credentials is challenged again ({status}, the same realm): "
              "the credentials were refused and the flow fails.",
              key, rows, [Start(), Arm("server", Answer(Match("INVITE"), status, skip=1)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), Check()])
    rows = _rows(table, ("Authenticating", I.PHONE_TIMEOUT))
    if rows:
        b.add("the authenticated INVITE goes unanswered",
              "Every copy of the INVITE with credentials is lost: Timer B fires and the "
              "flow fails.",
              key, rows, [Start(), Arm("server", Swallow(Match("INVITE"), skip=1)),
                          UserChange(change), WAIT, Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), Check()])
    rows = _rows(table, ("Inviting", I.SERVER_SENDS_2XX)) if challenge else None
    if rows:
        b.add("a PBX that answers without a challenge",
              "The code INVITE is answered 200 at once (no challenge, on the path): the "
              "phone ACKs and hangs up. That PBX never saw the code, so only the phone's "
              "side is checked.",
              key, rows, [Start(), Arm("server", Answer(Match("INVITE"), 200)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), SYNCED, sides=("phone",)), Check(final=False)])
    rows = _rows(table, ("HangingUp", I.SERVER_SENDS_ERROR))
    if rows:
        b.add("the PBX refuses the BYE",
              "The BYE after the code call is answered 481: the code was executed at the "
              "2xx, so the change stands.",
              key, rows, [Start(), Arm("server", Answer(Match("BYE"), 481)), UserChange(change),
                          Settle()],
              [ExpectFlow(str(key), SYNCED, sides=("phone",)), ExpectState("server", change),
               Check()])
    rows = _rows(table, ("HangingUp", I.PHONE_TIMEOUT))
    if rows:
        b.add("the BYE goes unanswered",
              "Every copy of the BYE is lost: the code was executed at the 2xx, so the "
              "change stands.",
              key, rows, [Start(), Arm("server", Swallow(Match("BYE"))), UserChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), SYNCED, sides=("phone",)), ExpectState("server", change),
               Check()])
    rows = _rows(table, ("Answered", I.PHONE_SENDS_BYE), ("AwaitingLateAck", I.SERVER_TIMEOUT))
    if rows:
        b.add("the ACK is lost: the PBX sees the BYE first",
              "Every copy of the ACK is lost (the phone ACKs each resent 2xx again): the BYE "
              "reaches the PBX while it still waits for the ACK. The dialog is confirmed at "
              "the PBX's 2xx (RFC 3261 12.1.1), so it answers the BYE; it resends the 2xx "
              "for 64*T1 and gives up. The change stands.",
              key, rows, [Start(), Arm("server", Swallow(Match("ACK"))), UserChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), SYNCED), ExpectState("server", change), Check()])
    rows = _rows(table, ("Answered", I.PHONE_SENDS_BYE), ("AwaitingLateAck", I.PHONE_SENDS_ACK))
    if rows:
        b.add("the ACK comes after the BYE",
              "The ACK is lost for a second: the PBX takes the BYE first, and the phone's ACK "
              "of a resent 2xx (RFC 3261 13.2.2.4) after it. The change stands.",
              key, rows, [Start(), Arm("server", Swallow(Match("ACK"), 1.0)),
                          UserChange(change), Settle()],
              [ExpectFlow(str(key), SYNCED), ExpectState("server", change), Check()])
    rows = _rows(table, ("Inviting", I.SERVER_SENDS_1XX), ("Proceeding", I.PHONE_TIMEOUT))
    if rows:
        b.add("the PBX rings and never answers",
              "A 180 comes, then nothing: Timer B stops at a provisional, so the phone gives "
              "the call 64*T1, then CANCELs it (RFC 3261 9.1); the flow fails, the phone "
              "reverts and reports it.",
              key, rows, [Start(), Arm("server", Provisional(Match("INVITE"))),
                          Arm("server", Swallow(Match("INVITE"))), UserChange(change), WAIT,
                          Settle()],
              [ExpectFlow(str(key), FAILED, sides=("phone",)), ExpectProblem("CODE-NO-ANSWER"),
               ExpectState("phone", Change(change.feature, False)), Check()])


def _uacsta_info_cases(b: _Builder, key: MachineKey, table: TransitionTable,
                       change: Change) -> None:
    rows = _rows(table, ("InfoSent", I.PHONE_SENDS_ERROR))
    if rows:
        b.add("the phone refuses the uaCSTA INFO",
              "The INFO is answered 500: any final answer will do (protocol 4), the server "
              "counts the phone as informed and the phone's state does not move.",
              key, rows, [Start(), Arm("phone", Answer(Match("INFO"), 500)),
                          AdminChange(change), Settle()],
              [ExpectFlow(str(key), "Informed", sides=("server",)),
               ExpectState("phone", Change(change.feature, False)), Check()])
    rows = _rows(table, ("InfoSent", I.SERVER_TIMEOUT))
    if rows:
        b.add("the uaCSTA INFO goes unanswered",
              "Every copy of the INFO is lost: the server's transaction times out.",
              key, rows, [Start(), Arm("phone", Swallow(Match("INFO"))), AdminChange(change),
                          WAIT, Settle()],
              [ExpectFlow(str(key), FAILED, sides=("server",)), Check()])


# ============================================================================ negative cases


def _negative_cases(profile: Profile) -> _Builder:
    b = _Builder(profile, f"test_{profile.id.replace('-', '_')}_neg",
                 f"TP/{profile.purpose_code}/NEG")
    machines = machines_for(profile)
    reg_key = MachineKey(profile.id, FlowKind.REGISTRATION)
    reg = machines[reg_key]
    refresh = Advance(float(round(profile.registration.expires.value * 0.9 + 0.5, 3)),
                      "registration refresh")
    registration: list[tuple[str, str, list[tuple[str, Input]], list[Stimulus]]] = [
        ("the registrar is down at first",
         "The first REGISTER is answered 503: the phone waits retry_after and registers.",
         [("Registering", I.SERVER_SENDS_ERROR), ("RetryWait", I.PHONE_SENDS_REGISTER)],
         [Arm("server", Answer(Match("REGISTER"), 503)), Start()]),
        ("the first REGISTER goes unanswered",
         "Every copy of the first REGISTER is lost: Timer F fires, the phone retries.",
         [("Registering", I.PHONE_TIMEOUT)],
         [Arm("server", Swallow(Match("REGISTER"))), Start()]),
        ("the authenticated REGISTER is refused",
         "The REGISTER with credentials is answered 503: the phone retries later.",
         [("Authenticating", I.SERVER_SENDS_ERROR)],
         [Arm("server", Answer(Match("REGISTER"), 503, skip=1)), Start()]),
        ("the authenticated REGISTER goes unanswered",
         "Every copy of the REGISTER with credentials is lost: the phone retries later.",
         [("Authenticating", I.PHONE_TIMEOUT)],
         [Arm("server", Swallow(Match("REGISTER"), skip=1)), Start()]),
        ("the credentials are refused",
         "The REGISTER with credentials is challenged again: the phone counts the "
         "credentials as refused and retries later.",
         [("Authenticating", I.SERVER_SENDS_CHALLENGE)],
         [Arm("server", Answer(Match("REGISTER"), reg_challenge(profile), skip=1)), Start()]),
        ("a refresh accepted without a challenge",
         "The registrar accepts the refresh at once (no stale nonce): the phone stays "
         "registered.",
         [("Refreshing", I.SERVER_SENDS_2XX)],
         [Start(), Arm("server", Answer(Match("REGISTER"), 200)), refresh]),
        ("a refresh refused",
         "The refresh is answered 503: the phone retries later and registers again.",
         [("Refreshing", I.SERVER_SENDS_ERROR)],
         [Start(), Arm("server", Answer(Match("REGISTER"), 503)), refresh]),
        ("a refresh unanswered",
         "Every copy of the refresh is lost: the phone retries later and registers again.",
         [("Refreshing", I.PHONE_TIMEOUT)],
         [Start(), Arm("server", Swallow(Match("REGISTER"))), refresh]),
    ]
    for title, purpose, wanted, steps in registration:
        rows = _rows(reg, *wanted)
        if rows:
            b.add(title, purpose, reg_key, rows, [*steps, WAIT, Settle()],
                  [ExpectFlow(str(reg_key), "Registered", sides=("phone",)), Check()])
    _unregister_cases(b, profile, reg_key, reg)
    if profile.afe is not None:
        _subscription_cases(b, profile)
        _body_cases(b, profile)
    if profile.uacsta is not None and profile.uacsta.session_setup.value:
        _uacsta_session_cases(b, profile)
    _line_cases(b, profile)
    _policy_cases(b, profile)
    _loss_case(b, profile)
    if profile.uacsta is not None and profile.uacsta.session_setup.value:
        _uacsta_session_timeout_case(b, profile)  # last: the earlier cases keep their ids
    return b


def _unregister_cases(b: _Builder, profile: Profile, reg_key: MachineKey,
                      reg: TransitionTable) -> None:
    """The phone unregisters (the line goes offline), whatever becomes of its de-REGISTER,
    then registers again."""
    challenge = reg_challenge(profile)
    removal: list[tuple[str, str, list[tuple[str, Input]], list[Stimulus]]] = [
        ("the phone unregisters",
         "The de-REGISTER is challenged and sent again with credentials; the registrar "
         "removes the binding.",
         [("Registered", I.PHONE_SENDS_UNREGISTER), ("Unregistering", I.SERVER_SENDS_CHALLENGE),
          ("UnregisterChallenged", I.PHONE_SENDS_UNREGISTER),
          ("UnregisterAuthenticating", I.SERVER_SENDS_2XX)], []),
        ("a de-REGISTER accepted without a challenge",
         "The registrar removes the binding at once.",
         [("Unregistering", I.SERVER_SENDS_2XX)],
         [Arm("server", Answer(Match("REGISTER"), 200))]),
        ("the de-REGISTER is refused",
         "The de-REGISTER is answered 503: the phone counts itself unregistered (the binding "
         "expires anyway).",
         [("Unregistering", I.SERVER_SENDS_ERROR)],
         [Arm("server", Answer(Match("REGISTER"), 503))]),
        ("the de-REGISTER goes unanswered",
         "Every copy of the de-REGISTER is lost: the phone counts itself unregistered.",
         [("Unregistering", I.PHONE_TIMEOUT)], [Arm("server", Swallow(Match("REGISTER")))]),
        ("the authenticated de-REGISTER is refused",
         "The de-REGISTER with credentials is answered 503.",
         [("UnregisterAuthenticating", I.SERVER_SENDS_ERROR)],
         [Arm("server", Answer(Match("REGISTER"), 503, skip=1))]),
        ("the authenticated de-REGISTER goes unanswered",
         "Every copy of the de-REGISTER with credentials is lost.",
         [("UnregisterAuthenticating", I.PHONE_TIMEOUT)],
         [Arm("server", Swallow(Match("REGISTER"), skip=1))]),
        ("the de-REGISTER's credentials are challenged again",
         "The de-REGISTER with credentials is challenged with the same nonce (refused): the "
         "phone gives up; registering again starts a new attempt.",
         [("UnregisterAuthenticating", I.SERVER_SENDS_CHALLENGE)],
         [Arm("server", Answer(Match("REGISTER"), challenge, skip=1))]),
    ]
    for title, purpose, wanted, arm in removal:
        rows = _rows(reg, *wanted)
        if rows:
            b.add(title, purpose, reg_key, rows,
                  [Start(), *arm, Unregister(), WAIT, Register(), WAIT, Settle()],
                  [ExpectFlow(str(reg_key), "Registered", sides=("phone",)), Check()])


def reg_challenge(profile: Profile) -> int:
    value = profile.registration.challenge.value
    return value if value is not None else 401


def _subscription_cases(b: _Builder, profile: Profile) -> None:
    afe = profile.afe
    assert afe is not None
    key = MachineKey(profile.id, FlowKind.SUBSCRIPTION)
    table = machines_for(profile)[key]
    short = CaseSetup(subscribe_expires=120)
    refresh = Advance(108.5, "subscription refresh")
    retry = float(afe.subscribe.retry_after_489.value)
    simple: list[tuple[str, str, list[tuple[str, Input]], list[Stimulus], CaseSetup]] = [
        ("the server does not know the package (489)",
         f"The SUBSCRIBE is answered 489 Bad Event (protocol 1.3): the phone waits about "
         f"{retry:g} s and subscribes again.",
         [("Subscribing", I.SERVER_SENDS_489), ("RetryWait", I.PHONE_SENDS_SUBSCRIBE)],
         [Arm("server", Answer(Match("SUBSCRIBE"), 489)), Start()], CaseSetup()),
        ("the SUBSCRIBE goes unanswered",
         "Every copy of the first SUBSCRIBE is lost: Timer F (and Timer N, RFC 6665 "
         "4.1.2.4) fires, the phone waits and subscribes again.",
         [("Subscribing", I.PHONE_TIMEOUT), ("RetryWait", I.PHONE_SENDS_SUBSCRIBE)],
         [Arm("server", Swallow(Match("SUBSCRIBE"), seconds=33.0)), Start()], CaseSetup()),
        ("the SUBSCRIBE is refused",
         "The SUBSCRIBE is answered 500: the phone waits and subscribes again.",
         [("Subscribing", I.SERVER_SENDS_ERROR)],
         [Arm("server", Answer(Match("SUBSCRIBE"), 500)), Start()], CaseSetup()),
        ("a refresh finds the subscription gone (481)",
         "The refresh is answered 481: the phone starts a new subscription at once.",
         [("Refreshing", I.SERVER_SENDS_481), ("Unsubscribed", I.PHONE_SENDS_SUBSCRIBE)],
         [Start(), Arm("server", Answer(Match("SUBSCRIBE"), 481)), refresh], short),
        ("a refresh answered 489",
         "The refresh is answered 489: the phone waits and subscribes again.",
         [("Refreshing", I.SERVER_SENDS_489)],
         [Start(), Arm("server", Answer(Match("SUBSCRIBE"), 489)), refresh], short),
        ("a refresh refused",
         "The refresh is answered 500: the subscription stays valid until it expires "
         "(RFC 6665 4.1.2.2).",
         [("Refreshing", I.SERVER_SENDS_ERROR)],
         [Start(), Arm("server", Answer(Match("SUBSCRIBE"), 500)), refresh], short),
        ("a refresh unanswered",
         "Every copy of the refresh is lost: the subscription stays valid until it "
         "expires.",
         [("Refreshing", I.PHONE_TIMEOUT)],
         [Start(), Arm("server", Swallow(Match("SUBSCRIBE"), seconds=33.0)),
          Advance(float(afe.subscribe.expires.value * 0.9 + 0.5), "subscription refresh")],
         CaseSetup()),
        ("the subscription expires at the server",
         "The refresh is refused and the subscription expires: the server ends it with a "
         "terminated NOTIFY (reason timeout) and the phone subscribes again.",
         [("Active", I.SERVER_SENDS_NOTIFY_TERMINATED),
          ("TerminationNotified", I.PHONE_SENDS_200), ("Terminated", I.PHONE_SENDS_SUBSCRIBE)],
         [Start(), Arm("server", Answer(Match("SUBSCRIBE"), 500)),
          Advance(121.0, "subscription expiry")], short),
    ]
    for title, purpose, wanted, steps, setup in simple:
        rows = _rows(table, *wanted)
        if rows:
            b.add(title, purpose, key, rows, [*steps, WAIT, Settle()],
                  [ExpectFlow(str(key), "Active", sides=("phone",)), Check()], setup=setup)
    parts = afe.notify.full_state_notifies
    for request, stimuli, setup in (
            ("Subscribing", [Start()], CaseSetup()),
            ("Refreshing", [Start(), refresh], short)):
        for k in range(1, parts + 1):
            early: list[tuple[str, Input]] = []
            state = request
            for _ in range(k):
                for step in (I.SERVER_SENDS_NOTIFY, I.PHONE_SENDS_200):
                    early.append((state, step))
                    state = table.dest(state, step)
            early.append((state, I.SERVER_SENDS_2XX))
            rows = _rows(table, *early)
            if not rows:
                continue
            many = f"{k} of {parts} full-state NOTIFYs" if parts > 1 else "the full-state NOTIFY"
            arm = Arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY"), k))
            steps = [arm, *stimuli] if request == "Subscribing" else [Start(), arm, refresh]
            b.add(f"{many} overtake the 2xx ({request.lower()})",
                  f"The 2xx to the {request.lower()} SUBSCRIBE is held back until {many} "
                  "arrived (RFC 6665 4.1.2.4): the subscription becomes active all the same.",
                  key, rows, [*steps, Settle()],
                  [ExpectFlow(str(key), "Active", sides=("phone",)), Check()], setup=setup)
    for k in range(1, parts + 1):
        state = "Refreshing"
        for _ in range(k):
            state = table.dest(table.dest(state, I.SERVER_SENDS_NOTIFY), I.PHONE_SENDS_200)
        rows = _rows(table, (state, I.PHONE_TIMEOUT))
        if not rows:
            continue
        many = f"{k} of {parts} full-state NOTIFYs" if parts > 1 else "the full-state NOTIFY"
        lost = [Arm("phone", Swallow(Match("NOTIFY"), skip=k))] if k < parts else []
        b.add(f"the 2xx of a refresh is lost after {many}",
              f"Every copy of the 2xx to the refresh is lost, {many} reach the phone: when "
              "the refresh times out the phone counts it as taken (the NOTIFYs show it).",
              key, rows, [Start(), Arm("phone", Swallow(Match("SUBSCRIBE", response="2xx"))),
                          *lost, refresh, WAIT, Settle()],
              [ExpectFlow(str(key), "Active", sides=("phone",)), Check()], setup=short)
    _full_state_cases(b, profile, key, table)
    rows = _rows(table, ("Active", I.PHONE_SENDS_UNSUBSCRIBE),
                 ("Unsubscribing", I.SERVER_SENDS_2XX),
                 ("AwaitingFinalNotify", I.SERVER_SENDS_NOTIFY_TERMINATED))
    if rows and profile.gated:
        b.add("feature sync switched off ends the subscription",
              "The line's feature sync is switched off: the phone unsubscribes (Expires: 0) "
              "and the server ends the subscription with a terminated NOTIFY.",
              key, rows, [Start(), SetSync(False), Settle()],
              [ExpectFlow(str(key), FINAL_NOTIFY, sides=("server",)), Check()])


FINAL_NOTIFY = "FinalNotifyReceived"


def _full_state_cases(b: _Builder, profile: Profile, key: MachineKey,
                      table: TransitionTable) -> None:
    """While the full state is under way: a part refused or unanswered, a refresh or an
    unsubscribe crossing it, a crossing refresh refused, unanswered, or overtaken."""
    afe = profile.afe
    assert afe is not None
    parts = afe.notify.full_state_notifies
    active: list[Expectation] = [ExpectFlow(str(key), "Active", sides=("phone",)), Check()]
    crossing = CaseSetup(subscribe_expires=20)
    cross = Advance(18.5, "subscription refresh, the full state outstanding")
    awaiting = table.dest("Subscribing", I.SERVER_SENDS_2XX)
    for k in range(parts):
        notified = table.dest(awaiting, I.SERVER_SENDS_NOTIFY)
        which = (f"full-state NOTIFY {k + 1} of {parts}" if parts > 1
                 else "the full-state NOTIFY")
        cases: list[tuple[str, str, list[tuple[str, Input]], list[Stimulus], CaseSetup,
                          list[Expectation]]] = [
            (f"{which} refused",
             f"The phone answers {which} 500: the subscription stays (RFC 5057) and the "
             "next part follows; the next refresh brings the full state again.",
             [(notified, I.PHONE_SENDS_ERROR)],
             [Arm("phone", Answer(Match("NOTIFY"), 500, skip=k)), Start(), Settle()],
             CaseSetup(), [ExpectProblem("PHONE-REFUSED"), *active]),
            (f"{which} unanswered",
             f"Every copy of {which} is lost: the server's transaction times out and the "
             "subscription ends (RFC 6665 4.2.2); the phone's refresh is answered 481 and "
             "it subscribes again.",
             [(notified, I.SERVER_TIMEOUT)],
             [Arm("phone", Swallow(Match("NOTIFY"), skip=k)), Start(), WAIT, Settle()],
             CaseSetup(), active),
            (f"a refresh crosses {which}",
             f"{which[0].upper()}{which[1:]} is held up on the way until after the refresh: "
             "the server answers the refresh and starts the full state over; the phone "
             "ends up with the full state all the same.",
             [(notified, I.PHONE_SENDS_SUBSCRIBE), ("Restarting", I.SERVER_SENDS_2XX)],
             [Arm("phone", Swallow(Match("NOTIFY"), 25.0, skip=k)), Start(), cross, Settle()],
             crossing, [ExpectReached(str(key), awaiting, I.PHONE_SENDS_SUBSCRIBE.value),
                        *active]),
        ]
        if profile.gated:
            cases.append((
                f"feature sync switched off while {which} is on its way",
                f"The phone unsubscribes before {which} reaches it: the server ends the "
                "subscription with a terminated NOTIFY.",
                [(notified, I.PHONE_SENDS_UNSUBSCRIBE)],
                [Arm("phone", Swallow(Match("NOTIFY"), 5.0, skip=k)), Start(), SetSync(False),
                 WAIT, Settle()], CaseSetup(),
                [ExpectReached(str(key), awaiting, I.PHONE_SENDS_UNSUBSCRIBE.value), Check()]))
        else:  # sync not gated by the line (Fortinet): the phone unsubscribes as it goes offline
            cases.append((
                f"the phone unregisters while {which} is on its way",
                f"The phone goes offline before {which} reaches it: it unsubscribes, and "
                "the server ends the subscription with a terminated NOTIFY.",
                [(notified, I.PHONE_SENDS_UNSUBSCRIBE)],
                [Arm("phone", Swallow(Match("NOTIFY"), 5.0, skip=k)), Start(), Unregister(),
                 WAIT, Settle()], CaseSetup(),
                [ExpectReached(str(key), awaiting, I.PHONE_SENDS_UNSUBSCRIBE.value), Check()]))
        for title, purpose, wanted, steps, setup, expect in cases:
            rows = _rows(table, *wanted)
            if rows:
                b.add(title, purpose, key, rows, steps, expect, setup=setup)
        awaiting = table.dest(notified, I.PHONE_SENDS_200)
    first = table.dest("Subscribing", I.SERVER_SENDS_2XX)
    held = Arm("phone", Swallow(Match("NOTIFY"), 25.0))
    refused: list[tuple[str, str, Input, int | None]] = [
        ("a refresh crossing the full state finds the subscription gone (481)",
         "the phone starts a new subscription at once", I.SERVER_SENDS_481, 481),
        ("a refresh crossing the full state is answered 489",
         "the phone waits and subscribes again", I.SERVER_SENDS_489, 489),
        ("a refresh crossing the full state is refused",
         "the subscription and the full state under way stay; the phone waits for its first "
         "part again", I.SERVER_SENDS_ERROR, 500),
        ("a refresh crossing the full state goes unanswered",
         "the full state under way stays; the phone waits for its first part again",
         I.PHONE_TIMEOUT, None)]
    for title, outcome, input, status in refused:
        rows = _rows(table, (first, I.PHONE_SENDS_SUBSCRIBE), ("Restarting", input))
        if not rows:
            continue
        if status is not None:
            steps = [held, Arm("server", Answer(Match("SUBSCRIBE", body=False), status,
                                                skip=1)), Start(), cross, WAIT, Settle()]
            setup = crossing
        else:
            # the refresh must time out (Timer F) while the subscription is still valid at
            # the phone (a long one) and after the first full state (Timer N): the full
            # state of a first refresh is lost, the second refresh gets no answer
            steps = [Start(), Advance(355.0, "the subscription is active"),
                     Arm("phone", Swallow(Match("NOTIFY"), 380.0)),
                     Arm("server", Swallow(Match("SUBSCRIBE", body=False), skip=1)),
                     Advance(400.0, "a refresh loses its full state, the next is lost"),
                     WAIT, Settle()]
            setup = CaseSetup(subscribe_expires=400)
        b.add(title, f"The full state is held up on the way and the refresh that crosses it "
              f"{'is answered ' + str(status) if status else 'gets no answer'}: {outcome}.",
              key, rows, steps, active, setup=setup)
    rows = _rows(table, (first, I.PHONE_SENDS_SUBSCRIBE), ("Restarting", I.SERVER_SENDS_NOTIFY))
    if rows:
        after = table.dest("Restarting", I.SERVER_SENDS_NOTIFY)
        rows += _rows(table, (after, I.PHONE_SENDS_200),
                      (table.dest(after, I.PHONE_SENDS_200), I.SERVER_SENDS_2XX)) or []
        b.add("the full state overtakes the 2xx of a refresh crossing it",
              "The full state is held up until after the refresh, and the refresh's 2xx is "
              "held back behind it (RFC 6665 4.1.2.4): the subscription becomes active all "
              "the same.",
              key, rows, [held, Start(),
                          Arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"),
                                                Match("NOTIFY"))), cross,
                          Advance(12.0, "the full state gets through"), Settle()],
              active, setup=crossing)


def _body_cases(b: _Builder, profile: Profile) -> None:
    key = MachineKey.flow(profile.id, Feature.CFNA, Direction.SERVER)
    if key not in machines_for(profile):
        return
    table = machines_for(profile)[key]
    rows = _rows(table, ("NotifySent", I.PHONE_SENDS_ERROR)) or []
    change = DEFAULT_CHANGES["cfna"]
    for defect, rule in (("bool-literal", "AFE-BOOL-LITERAL"),
                         ("bad-forwarding-type", "AFE-FWDTYPE-UNKNOWN"),
                         ("ring-count-range", "AFE-RINGCOUNT-RANGE"),
                         ("garbage", "XML-MALFORMED")):
        b.add(f"a change NOTIFY with a bad body ({defect})",
              f"The change NOTIFY's body is damaged ({defect}): the phone refuses it, reports "
              f"{rule}, and the next refresh brings the server's state.",
              key, rows, [Start(), Arm("phone", Mangle(Match("NOTIFY"), defect)),
                          AdminChange(change), Settle()],
              [ExpectProblem(rule), Check()])
    phone_key = MachineKey.flow(profile.id, Feature.CFNA, Direction.PHONE)
    phone_table = machines_for(profile)[phone_key]
    rows = _rows(phone_table, ("SetRequestSent", I.SERVER_SENDS_ERROR)) or []
    b.add("a set request with a bad body",
          "The set request's body reaches the server with True for true: a strict server "
          "refuses it and the phone reverts.",
          phone_key, rows, [Start(), Arm("server", Mangle(Match("SUBSCRIBE", body=True),
                                                          "bool-literal")),
                            UserChange(change), Settle()],
          [ExpectProblem("AFE-BOOL-LITERAL"), ExpectFlow(str(phone_key), FAILED,
                                                         sides=("phone",)), Check()])
    assert profile.afe is not None
    high = profile.afe.ring_count.max.value
    b.add("a ring count outside the server's range",
          f"The user sets {high + 1} rings: the server refuses the set request (range "
          f"{profile.afe.ring_count.min.value}-{high}) and the phone reverts.",
          phone_key, rows, [Start(), UserChange(Change("cfna", True, "3000", high + 1)),
                            Settle()],
          [ExpectProblem("AFE-RINGCOUNT-RANGE"),
           ExpectFlow(str(phone_key), FAILED, sides=("phone",)),
           ExpectState("phone", Change("cfna", False)), Check()])


def _uacsta_session_cases(b: _Builder, profile: Profile) -> None:
    key = MachineKey(profile.id, FlowKind.UACSTA_SESSION)
    table = machines_for(profile)[key]
    cases: list[tuple[str, str, list[tuple[str, Input]], Arm]] = [
        ("the phone refuses the uaCSTA session",
         "The phone answers the session INVITE 488: the server counts uaCSTA as failed.",
         [("SessionOffered", I.PHONE_SENDS_ERROR)],
         Arm("phone", Answer(Match("INVITE"), 488))),
        ("the phone refuses MonitorStart",
         "The phone answers the MonitorStart INFO 500: monitoring fails.",
         [("MonitorRequested", I.PHONE_SENDS_ERROR)], Arm("phone", Answer(Match("INFO"), 500))),
        ("MonitorStart goes unanswered",
         "Every copy of the MonitorStart INFO is lost: the server's transaction times out.",
         [("MonitorRequested", I.SERVER_TIMEOUT)], Arm("phone", Swallow(Match("INFO")))),
    ]
    for title, purpose, wanted, arm in cases:
        rows = _rows(table, *wanted)
        if rows:
            b.add(title, purpose, key, rows, [arm, Start(), WAIT, Settle()],
                  [ExpectFlow(str(key), FAILED, sides=("server",)), Check()])


def _uacsta_session_timeout_case(b: _Builder, profile: Profile) -> None:
    key = MachineKey(profile.id, FlowKind.UACSTA_SESSION)
    rows = _rows(machines_for(profile)[key], ("SessionOffered", I.SERVER_TIMEOUT))
    if rows:
        b.add("the uaCSTA session INVITE goes unanswered",
              "Every copy of the session INVITE is lost: Timer B fires and the server counts "
              "uaCSTA as failed; a DND change still reaches the phone as an INFO outside a "
              "dialog.", key, rows, [Arm("phone", Swallow(Match("INVITE"))), Start(), WAIT,
                                     Settle()],
              [ExpectFlow(str(key), FAILED, sides=("server",)),
               ExpectProblem("PHONE-TIMEOUT"), Check()])


def _line_cases(b: _Builder, profile: Profile) -> None:
    key = MachineKey(profile.id, FlowKind.LINE)
    table = machines_for(profile)[key]
    feature = next(s.feature.value for s in profile.features if s.phone is not None)
    change = DEFAULT_CHANGES[feature]
    rows = _rows(table, ("Local", I.PHONE_USER_CHANGE), ("Local", I.PHONE_ENABLES_SYNC))
    if rows:
        b.add("with feature sync off every change stays local",
              f"The line's feature sync is off (the default): {change.describe()} at the "
              "phone is applied locally and nothing goes to the server; switched on, the "
              "line syncs again.",
              key, rows, [Start(), UserChange(change), SetSync(True), Settle()],
              [ExpectState("phone", change) if profile.afe is None else
               ExpectState("server", Change(change.feature, False)), Check()],
              setup=CaseSetup(sync=False))
    rows = _rows(table, ("SyncAlwaysOn", I.PHONE_DISABLES_SYNC),
                 ("SyncAlwaysOn", I.PHONE_ENABLES_SYNC))
    if rows:
        b.add("the line setting does not gate sync",
              f"The line's feature sync is switched off, yet {change.describe()} at the phone "
              "still reaches the server (guide: not tied to the phone's setting); switched "
              "on again, nothing changes either.",
              key, rows, [Start(), SetSync(False), UserChange(change), SetSync(True), Settle()],
              [ExpectState("server", change), Check()])


def _policy_cases(b: _Builder, profile: Profile) -> None:
    spec = next((s for s in profile.features if s.phone is not None), None)
    if spec is None:
        return
    feature: FeatureName = spec.feature.value
    key = MachineKey.flow(profile.id, spec.feature, Direction.PHONE)
    change = DEFAULT_CHANGES[feature]
    reject = machines_for(profile.with_policy(PolicyMode.REJECT))[key]
    error = machines_for(profile.with_policy(PolicyMode.ERROR))[key]
    one_way = spec.phone is Mechanism.FEATURE_CODE
    b.add("the server's policy rejects the change",
          "The server accepts the request and does not apply it (policy reject): "
          + ("a one-way mechanism cannot tell, the phone keeps its change and the server "
             "its state." if one_way else "its confirming NOTIFY carries the old state and "
             "the phone reverts its indicator (protocol 1.2)."),
          key, [], [Start(), SetPolicy("reject"), UserChange(change), Settle()],
          [ExpectFlow(str(key), reject.goal),
           ExpectState("server", Change(feature, False)), Check()])
    b.add("the server's policy refuses the change",
          f"The server answers the request {profile.policy.error_status.value} (policy "
          "error): the flow fails and the phone reverts.",
          key, [], [Start(), SetPolicy("error"), UserChange(change), Settle()],
          [ExpectFlow(str(key), error.goal, sides=("phone",)),
           ExpectState("phone", Change(feature, False)), Check()])


def _loss_case(b: _Builder, profile: Profile) -> None:
    spec = next(s for s in profile.features if s.phone is not None)
    key = MachineKey.flow(profile.id, spec.feature, Direction.PHONE)
    change = DEFAULT_CHANGES[spec.feature.value]
    b.add("a change over a lossy link",
          "20 % of the datagrams are lost both ways: retransmissions carry the change "
          "through and both sides agree.",
          key, [], [Start(), LinkFaults(loss=0.2), UserChange(change), Advance(40.0),
                    Settle()],
          [ExpectState("phone", change), Check()])


# ============================================================================ the catalogue


def modules_for(profile: Profile) -> list[Module]:
    """Every generated module of ``profile``: one per (feature, direction) flow, then the
    system's negative cases."""
    from fsync_model.testing.flows import flows_of

    out = []
    for spec in flows_of(profile):
        builder = _flow_case_builders(profile, spec.feature, spec.direction, spec.mechanism)
        title = f"{profile.name}: {spec.feature} {spec.direction.initiated}"
        out.append(Module(builder.module, profile, title, tuple(builder.cases)))
    negative = _negative_cases(profile)
    out.append(Module(negative.module, profile, f"{profile.name}: negative cases",
                      tuple(negative.cases)))
    return out


def cases_for(profile: Profile) -> Iterator[Case]:
    for module in modules_for(profile):
        yield from module.cases
