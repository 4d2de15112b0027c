"""The device adapter: how fsync makes a device act (``--control``) and reads it (``--query``).

A device under test is reached through two shell commands the engineer gives:

* ``--control`` is a template run once per key press (phone) or portal change (server), with
  the placeholders ``{feature}`` (dnd, cfa, cfb, cfna), ``{action}`` (on, off), ``{target}``
  (the forward-to number, empty when none), ``{rings}`` (empty when none) and ``{user}``.
  A non-empty value is shell-quoted (every value fsync generates is a plain word or number, so
  it is inserted as is and a placeholder may sit inside double quotes); an empty value is
  inserted as nothing.
* ``--query`` prints the device's state as the state JSON of
  :mod:`fsync_model.agents.state` (``{user}`` may appear in it).

Both run with a timeout in their own process group (killed, group and all, when the time is
up). A command that fails (non-zero exit, timeout, output that is not the state JSON) raises
:class:`HookError`: fsync could not drive or read the device, which makes a test
*inconclusive*, never a device failure.

:class:`Device` is what the runner needs of a device; :class:`ShellDevice` implements it with
the two commands. Tests implement it in process.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from fsync_model.agents.state import Change, FeatureState, StateError

CONTROL_PLACEHOLDERS: Final = ("feature", "action", "target", "rings", "user")
QUERY_PLACEHOLDERS: Final = ("user",)
#: what a control template cannot do without
CONTROL_REQUIRED: Final = ("feature", "action")
#: longest output kept from a hook (the rest is cut: a query answer is a few hundred bytes)
OUTPUT_LIMIT: Final = 64 * 1024

_PLACEHOLDER_RE: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

HookKind = Literal["exit", "timeout", "start", "json", "state"]


class TemplateError(ValueError):
    """A ``--control`` / ``--query`` template that cannot work; the message says why."""


class HookError(Exception):
    """A control or query command that did not do its job (the test is inconclusive)."""

    def __init__(self, hook: str, command: str, kind: HookKind, reason: str, *,
                 exit_code: int | None = None, stdout: str = "", stderr: str = "") -> None:
        super().__init__(f"{hook} failed: {reason}")
        self.hook = hook
        self.command = command
        self.kind = kind
        self.reason = reason
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def describe(self) -> str:
        """One paragraph for a report: what ran, what went wrong, what it printed."""
        lines = [f"{self.hook} command failed ({self.reason})", f"  command: {self.command}"]
        if self.stdout.strip():
            lines.append(f"  stdout: {_shorten(self.stdout)}")
        if self.stderr.strip():
            lines.append(f"  stderr: {_shorten(self.stderr)}")
        return "\n".join(lines)


def _shorten(text: str, limit: int = 300) -> str:
    text = text.strip().replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class CommandTemplate:
    """A shell command with ``{placeholder}`` s (only the known names are replaced; other
    braces, such as a JSON body, are left alone)."""

    text: str
    option: str
    allowed: tuple[str, ...]

    @classmethod
    def parse(cls, text: str, option: str, allowed: tuple[str, ...],
              required: tuple[str, ...] = ()) -> CommandTemplate:
        if not text.strip():
            raise TemplateError(f"{option}: empty command")
        used = set(_PLACEHOLDER_RE.findall(text))
        unknown = sorted(used - set(allowed))
        if unknown:
            names = ", ".join("{" + name + "}" for name in allowed)
            raise TemplateError(f"{option}: unknown placeholder(s) "
                                f"{', '.join('{' + u + '}' for u in unknown)}; use {names}")
        missing = [name for name in required if name not in used]
        if missing:
            raise TemplateError(f"{option}: the command must say what to do: add "
                                f"{' '.join('{' + m + '}' for m in missing)}, e.g. "
                                f"--control 'curl -s -d \"{{feature}} {{action}} {{target}} "
                                f"{{rings}}\" http://127.0.0.1:8080/command'")
        return cls(text, option, allowed)

    def render(self, values: Mapping[str, str]) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match[1]
            if name not in self.allowed:
                return match[0]
            value = values.get(name, "")
            return shlex.quote(value) if value else ""

        return _PLACEHOLDER_RE.sub(substitute, self.text)


def control_values(change: Change, user: str) -> dict[str, str]:
    """The placeholder values of one change."""
    return {
        "feature": change.feature,
        "action": "on" if change.on else "off",
        "target": (change.target or "") if change.on else "",
        "rings": str(change.rings) if change.on and change.rings is not None else "",
        "user": user,
    }


@dataclass(frozen=True)
class HookRun:
    """One finished command: its exit code, output and how long it took."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration: float


async def run_command(command: str, timeout: float, hook: str) -> HookRun:
    """Run ``command`` through the shell, at most ``timeout`` seconds (then its process group
    is killed). Raises HookError when it cannot start or times out."""
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_shell(
            command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as error:
        raise HookError(hook, command, "start", f"cannot start: {error.strerror or error}")\
            from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        _kill_group(process)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 2.0)
        raise HookError(hook, command, "timeout",
                        f"no result within {timeout:g} s (killed)") from None
    except asyncio.CancelledError:
        _kill_group(process)
        raise
    code = process.returncode if process.returncode is not None else -1
    return HookRun(command, code, out[:OUTPUT_LIMIT].decode("utf-8", "replace"),
                   err[:OUTPUT_LIMIT].decode("utf-8", "replace"), time.monotonic() - started)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the command and whatever it started (its own session, by its id)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def parse_state_output(text: str, hook: str, command: str) -> FeatureState:
    """The state JSON a query printed (also accepted: an object whose ``"state"`` is one, as
    ``fsync phone``'s ``state`` command prints). HookError says what is wrong."""
    stripped = text.strip()
    if not stripped:
        raise HookError(hook, command, "json", "printed nothing; it must print the state "
                        'JSON, e.g. {"dnd": false, "cfa": {"on": false, "target": null}, ...}',
                        stdout=text)
    try:
        data: Any = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise HookError(hook, command, "json", f"did not print JSON ({error.msg} at line "
                        f"{error.lineno} column {error.colno}): {_shorten(stripped, 80)!r}",
                        stdout=text) from None
    if isinstance(data, dict) and isinstance(data.get("state"), dict) and "dnd" not in data:
        data = data["state"]
    try:
        return FeatureState.from_json(data)
    except StateError as error:
        raise HookError(hook, command, "state", f"printed JSON that is not the state JSON: "
                        f"{error}", stdout=text) from None


class Device(Protocol):
    """What the runner needs of the device under test."""

    async def control(self, change: Change, user: str) -> None:
        """Make the device switch ``change`` (a key press, a portal change); HookError when
        the command failed."""

    async def query(self, user: str) -> FeatureState:
        """The device's state of ``user``; HookError when it could not be read."""

    def describe(self) -> str:
        """One line for the report."""


def last_control(device: Device) -> str | None:
    """What the device's last --control command printed, for a finding that says the device
    did nothing (None when the adapter does not keep it)."""
    run = getattr(device, "last_control_run", None)
    if not isinstance(run, HookRun):
        return None
    printed = _shorten(run.stdout + run.stderr, 200) or "nothing"
    return f"--control ran {run.command!r} (exit {run.exit_code}) and printed {printed}"


class ShellDevice:
    """A device driven by ``--control`` and read by ``--query`` shell commands."""

    def __init__(self, control: CommandTemplate, query: CommandTemplate, *,
                 timeout: float = 10.0) -> None:
        self.control_template = control
        self.query_template = query
        self.timeout = timeout
        #: every command run, for the report (command, exit code, seconds)
        self.history: list[HookRun] = []
        self.last_control_run: HookRun | None = None

    @classmethod
    def from_options(cls, control: str, query: str, *, timeout: float) -> ShellDevice:
        """Raises TemplateError for a template that cannot work."""
        return cls(CommandTemplate.parse(control, "--control", CONTROL_PLACEHOLDERS,
                                         CONTROL_REQUIRED),
                   CommandTemplate.parse(query, "--query", QUERY_PLACEHOLDERS),
                   timeout=timeout)

    def describe(self) -> str:
        return (f"--control {self.control_template.text!r} --query "
                f"{self.query_template.text!r}")

    async def control(self, change: Change, user: str) -> None:
        command = self.control_template.render(control_values(change, user))
        run = await run_command(command, self.timeout, "--control")
        self.history.append(run)
        self.last_control_run = run
        if run.exit_code != 0:
            raise HookError("--control", command, "exit", f"exit status {run.exit_code}",
                            exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr)

    async def query(self, user: str) -> FeatureState:
        command = self.query_template.render({"user": user})
        run = await run_command(command, self.timeout, "--query")
        self.history.append(run)
        if run.exit_code != 0:
            raise HookError("--query", command, "exit", f"exit status {run.exit_code}",
                            exit_code=run.exit_code, stdout=run.stdout, stderr=run.stderr)
        return parse_state_output(run.stdout, "--query", command)
