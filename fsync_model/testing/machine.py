"""Property-based sequences: one Hypothesis ``RuleBasedStateMachine`` per profile, its rules
generated from what the profile declares.

:func:`machine_class` reads the profile (the same one the tables are built from): a feature
synced from the phone gets a "change it at the phone" rule, one synced from the server a
"change it on the server" rule, a gated line a sync toggle, a phone direction the server's
policy, an as-feature-event system the subscription refresh and a short expiry, a
feature-code system provisionals before the PBX answers. Every system gets time, the
registration refresh, the line going offline and back (unregister, register), network
faults (loss, duplication, reordering, delay, drops) and tamper faults (forged errors, lost
or held-back messages, damaged bodies). After every step
the oracles of ``oracles.py`` run; ``settle`` steps and the teardown add the checks that
need quiet traffic (convergence, every request answered).

Every step is recorded as a stimulus (``stimuli.py``), so when the oracles fail,
`SyncFailure` carries the shrunk sequence as data: :func:`explore` prints its ladder and,
given a folder, writes it as a plain pytest file (``replay.py``).

CI runs the ``fsync-ci`` settings profile (25 derandomized examples of up to 20 steps per
system); set ``FSYNC_HYPOTHESIS_PROFILE=fsync-deep`` (500 x 50, a new draw each run) or
``FSYNC_HYPOTHESIS_EXAMPLES=N`` for longer runs.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import fsync_model
from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureName
from fsync_model.profile import Profile
from fsync_model.testing.fixtures import (
    Answer,
    Bench,
    HoldBack,
    Mangle,
    Match,
    Provisional,
    Side,
    Swallow,
    TamperRule,
)
from fsync_model.testing.oracles import OracleFailure, Violation
from fsync_model.testing.stimuli import (
    AdminChange,
    Advance,
    Arm,
    DropNext,
    DuplicateNext,
    LinkFaults,
    Register,
    SetPolicy,
    SetSync,
    Settle,
    Stimulus,
    Unregister,
    UserChange,
    where,
)

# ============================================================================ settings

PROFILE_ENV = "FSYNC_HYPOTHESIS_PROFILE"
EXAMPLES_ENV = "FSYNC_HYPOTHESIS_EXAMPLES"
STEPS_ENV = "FSYNC_HYPOTHESIS_STEPS"

_COMMON: dict[str, Any] = {
    "deadline": None,
    # no "explain" phase: it re-runs the shrunk sequence many times to point at lines of
    # code, where the ladder and the replay file say more
    "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    "report_multiple_bugs": False,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much,
                              HealthCheck.data_too_large],
}
# CI: the same 25 examples every run (derandomized), so a red build is a change in the code,
# not the luck of the draw; fsync-deep explores anew each time
settings.register_profile("fsync-ci", max_examples=25, stateful_step_count=20,
                          derandomize=True, database=None, **_COMMON)
settings.register_profile("fsync-deep", max_examples=500, stateful_step_count=50,
                          derandomize=False, **_COMMON)


def fsync_settings(**overrides: Any) -> settings:
    """The settings of a property run: the ``fsync-ci`` profile unless
    ``$FSYNC_HYPOTHESIS_PROFILE`` names another; ``$FSYNC_HYPOTHESIS_EXAMPLES`` and
    ``$FSYNC_HYPOTHESIS_STEPS`` override its counts; ``overrides`` win over everything."""
    base = settings.get_profile(os.environ.get(PROFILE_ENV, "fsync-ci"))
    counts: dict[str, Any] = {}
    if os.environ.get(EXAMPLES_ENV):
        counts["max_examples"] = int(os.environ[EXAMPLES_ENV])
    if os.environ.get(STEPS_ENV):
        counts["stateful_step_count"] = int(os.environ[STEPS_ENV])
    return settings(base, **{**counts, **overrides})


def versions() -> str:
    """What a property run's output must say so it can be reproduced."""
    return (f"fsync {fsync_model.__version__}, hypothesis {hypothesis.__version__}, "
            f"python {sys.version.split()[0]}")


# ============================================================================ failures


@dataclass(frozen=True)
class Setup:
    """How the bench of one example was built (the ``initialize`` rule's arguments)."""

    seed: int
    sync: bool
    subscribe_expires: int | None


class SyncFailure(OracleFailure):
    """Oracles failed during a property run: the profile, the bench's setup, every step
    taken (the shrunk sequence in Hypothesis' final run) and what was violated."""

    def __init__(self, profile: Profile, setup: Setup, steps: Sequence[Stimulus],
                 violations: Sequence[Violation], bench: Bench) -> None:
        self.profile = profile
        self.setup = setup
        self.steps = list(steps)
        self.bench = bench
        super().__init__(violations)
        listing = "\n".join(f"  {n}. {s.describe()}" for n, s in enumerate(self.steps, 1))
        self.args = (f"{profile.id} (bench seed {setup.seed}, sync {setup.sync}, "
                     f"subscribe expires {setup.subscribe_expires or 'profile'}): "
                     f"{self.args[0]}\nafter {len(self.steps)} step(s):\n{listing or '  none'}",)


# ============================================================================ avoided

#: Defects of the reference agents that one kind of stimulus triggers directly. By default
#: the machines do not generate that stimulus (so the reference agents pass); pass
#: ``avoid=frozenset()`` to hunt them. Each is reproduced by
#: ``tests/testing/test_known_issues.py``. The defects that broad fault families trigger
#: are recognised by signature instead (``oracles.REFERENCE_AGENT_ISSUES``).
AVOIDED: dict[str, str] = {
}

# ============================================================================ strategies

_NUMBERS = st.from_regex(r"[1-9][0-9]{2,9}", fullmatch=True)


def ring_counts(profile: Profile) -> st.SearchStrategy[int | None]:
    """Ring counts inside the profile's range (1-10 without one), just outside it, and
    none at all."""
    if profile.afe is not None:
        low, high = profile.afe.ring_count.min.value, profile.afe.ring_count.max.value
    else:
        low, high = 1, 10
    below = st.integers(0, low - 1) if low > 0 else st.nothing()
    return st.one_of(st.none(), st.integers(low, high), st.integers(high + 1, high + 30),
                     below)


def changes(profile: Profile, feature: FeatureName) -> st.SearchStrategy[Change]:
    """Changes of one feature a user could make at the phone, or an administrator on the
    server (whose portal refuses a ring count out of range: nothing is sent)."""
    if feature == "dnd":
        return st.builds(Change, st.just("dnd"), st.booleans())
    off = st.just(Change(feature, False))
    if feature == "cfna":
        on = st.builds(Change, st.just("cfna"), st.just(True), _NUMBERS, ring_counts(profile))
    else:
        on = st.builds(Change, st.just(feature), st.just(True), _NUMBERS)
    return st.one_of(on, off)


#: fault families a machine may use; `machine_class` takes a subset
FAULTS: frozenset[str] = frozenset({
    "loss",       # datagrams lost on the link, the next ones dropped, messages swallowed
    "duplicate",  # datagrams delivered twice
    "reorder",    # a datagram held behind the next one on its link
    "delay",      # link delay (exchanges overlap with the next stimulus)
    "forged",     # a tamper answers in an agent's place (errors only) or rings first
    "held",       # a tamper holds the 2xx of a SUBSCRIBE back behind the NOTIFY
    "mangled",    # a tamper damages a body (a known defect of protocol section 1)
})


def _tampers(profile: Profile, avoid: frozenset[str]) -> list[tuple[str, Side, TamperRule]]:
    """Tamper rules that fit the profile's traffic, each with its fault family. Forged
    answers are errors only: a forged success makes a one-way mechanism lie, which no
    oracle can tell from a defect (the generated suites forge successes on purpose)."""
    out: list[tuple[str, Side, TamperRule]] = [
        ("forged", "server", Answer(Match("REGISTER"), 503)),
        ("loss", "server", Swallow(Match("REGISTER"), 40.0)),
        ("forged", "server", Answer(Match("REGISTER"), 401)),
    ]
    if profile.afe is not None:
        out += [("forged", "server", Answer(Match("SUBSCRIBE", body=False), status))
                for status in (489, 481, 500)]
        out += [("forged", "server", Answer(Match("SUBSCRIBE", body=True), status))
                for status in (403, 500)]
        out += [("forged", "phone", Answer(Match("NOTIFY"), status)) for status in (500, 481)]
        out += [("loss", "phone", Swallow(Match("NOTIFY"), seconds)) for seconds in (1.0, 40.0)]
        out += [("loss", "server", Swallow(Match("SUBSCRIBE"), 40.0)),
                ("loss", "phone", Swallow(Match("SUBSCRIBE", response="2xx"), 40.0)),
                ("held", "phone", HoldBack(Match("SUBSCRIBE", response="2xx"),
                                           Match("NOTIFY")))]
        out += [("mangled", "phone", Mangle(Match("NOTIFY"), defect))
                for defect in ("no-namespace", "bool-literal", "ring-count-range")]
        out += [("mangled", "server", Mangle(Match("SUBSCRIBE", body=True), "bool-literal"))]
    if profile.codes is not None:
        out += [("forged", "server", Answer(Match("INVITE"), status))
                for status in (403, 480, 486)]
        out += [("forged", "server", Answer(Match("BYE"), 481)),
                ("forged", "server", Provisional(Match("INVITE"))),
                ("loss", "server", Swallow(Match("INVITE"), 40.0)),
                ("loss", "server", Swallow(Match("BYE"), 40.0)),
                ("loss", "server", Swallow(Match("ACK"), 40.0))]
    if profile.uacsta is not None:
        out += [("forged", "phone", Answer(Match("INFO"), 500)),
                ("loss", "phone", Swallow(Match("INFO"), 40.0))]
    return out


# ============================================================================ the machine


class SyncMachine(RuleBasedStateMachine):
    """The rules every profile shares; :func:`machine_class` adds the profile's own."""

    profile: ClassVar[Profile]
    server_class: ClassVar[type[ReferenceServer]] = ReferenceServer
    phone_class: ClassVar[type[ReferencePhone]] = ReferencePhone
    #: called with every finished example's bench (coverage collection)
    on_teardown: ClassVar[Callable[[Bench], None] | None] = None
    #: `AVOIDED` defects whose trigger this machine does not generate
    avoid: ClassVar[frozenset[str]] = frozenset(AVOIDED)

    def __init__(self) -> None:
        super().__init__()
        self.bench: Bench | None = None
        self.setup: Setup | None = None
        self.steps: list[Stimulus] = []
        self.failed = False

    # -- plumbing ---------------------------------------------------------------------

    def _bench(self) -> Bench:
        assert self.bench is not None, "initialize runs first"
        return self.bench

    def build(self, setup: Setup) -> None:
        self.setup = setup
        self.bench = Bench(self.profile, seed=setup.seed, sync=setup.sync,
                           subscribe_expires=setup.subscribe_expires,
                           server_class=self.server_class, phone_class=self.phone_class)
        self._guard(lambda: self._bench().start())

    def do(self, stimulus: Stimulus) -> None:
        """Record ``stimulus``, apply it, and after a settle run the final oracles."""
        self.steps.append(stimulus)
        self._bench().mark(where(stimulus), stimulus.describe())
        self._guard(lambda: stimulus.apply(self._bench()))
        if isinstance(stimulus, Settle):
            self.check(final=True)

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as error:  # an agent raising on input is a bug: report it
            self.fail([Violation("ORACLE-RAISED", f"{type(error).__name__}: {error}",
                                 self._bench().now)], error)

    def fail(self, violations: Sequence[Violation], cause: BaseException | None = None) -> None:
        self.failed = True
        assert self.setup is not None
        failure = SyncFailure(self.profile, self.setup, self.steps, violations, self._bench())
        raise failure from cause

    def check(self, *, final: bool = False) -> None:
        found = self._bench().violations(final=final)
        if found:
            self.fail(found)

    @invariant()
    def oracles_hold(self) -> None:
        if self.bench is not None and not self.failed:
            self.check()

    def teardown(self) -> None:
        if self.bench is None or self.failed:
            return
        self.steps.append(Settle())
        self._bench().mark(None, Settle().describe())
        self._guard(lambda: self._bench().settle())
        hook = type(self).on_teardown
        if hook is not None:
            hook(self._bench())
        self.check(final=True)

    # -- rules every profile has --------------------------------------------------------

    @rule(seconds=st.sampled_from([0.5, 2.0, 8.0, 33.0, 65.0, 130.0]))
    def time_passes(self, seconds: float) -> None:
        self.do(Advance(seconds))

    @precondition(lambda self: self.bench is not None
                  and self.bench.phone.deadlines.get("register") is not None)
    @rule()
    def registration_refresh(self) -> None:
        bench = self._bench()
        due = bench.phone.deadlines.get("register")
        assert due is not None
        self.do(Advance(round(max(due - bench.now, 0.0) + 0.01, 6), "registration refresh"))

    @rule()
    def settle(self) -> None:
        self.do(Settle())

    @precondition(lambda self: self.bench is not None and self.bench.phone.online)
    @rule()
    def unregister(self) -> None:
        self.do(Unregister())

    @precondition(lambda self: self.bench is not None and not self.bench.phone.online)
    @rule()
    def register_again(self) -> None:
        self.do(Register())

    @precondition(lambda self: self.bench is not None)
    @rule(on=st.booleans())
    def toggle_line_sync(self, on: bool) -> None:
        # either value, the one the line already has included (a no-op at the phone)
        self.do(SetSync(on))


def _fault_rules(profile: Profile, families: frozenset[str], avoid: frozenset[str]
                 ) -> dict[str, Any]:
    """The rules of the fault families allowed."""
    rules: dict[str, Any] = {}
    link = [family for family in ("loss", "duplicate", "reorder", "delay") if family in families]
    if link:
        def zero(family: str, values: list[Any]) -> Any:
            return st.sampled_from(values) if family in families else st.just(values[0])

        def link_faults(self: SyncMachine, loss: float, duplicate: float, reorder: float,
                        delay: tuple[float, float]) -> None:
            self.do(LinkFaults(loss, duplicate, reorder, delay))

        rules["link_faults"] = rule(
            loss=zero("loss", [0.0, 0.1, 0.3]), duplicate=zero("duplicate", [0.0, 0.2]),
            reorder=zero("reorder", [0.0, 0.3]),
            delay=zero("delay", [(0.0, 0.0), (0.01, 0.3), (0.2, 1.5)]))(link_faults)
    sides = st.sampled_from(["phone", "server"])
    if "loss" in families:
        def drop_next(self: SyncMachine, count: int, toward: Side) -> None:
            self.do(DropNext(count, toward))

        rules["drop_next"] = rule(count=st.integers(1, 3), toward=sides)(drop_next)
    if "duplicate" in families:
        def duplicate_next(self: SyncMachine, count: int, toward: Side) -> None:
            self.do(DuplicateNext(count, toward))

        rules["duplicate_next"] = rule(count=st.integers(1, 3), toward=sides)(duplicate_next)
    tampers = [(side, r) for family, side, r in _tampers(profile, avoid) if family in families]
    if tampers:
        def tamper(self: SyncMachine, choice: tuple[Side, TamperRule]) -> None:
            self.do(Arm(*choice))

        rules["tamper"] = rule(choice=st.sampled_from(tampers))(tamper)
    return rules


def _subscription_due(machine: SyncMachine) -> float | None:
    bench = machine.bench
    if bench is None or bench.phone.subscriber is None or bench.phone.sub_id is None:
        return None
    sub = bench.phone.subscriber.get(bench.phone.sub_id)
    return sub.timers.get("refresh") if sub is not None else None


def _named(name: str, function: Callable[..., None]) -> Callable[..., None]:
    function.__name__ = function.__qualname__ = name
    return function


def _user_rule(feature: FeatureName) -> Callable[..., None]:
    return _named(f"change_{feature}_at_phone",
                  lambda self, change: self.do(UserChange(change)))


def _admin_rule(feature: FeatureName) -> Callable[..., None]:
    return _named(f"change_{feature}_on_server",
                  lambda self, change: self.do(AdminChange(change)))


def machine_class(
    profile: Profile,
    *,
    server_class: type[ReferenceServer] = ReferenceServer,
    phone_class: type[ReferencePhone] = ReferencePhone,
    faults: bool | frozenset[str] = True,
    on_teardown: Callable[[Bench], None] | None = None,
    avoid: frozenset[str] = frozenset(AVOIDED),
) -> type[SyncMachine]:
    """The state machine of ``profile`` (see the module docstring). ``server_class`` and
    ``phone_class`` put other agents in the roles; ``faults`` is a subset of `FAULTS`
    (True: all, False: none); ``on_teardown`` sees each example's bench at the end;
    ``avoid`` names the `AVOIDED` defects whose trigger is not generated."""
    attrs: dict[str, Any] = {
        "profile": profile,
        "server_class": server_class,
        "phone_class": phone_class,
        "on_teardown": staticmethod(on_teardown) if on_teardown else None,
        "avoid": avoid,
    }
    syncs = [True, True, True, False] if profile.gated else [True]
    expiries: list[int | None] = [None, 120] if profile.afe is not None else [None]

    def setup(self: SyncMachine, seed: int, sync: bool, expires: int | None) -> None:
        self.build(Setup(seed, sync, expires))

    attrs["setup"] = initialize(seed=st.integers(0, 999), sync=st.sampled_from(syncs),
                                expires=st.sampled_from(expiries))(setup)
    for spec in profile.features:
        name: FeatureName = spec.feature.value
        if spec.phone is not None:
            attrs[f"change_{name}_at_phone"] = rule(
                change=changes(profile, name))(_user_rule(name))
        if spec.server is not None:
            attrs[f"change_{name}_on_server"] = rule(
                change=changes(profile, name))(_admin_rule(name))
    if any(spec.phone is not None for spec in profile.features):
        def policy(self: SyncMachine, mode: str) -> None:
            self.do(SetPolicy(mode))

        attrs["server_policy"] = rule(mode=st.sampled_from(["accept", "reject", "error"]))(
            policy)
    if profile.afe is not None:
        def refresh(self: SyncMachine) -> None:
            due = _subscription_due(self)
            assert due is not None
            self.do(Advance(round(max(due - self._bench().now, 0.0) + 0.01, 6),
                            "subscription refresh"))

        attrs["subscription_refresh"] = precondition(
            lambda self: _subscription_due(self) is not None)(rule()(refresh))
    families = FAULTS if faults is True else frozenset() if faults is False else faults
    unknown = families - FAULTS
    if unknown:
        raise ValueError(f"unknown fault families {sorted(unknown)}; known: {sorted(FAULTS)}")
    attrs.update(_fault_rules(profile, families, avoid))
    bases = (SyncMachine,)
    title = "".join(part.capitalize() for part in profile.id.replace("-", " ").split())
    return type(f"{title}SyncMachine", bases, attrs)


# ============================================================================ running


@dataclass(frozen=True)
class ExploreResult:
    """A property run that found nothing: how many examples ran."""

    profile: str
    examples: int


def explore(
    profile: Profile,
    *,
    server_class: type[ReferenceServer] = ReferenceServer,
    phone_class: type[ReferencePhone] = ReferencePhone,
    faults: bool | frozenset[str] = True,
    run_settings: settings | None = None,
    replay_dir: Path | None = None,
    on_teardown: Callable[[Bench], None] | None = None,
    avoid: frozenset[str] = frozenset(AVOIDED),
) -> ExploreResult:
    """Run the machine of ``profile``. On a failure, print the shrunk sequence's ladder,
    write it as a pytest file in ``replay_dir`` (when given) and raise `SyncFailure`."""
    from fsync_model.testing.replay import ladder_text, write_failure

    examples = 0

    def count(bench: Bench) -> None:
        nonlocal examples
        examples += 1
        if on_teardown is not None:
            on_teardown(bench)

    cls = machine_class(profile, server_class=server_class, phone_class=phone_class,
                        faults=faults, on_teardown=count, avoid=avoid)
    try:
        run_state_machine_as_test(cls, settings=run_settings or fsync_settings())
    except SyncFailure as failure:
        ladder = ladder_text(failure.bench, failure.steps)
        print(f"\n{versions()}\n{failure}\n\nladder of the shrunk run:\n{ladder}",
              file=sys.stderr)
        if replay_dir is not None:
            path = replay_dir / f"test_replay_{profile.id.replace('-', '_')}.py"
            write_failure(failure, path)
            print(f"replay written to {path}", file=sys.stderr)
        raise
    return ExploreResult(profile.id, examples)
