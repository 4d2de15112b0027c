"""The vocabulary of a profile: enums for what spec/*.yaml may say, and `Setting`.

`Setting[T]` is how every vendor value reaches Python: the value plus where it came from
(`unconfirmed`, `note`, the YAML `line`), so an agent or a report can say "this 10 is a
guess, see spec/broadsoft.yaml:58" instead of burying the doubt in code.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One profile value with its provenance.

    ``unconfirmed`` is true when no capture has confirmed the value (protocol notes);
    ``note`` says why or where it comes from; ``line`` is its line in the YAML file (None
    for values made in code, e.g. a run-time override).
    """

    value: T
    unconfirmed: bool = False
    note: str = ""
    line: int | None = None

    def map(self, convert: Callable[[T], U]) -> Setting[U]:
        """The same provenance around ``convert(value)``."""
        return Setting(convert(self.value), self.unconfirmed, self.note, self.line)


class Mechanism(StrEnum):
    """How state travels (guide "Overview" and "Which server uses which mechanism")."""

    #: SUBSCRIBE/NOTIFY with ``Event: as-feature-event`` (protocol section 1).
    AS_FEATURE_EVENT = "as-feature-event"
    #: INVITE to a star code, phone -> server only (protocol section 3).
    FEATURE_CODE = "feature-code"
    #: 3CX uaCSTA INFO, server -> phone, informational only (protocol section 4).
    UACSTA = "uacsta"


class Feature(StrEnum):
    """The synced features (guide "BroadSoft": DND and forwards 1-3)."""

    DND = "dnd"
    #: call forward unconditional / always (CSTA ``forwardImmediate``)
    CFA = "cfa"
    #: call forward on busy (CSTA ``forwardBusy``)
    CFB = "cfb"
    #: call forward on no answer (CSTA ``forwardNoAns``), with a ring count
    CFNA = "cfna"

    @property
    def is_forward(self) -> bool:
        return self is not Feature.DND

    @property
    def csta_forwarding_type(self) -> str | None:
        """``forwardingType`` of the as-feature-event bodies (protocol 1.1), None for DND."""
        return _CSTA_TYPES.get(self)

    @property
    def camel(self) -> str:
        """CamelCase name used inside state names (``Cfna``)."""
        return self.value.capitalize()


_CSTA_TYPES = {
    Feature.CFA: "forwardImmediate",
    Feature.CFB: "forwardBusy",
    Feature.CFNA: "forwardNoAns",
}


class Direction(StrEnum):
    """Who starts a change (guide: "server-initiated" 1 / "phone-initiated" 2)."""

    SERVER = "server"
    PHONE = "phone"

    @property
    def initiated(self) -> str:
        """``server-initiated`` / ``phone-initiated``, as used in machine keys."""
        return f"{self.value}-initiated"


class Action(StrEnum):
    """What a change does to a feature. YAML keys ``activate``/``deactivate``: not on/off,
    which YAML 1.1 reads as booleans."""

    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"


class FullStateEncoding(StrEnum):
    """How a server sends the full state after a body-less SUBSCRIBE (protocol 1.2)."""

    #: one NOTIFY, ``multipart/mixed``, one part per feature (OpenSIPS, FreeSWITCH)
    MULTIPART = "multipart"
    #: one NOTIFY per feature (Asterisk)
    PER_FEATURE = "per-feature"
    #: several XML documents in one non-multipart body: a known DEFECT, for negative tests
    CONCATENATED = "concatenated"


class PolicyMode(StrEnum):
    """What the server does with a phone's change (protocol 1.2 "Policy rejection")."""

    ACCEPT = "accept"
    #: answers 2xx, then a confirming NOTIFY carrying the OLD state
    REJECT = "reject"
    #: answers the change with an error status (e.g. 403)
    ERROR = "error"
