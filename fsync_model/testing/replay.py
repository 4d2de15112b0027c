"""A shrunk failure as a ladder and as a plain pytest file that fails the same way.

:func:`write_replay` turns recorded stimuli into a pytest module that builds the same bench
(profile, seed, agents) and calls the agents and the network directly, one step after
another, running the oracles after each, as the Hypothesis machine did. It imports nothing
from Hypothesis: keep it as a regression test once the defect is fixed. :func:`ladder_text`
draws the run as an ASCII ladder with each stimulus as a note where it happened.
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.diagrams.ladder import LadderError, Note
from fsync_model.diagrams.messages import MessageRecord, ladder_from_messages
from fsync_model.diagrams.writer import render_text
from fsync_model.profile import Profile
from fsync_model.testing.fixtures import Bench, profiles
from fsync_model.testing.oracles import Violation
from fsync_model.testing.stimuli import IMPORTABLE, Settle, Stimulus, python
from fsync_model.transport.memory import ARRIVED

if TYPE_CHECKING:
    from fsync_model.testing.machine import SyncFailure


def ladder_text(bench: Bench, steps: Sequence[Stimulus] = (), *,
                violations: Sequence[Violation] = ()) -> str:
    """The run on ``bench`` as an ASCII ladder: every datagram that arrived, each stimulus
    (from ``bench.marks``) and what a tamper did as notes, the violations at the end."""
    arrived = [(index, entry) for index, entry in enumerate(bench.net.log)
               if entry.fate in ARRIVED]
    records = [MessageRecord(e.time, e.src, e.dst, e.data) for _, e in arrived]
    phone, server = str(bench.phone_at), str(bench.server_at)
    notes: list[tuple[int, Note]] = []

    def position(log_index: int) -> int:
        return sum(1 for index, _ in arrived if index < log_index)

    for log_index, side, text in bench.marks:
        over = (phone,) if side == "phone" else (server,) if side == "server" else (phone,
                                                                                   server)
        notes.append((position(log_index), Note(over, text, "info")))
    used: set[int] = set()
    for event in bench.tamper_events:
        for pos, (_, entry) in enumerate(arrived):
            if pos not in used and entry.data == event.data and entry.time == event.time:
                used.add(pos)
                where = phone if event.side == "phone" else server
                notes.append((pos + 1, Note((where,), f"tamper: {event.action}", "finding")))
                break
    for violation in violations:
        notes.append((len(records), Note((phone, server), str(violation), "finding")))
    title = f"{bench.profile.id}: {len(steps)} step(s), bench seed {bench.seed}"
    try:
        ladder = ladder_from_messages(records, title=title,
                                      lifeline_names={phone: "phone 1001", server: "server"},
                                      notes=sorted(notes, key=lambda n: n[0]))
    except LadderError:
        return f"{title}: no message on the wire"
    return render_text(ladder)


def _class_path(cls: type) -> tuple[str, str]:
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"{cls.__qualname__} is defined inside a function: a replay can only "
                         "import agents defined at module level")
    return cls.__module__, cls.__qualname__


def render_replay(
    steps: Sequence[Stimulus],
    profile: Profile,
    *,
    seed: int = 1,
    sync: bool = True,
    subscribe_expires: int | None = None,
    server_class: type[ReferenceServer] = ReferenceServer,
    phone_class: type[ReferencePhone] = ReferencePhone,
    violations: Sequence[Violation] = (),
    ladder: str | None = None,
    test_name: str | None = None,
) -> str:
    """The text of the pytest module :func:`write_replay` writes."""
    body: list[str] = []
    for number, step in enumerate(steps, 1):
        body.append(f"# {number}. {step.describe()}")
        body.extend(step.replay_lines())
        body.append("bench.check(final=True)" if isinstance(step, Settle) else "bench.check()")
    if not steps or not isinstance(steps[-1], Settle):
        body += ["# the end of the run: settle, then the checks that need quiet traffic",
                 "bench.settle()", "bench.check(final=True)"]
    text = "\n".join(body)
    used = [name for name in ("phone", "server", "net")
            if re.search(rf"(?<![\w.\"]){name}(?=[.,)])", text)]
    imports: dict[str, set[str]] = {"fsync_model.testing.fixtures": {"Bench"}}
    for name, module in IMPORTABLE.items():
        if re.search(rf"\b{name}\(", text):
            imports.setdefault(module, set()).add(name)
    arguments = [python(profile.id) if profiles().get(profile.id) == profile else
                 f"load_profile({python(str(profile.path))})", f"seed={seed}"]
    if profiles().get(profile.id) != profile:
        imports.setdefault("fsync_model.profile", set()).add("load_profile")
    if not sync:
        arguments.append("sync=False")
    if subscribe_expires is not None:
        arguments.append(f"subscribe_expires={subscribe_expires}")
    defaults: tuple[tuple[str, type, type], ...] = (
        ("server_class", server_class, ReferenceServer),
        ("phone_class", phone_class, ReferencePhone))
    for keyword, cls, default in defaults:
        if cls is not default:
            module, name = _class_path(cls)
            imports.setdefault(module, set()).add(name)
            arguments.append(f"{keyword}={name}")
    import_lines = [f"from {module} import {', '.join(sorted(names))}"
                    for module, names in sorted(imports.items())]
    expected = "\n".join(f"    {v}" for v in violations) or "    (no violation recorded)"
    listing = "\n".join(f"  {n}. {s.describe()}" for n, s in enumerate(steps, 1)) or "  none"
    ladder_block = textwrap.indent(ladder.rstrip("\n"), "    ") if ladder else "    (none)"
    name = test_name or f"test_replay_{profile.id.replace('-', '_')}_seed_{seed}"
    docstring = (
        f'"""Replay of a failure found by a property run of fsync: {profile.id}, '
        f"{len(steps)} step(s), bench seed {seed}.\n\n"
        "Written by fsync_model.testing.replay: a plain pytest module that calls the agents\n"
        "and the in-memory network directly (no Hypothesis) and runs the oracles after each\n"
        "step. It fails the same way while the defect is there:\n\n"
        f"{expected}\n\nSteps:\n{listing}\n\nLadder of the failing run:\n\n{ladder_block}\n"
        '"""'
    )
    setup = [f"bench = Bench({', '.join(arguments)})"]
    if used:
        setup.append(f"{', '.join(used)} = {', '.join('bench.' + n for n in used)}")
    setup += ["bench.start()", "bench.check()"]
    function = "\n".join(f"    {line}" for line in [*setup, *body])
    return (f"# ruff: noqa: E501\n{docstring}\nfrom __future__ import annotations\n\n"
            + "\n".join(import_lines) + f"\n\n\ndef {name}() -> None:\n{function}\n")


def write_replay(
    steps: Sequence[Stimulus],
    profile: Profile,
    path: Path,
    *,
    seed: int = 1,
    sync: bool = True,
    subscribe_expires: int | None = None,
    server_class: type[ReferenceServer] = ReferenceServer,
    phone_class: type[ReferencePhone] = ReferencePhone,
    violations: Sequence[Violation] = (),
    ladder: str | None = None,
) -> Path:
    """Write ``steps`` on a bench of ``profile`` as a pytest module at ``path`` (folders
    made); the options are the bench's (see `Bench`) plus what the docstring shows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_replay(steps, profile, seed=seed, sync=sync,
                         subscribe_expires=subscribe_expires, server_class=server_class,
                         phone_class=phone_class, violations=violations, ladder=ladder,
                         test_name=f"test_{path.stem.removeprefix('test_')}")
    path.write_text(text, encoding="utf-8")
    return path


def write_failure(failure: SyncFailure, path: Path) -> Path:
    """Write the shrunk sequence of a property-run failure as a replay module."""
    return write_replay(
        failure.steps, failure.profile, path, seed=failure.setup.seed,
        sync=failure.setup.sync, subscribe_expires=failure.setup.subscribe_expires,
        server_class=type(failure.bench.server), phone_class=type(failure.bench.phone),
        violations=failure.violations,
        ladder=ladder_text(failure.bench, failure.steps, violations=failure.violations))
