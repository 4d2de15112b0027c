"""What a test does to a bench, one frozen dataclass per kind of stimulus.

The Hypothesis machines record every step they take as one of these, so a shrunk failure is
plain data: `apply` runs it on a `~fsync_model.testing.fixtures.Bench`, `describe` says it
in words (ladders, docstrings), `replay_lines` writes it as direct calls on the agents and
the network (``replay.py``), and `target_call` as a call on the ``fsync_target`` fixture
(the generated suites). Apply and both renderings sit side by side in each class so they
cannot drift apart unnoticed; the replay tests run them against each other.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import (
    USER,
    Answer,
    HoldBack,
    Mangle,
    Match,
    Provisional,
    Side,
    Swallow,
    TamperRule,
)

if TYPE_CHECKING:
    from fsync_model.testing.fixtures import Bench


def python(value: Any) -> str:
    """``value`` as Python source: dataclasses by constructor (fields left at their
    default omitted, leading required ones positional), strings in double quotes."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool | int | type(None)):
        return repr(value)
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, tuple):
        inner = ", ".join(python(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        args = []
        keyword = False
        for item in dataclasses.fields(value):
            if not item.init:
                continue
            current = getattr(value, item.name)
            has_default = item.default is not dataclasses.MISSING
            if has_default and current == item.default:
                keyword = True
                continue
            if has_default or keyword:
                keyword = True
                args.append(f"{item.name}={python(current)}")
            else:
                args.append(python(current))
        return f"{type(value).__name__}({', '.join(args)})"
    raise TypeError(f"cannot write {value!r} as Python")


def _address(side: Side) -> str:
    return "bench.phone_at" if side == "phone" else "bench.server_at"


@dataclass(frozen=True)
class Start:
    """The phone starts: applies its line setting, registers, subscribes."""

    def apply(self, bench: Bench) -> None:
        bench.start()

    def describe(self) -> str:
        return "the phone starts (registers, subscribes)"

    def replay_lines(self) -> list[str]:
        return ["bench.start()"]

    def target_call(self) -> str:
        return "start()"


@dataclass(frozen=True)
class UserChange:
    """The user changes a feature at the phone (keypad, UI)."""

    change: Change

    def apply(self, bench: Bench) -> None:
        bench.user_change(self.change)

    def describe(self) -> str:
        return f"at the phone: {self.change.describe()}"

    def replay_lines(self) -> list[str]:
        return [f"bench.act(phone, lambda now: phone.user_change({python(self.change)}, now))"]

    def target_call(self) -> str:
        return f"user_change({python(self.change)})"


@dataclass(frozen=True)
class AdminChange:
    """An administrator changes a feature of user 1001 on the server (portal, API)."""

    change: Change

    def apply(self, bench: Bench) -> None:
        bench.admin_change(self.change)

    def describe(self) -> str:
        return f"on the server: {self.change.describe()}"

    def replay_lines(self) -> list[str]:
        return [f"bench.act(server, lambda now: server.admin_change({python(USER)}, "
                f"{python(self.change)}, now))"]

    def target_call(self) -> str:
        return f"admin_change({python(self.change)})"


@dataclass(frozen=True)
class SetSync:
    """The line's feature-sync setting is switched on or off at the phone."""

    on: bool

    def apply(self, bench: Bench) -> None:
        bench.set_sync(self.on)

    def describe(self) -> str:
        return f"line feature sync {'on' if self.on else 'off'}"

    def replay_lines(self) -> list[str]:
        return [f"bench.act(phone, lambda now: phone.set_sync({self.on}, now))"]

    def target_call(self) -> str:
        return f"set_sync({self.on})"


@dataclass(frozen=True)
class Unregister:
    """The phone's line goes offline: it unsubscribes and removes its binding (REGISTER
    with ``Expires: 0``)."""

    def apply(self, bench: Bench) -> None:
        bench.unregister()

    def describe(self) -> str:
        return "the phone unregisters"

    def replay_lines(self) -> list[str]:
        return ["bench.act(phone, phone.unregister)"]

    def target_call(self) -> str:
        return "unregister()"


@dataclass(frozen=True)
class Register:
    """The phone's line comes back online after an unregister: it registers again."""

    def apply(self, bench: Bench) -> None:
        bench.register()

    def describe(self) -> str:
        return "the phone registers again"

    def replay_lines(self) -> list[str]:
        return ["bench.act(phone, phone.register)"]

    def target_call(self) -> str:
        return "register()"


@dataclass(frozen=True)
class SetPolicy:
    """The server's policy for the phone's changes: accept, reject (2xx, then a NOTIFY
    with the old state) or error (answered ``status``)."""

    policy: str
    status: int | None = None

    def apply(self, bench: Bench) -> None:
        bench.set_policy(self.policy, self.status)

    def describe(self) -> str:
        status = f" {self.status}" if self.status else ""
        return f"server policy {self.policy}{status}"

    def replay_lines(self) -> list[str]:
        return [f"server.set_policy(None, {python(self.policy)}, {python(self.status)})"]

    def target_call(self) -> str:
        status = f", {self.status}" if self.status is not None else ""
        return f"set_policy({python(self.policy)}{status})"


@dataclass(frozen=True)
class Advance:
    """Virtual time passes: retransmissions, refreshes, retries, expiry happen."""

    seconds: float
    why: str = ""

    def apply(self, bench: Bench) -> None:
        bench.advance(self.seconds)

    def describe(self) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"{self.seconds:g} s pass{why}"

    def replay_lines(self) -> list[str]:
        return [f"bench.advance({python(float(self.seconds))})"]

    def target_call(self) -> str:
        return f"advance({python(float(self.seconds))})"


@dataclass(frozen=True)
class LinkFaults:
    """From now until the next heal, both directions lose, duplicate, reorder and delay
    datagrams at these rates (seeded: the same run every time)."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)

    def apply(self, bench: Bench) -> None:
        bench.network_fault()
        bench.net.set_link(bench.phone_at, bench.server_at, loss=self.loss,
                           duplicate=self.duplicate, reorder=self.reorder, delay=self.delay,
                           both_ways=True)

    def describe(self) -> str:
        return (f"link: loss {self.loss:g}, duplicate {self.duplicate:g}, reorder "
                f"{self.reorder:g}, delay {self.delay[0]:g}-{self.delay[1]:g} s")

    def replay_lines(self) -> list[str]:
        return ["bench.network_fault()",
                f"net.set_link(bench.phone_at, bench.server_at, loss={python(self.loss)}, "
                f"duplicate={python(self.duplicate)}, reorder={python(self.reorder)}, "
                f"delay={python(self.delay)}, both_ways=True)"]

    def target_call(self) -> str:
        return f"network({python(self)})"


@dataclass(frozen=True)
class DropNext:
    """The next ``count`` datagrams toward ``toward`` are lost."""

    count: int
    toward: Side

    def apply(self, bench: Bench) -> None:
        bench.network_fault()
        bench.net.drop_next(self.count, dst=bench.phone_at if self.toward == "phone"
                            else bench.server_at)

    def describe(self) -> str:
        return f"the next {self.count} datagram(s) to the {self.toward} lost"

    def replay_lines(self) -> list[str]:
        return ["bench.network_fault()",
                f"net.drop_next({self.count}, dst={_address(self.toward)})"]

    def target_call(self) -> str:
        return f"network({python(self)})"


@dataclass(frozen=True)
class DuplicateNext:
    """The next ``count`` datagrams toward ``toward`` arrive twice."""

    count: int
    toward: Side

    def apply(self, bench: Bench) -> None:
        bench.network_fault()
        bench.net.duplicate_next(self.count, dst=bench.phone_at if self.toward == "phone"
                                 else bench.server_at)

    def describe(self) -> str:
        return f"the next {self.count} datagram(s) to the {self.toward} duplicated"

    def replay_lines(self) -> list[str]:
        return ["bench.network_fault()",
                f"net.duplicate_next({self.count}, dst={_address(self.toward)})"]

    def target_call(self) -> str:
        return f"network({python(self)})"


@dataclass(frozen=True)
class HoldNext:
    """The next ``count`` datagrams toward ``toward`` are held until a `Release` (or the
    next heal): with the release reversed, they arrive in the opposite order."""

    count: int
    toward: Side

    def apply(self, bench: Bench) -> None:
        bench.network_fault()
        bench.net.hold_next(self.count, dst=bench.phone_at if self.toward == "phone"
                            else bench.server_at)

    def describe(self) -> str:
        return f"the next {self.count} datagram(s) to the {self.toward} held back"

    def replay_lines(self) -> list[str]:
        return ["bench.network_fault()",
                f"net.hold_next({self.count}, dst={_address(self.toward)})"]

    def target_call(self) -> str:
        return f"network({python(self)})"


@dataclass(frozen=True)
class Release:
    """Datagrams held by `HoldNext` go on the wire now (in reverse order if asked)."""

    reverse: bool = False

    def apply(self, bench: Bench) -> None:
        bench.net.release(reverse=self.reverse)
        bench.run()

    def describe(self) -> str:
        return "held datagrams released" + (" in reverse order" if self.reverse else "")

    def replay_lines(self) -> list[str]:
        return [f"net.release(reverse={self.reverse})", "bench.run()"]

    def target_call(self) -> str:
        return f"network({python(self)})"


@dataclass(frozen=True)
class Arm:
    """A tamper rule in front of ``at``: a forged answer, a provisional, lost, held back
    or damaged messages (see ``fixtures.py``)."""

    at: Side
    rule: TamperRule

    def apply(self, bench: Bench) -> None:
        bench.arm(self.at, self.rule)

    def describe(self) -> str:
        return f"at the {self.at}: {self.rule.describe()}"

    def replay_lines(self) -> list[str]:
        return [f"bench.arm({python(self.at)}, {python(self.rule)})"]

    def target_call(self) -> str:
        return f"arm({python(self.at)}, {python(self.rule)})"


@dataclass(frozen=True)
class Heal:
    """Every network fault and tamper rule off."""

    def apply(self, bench: Bench) -> None:
        bench.heal()

    def describe(self) -> str:
        return "network healed"

    def replay_lines(self) -> list[str]:
        return ["bench.heal()"]

    def target_call(self) -> str:
        return "heal()"


@dataclass(frozen=True)
class Settle:
    """Heal, then let every exchange and timer run out; the convergence oracles apply."""

    def apply(self, bench: Bench) -> None:
        bench.settle()

    def describe(self) -> str:
        return "settle: network healed, every timer run out"

    def replay_lines(self) -> list[str]:
        return ["bench.settle()"]

    def target_call(self) -> str:
        return "settle()"


Stimulus = (Start | UserChange | AdminChange | SetSync | Unregister | Register | SetPolicy | Advance
            | LinkFaults | DropNext | DuplicateNext | HoldNext | Release | Arm | Heal | Settle)

def where(stimulus: Stimulus) -> Side | None:
    """The side a stimulus happens at (None: the network, or both)."""
    if isinstance(stimulus, UserChange | SetSync | Unregister | Register):
        return "phone"
    if isinstance(stimulus, AdminChange | SetPolicy):
        return "server"
    if isinstance(stimulus, Arm):
        return stimulus.at
    return None


#: names a replay or a generated module imports to rebuild every stimulus argument
IMPORTABLE = {
    "Change": "fsync_model.agents.state",
    "Match": "fsync_model.testing.fixtures",
    "Answer": "fsync_model.testing.fixtures",
    "Provisional": "fsync_model.testing.fixtures",
    "Swallow": "fsync_model.testing.fixtures",
    "HoldBack": "fsync_model.testing.fixtures",
    "Mangle": "fsync_model.testing.fixtures",
    "LinkFaults": "fsync_model.testing.stimuli",
    "DropNext": "fsync_model.testing.stimuli",
    "DuplicateNext": "fsync_model.testing.stimuli",
    "HoldNext": "fsync_model.testing.stimuli",
    "Release": "fsync_model.testing.stimuli",
}

__all__ = [
    "IMPORTABLE",
    "AdminChange",
    "Advance",
    "Answer",
    "Arm",
    "DropNext",
    "DuplicateNext",
    "Heal",
    "HoldBack",
    "HoldNext",
    "LinkFaults",
    "Mangle",
    "Match",
    "Provisional",
    "Register",
    "Release",
    "SetPolicy",
    "SetSync",
    "Settle",
    "Start",
    "Stimulus",
    "Swallow",
    "Unregister",
    "UserChange",
    "python",
    "where",
]
