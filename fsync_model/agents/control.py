"""The control language of ``fsync serve`` and ``fsync phone`` (an external contract).

Lab scripts write these lines on stdin or POST them to the HTTP API::

    <user> dnd on|off                 (server; the phone form has no <user>)
    <user> cfa|cfb on <number>
    <user> cfna on <number> [<rings>]
    <user> <feature> off
    <user> state

Extensions (never renames): ``<user> policy accept|reject|error [status]`` on the server,
``sync on|off`` on the phone (the line's feature-sync setting), ``unregister`` and
``register`` on the phone (the line goes offline: it unsubscribes and removes its binding
with a REGISTER ``Expires: 0``; and comes back), ``state`` alone for every user, ``help``.
A line that does not parse raises :class:`ControlError` whose message shows the form to
type instead; a command the agent refuses as it stands (a ring count outside the
profile's range) raises :class:`RefusedCommand`, a ControlError, and changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from fsync_model.agents.state import FEATURES, Change, FeatureName, StateError

SERVER_USAGE = (
    "<user> dnd on|off | <user> cfa|cfb on <number> | <user> cfna on <number> [<rings>] | "
    "<user> <feature> off | <user> state | <user> policy accept|reject|error [status]"
)
PHONE_USAGE = (
    "dnd on|off | cfa|cfb on <number> | cfna on <number> [<rings>] | <feature> off | state | "
    "sync on|off | unregister | register"
)


class ControlError(ValueError):
    """A control line that does not parse; the message says what to type instead."""


class RefusedCommand(ControlError):
    """A command that parses but that the agent refuses as it stands, e.g. an administrator's
    ring count outside the profile's range: nothing was changed and nothing was sent; the
    message says what is accepted. The CLI and the HTTP API report it as any ControlError
    (an ``error`` event, HTTP 400)."""


@dataclass(frozen=True, slots=True)
class SetFeature:
    user: str | None
    change: Change


@dataclass(frozen=True, slots=True)
class QueryState:
    user: str | None


@dataclass(frozen=True, slots=True)
class SetPolicy:
    user: str | None
    policy: str
    status: int | None = None


@dataclass(frozen=True, slots=True)
class SetSync:
    on: bool


@dataclass(frozen=True, slots=True)
class SetRegistration:
    """``register`` (True) or ``unregister`` (False) on the phone."""

    registered: bool


@dataclass(frozen=True, slots=True)
class Help:
    pass


Command = SetFeature | QueryState | SetPolicy | SetSync | SetRegistration | Help


def _on_off(word: str, where: str) -> bool:
    if word in ("on", "off"):
        return word == "on"
    raise ControlError(f"{where}: expected 'on' or 'off', got {word!r}")


def _feature_command(user: str | None, words: list[str], usage: str) -> Command:
    feature = words[0]
    if feature not in FEATURES:
        raise ControlError(f"unknown feature {feature!r}: use one of {', '.join(FEATURES)}"
                           f" (forms: {usage})")
    name: FeatureName = feature
    if len(words) < 2:
        raise ControlError(f"{feature}: missing on/off (e.g. '{feature} off')")
    on = _on_off(words[1], feature)
    rest = words[2:]
    try:
        if name == "dnd":
            if rest:
                raise ControlError("dnd takes no number: 'dnd on' or 'dnd off'")
            return SetFeature(user, Change("dnd", on))
        if not on:
            if rest:
                raise ControlError(f"'{feature} off' takes no number")
            return SetFeature(user, Change(name, False))
        if not rest:
            example = "cfna on 3000 4" if name == "cfna" else f"{feature} on 2000"
            raise ControlError(f"{feature} on needs a forward-to number, e.g. '{example}'")
        target = rest[0]
        if name == "cfna":
            if len(rest) > 2:
                raise ControlError("cfna on <number> [<rings>]: too many words")
            rings = None
            if len(rest) == 2:
                if not (rest[1].isascii() and rest[1].isdigit()) or len(rest[1]) > 3:
                    raise ControlError(f"cfna rings must be a whole number, got {rest[1]!r}")
                rings = int(rest[1])
            return SetFeature(user, Change("cfna", True, target, rings))
        if len(rest) > 1:
            raise ControlError(f"{feature} on <number>: too many words (rings are for cfna)")
        return SetFeature(user, Change(name, True, target))
    except StateError as exc:
        raise ControlError(str(exc)) from exc


def parse_server_line(line: str) -> Command | None:
    """Parse one server control line; None for a blank line or a ``#`` comment."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    if words == ["help"]:
        return Help()
    if words == ["state"]:
        return QueryState(None)
    if len(words) < 2:
        raise ControlError(f"expected: {SERVER_USAGE}")
    user, verb = words[0], words[1]
    if verb == "state" and len(words) == 2:
        return QueryState(user)
    if verb == "policy":
        if len(words) < 3 or words[2] not in ("accept", "reject", "error"):
            raise ControlError("expected: <user> policy accept|reject|error [status]")
        status = None
        if len(words) > 3:
            if not (words[3].isascii() and words[3].isdigit()) or not 400 <= int(words[3]) <= 699:
                raise ControlError("policy error status must be a 4xx-6xx code, e.g. 403")
            status = int(words[3])
        return SetPolicy(None if user == "*" else user, words[2], status)
    return _feature_command(user, words[1:], SERVER_USAGE)


def parse_phone_line(line: str) -> Command | None:
    """Parse one phone control line; None for a blank line or a ``#`` comment."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    if words == ["help"]:
        return Help()
    if words == ["state"]:
        return QueryState(None)
    if words[0] == "sync":
        if len(words) != 2:
            raise ControlError("expected: sync on|off")
        return SetSync(_on_off(words[1], "sync"))
    if words[0] in ("register", "unregister"):
        if len(words) != 1:
            raise ControlError(f"{words[0]} takes nothing more: '{words[0]}'")
        return SetRegistration(words[0] == "register")
    return _feature_command(None, words, PHONE_USAGE)
