"""The inputs of every table: wire events named by who acts, and each role's view of them.

An input says what happened on the wire (or at a keypad or portal), not who is looking:
``PHONE_SENDS_SUBSCRIBE_SET``, ``SERVER_SENDS_2XX``. One table therefore serves both sides,
as in h2's stream machine; :func:`role_view` gives the side-specific name::

    role_view(Input.PHONE_SENDS_SUBSCRIBE_SET, Party.PHONE)   # 'SEND_SUBSCRIBE_SET'
    role_view(Input.PHONE_SENDS_SUBSCRIBE_SET, Party.SERVER)  # 'RECV_SUBSCRIBE_SET'
    role_view(Input.SERVER_ADMIN_CHANGE, Party.PHONE)         # 'PEER_ADMIN_CHANGE' (unseen)
    input_for(Party.SERVER, "RECV_SUBSCRIBE_SET")             # Input.PHONE_SENDS_SUBSCRIBE_SET

Local inputs (a keypad press, a portal change, a timer) are seen only by the party they
happen at; :func:`observable` tells, and a `FlowTracker` with a role steps over them.
"""
from __future__ import annotations

from enum import Enum, StrEnum


class Party(StrEnum):
    PHONE = "phone"
    SERVER = "server"

    @property
    def peer(self) -> Party:
        return Party.SERVER if self is Party.PHONE else Party.PHONE


class Input(StrEnum):
    """Role-agnostic events. ``<PARTY>_SENDS_<MESSAGE>`` are wire messages; the others are
    local to the party named first. "2XX" is 200 or 202 (which one: the profile, in the
    transition's ``status``); "ERROR" is any final >= 300 not named on its own."""

    # -- local events -----------------------------------------------------------------
    #: the user changes a feature at the phone (keypad, UI); guide "phone-initiated"
    PHONE_USER_CHANGE = "PHONE_USER_CHANGE"
    #: an administrator changes a feature on the server (portal, API, FAC); "server-initiated"
    SERVER_ADMIN_CHANGE = "SERVER_ADMIN_CHANGE"
    #: the per-line setting is switched on / off (guide "Configuration": SIP1 Feature Sync)
    PHONE_ENABLES_SYNC = "PHONE_ENABLES_SYNC"
    PHONE_DISABLES_SYNC = "PHONE_DISABLES_SYNC"
    #: a phone transaction timed out (RFC 3261 Timer B/F) or its wait for a NOTIFY ran out
    PHONE_TIMEOUT = "PHONE_TIMEOUT"
    #: a server transaction timed out (its NOTIFY / INFO / INVITE got no final answer)
    SERVER_TIMEOUT = "SERVER_TIMEOUT"

    # -- phone -> server -------------------------------------------------------------
    #: REGISTER with Expires > 0 (initial, refresh, or with credentials after a challenge)
    PHONE_SENDS_REGISTER = "PHONE_SENDS_REGISTER"
    #: REGISTER with Expires: 0
    PHONE_SENDS_UNREGISTER = "PHONE_SENDS_UNREGISTER"
    #: body-less SUBSCRIBE: new subscription or refresh, asks for the full state (protocol 1.1)
    PHONE_SENDS_SUBSCRIBE = "PHONE_SENDS_SUBSCRIBE"
    #: SUBSCRIBE with SetDoNotDisturb / SetForwarding: a set request (protocol 1.1)
    PHONE_SENDS_SUBSCRIBE_SET = "PHONE_SENDS_SUBSCRIBE_SET"
    #: SUBSCRIBE with Expires: 0
    PHONE_SENDS_UNSUBSCRIBE = "PHONE_SENDS_UNSUBSCRIBE"
    #: INVITE to a feature code (with credentials after a challenge); protocol 3
    PHONE_SENDS_INVITE = "PHONE_SENDS_INVITE"
    PHONE_SENDS_ACK = "PHONE_SENDS_ACK"
    PHONE_SENDS_BYE = "PHONE_SENDS_BYE"
    #: 200 OK to a NOTIFY, INFO, INVITE or BYE from the server
    PHONE_SENDS_200 = "PHONE_SENDS_200"
    #: a final error to a request from the server (400, 415, 481, 488, 501...)
    PHONE_SENDS_ERROR = "PHONE_SENDS_ERROR"

    # -- server -> phone -------------------------------------------------------------
    #: provisional 1xx to an INVITE (100 Trying, 180, 183)
    SERVER_SENDS_1XX = "SERVER_SENDS_1XX"
    SERVER_SENDS_2XX = "SERVER_SENDS_2XX"
    #: 401 or 407 with a digest challenge
    SERVER_SENDS_CHALLENGE = "SERVER_SENDS_CHALLENGE"
    #: 481 Call/Transaction Does Not Exist (to a refresh: the subscription is gone)
    SERVER_SENDS_481 = "SERVER_SENDS_481"
    #: 489 Bad Event: no as-feature-event package here (protocol 1.3)
    SERVER_SENDS_489 = "SERVER_SENDS_489"
    SERVER_SENDS_ERROR = "SERVER_SENDS_ERROR"
    #: a final non-2xx to a code INVITE that the profile counts as executed (protocol 3)
    SERVER_SENDS_FINAL_EXECUTED = "SERVER_SENDS_FINAL_EXECUTED"
    #: NOTIFY carrying the state (full state, a change, or the confirmation of a set request)
    SERVER_SENDS_NOTIFY = "SERVER_SENDS_NOTIFY"
    #: confirming NOTIFY that carries the state from BEFORE the set request: policy
    #: rejection (protocol 1.2); tell it from SERVER_SENDS_NOTIFY by comparing the bodies
    SERVER_SENDS_NOTIFY_OLD_STATE = "SERVER_SENDS_NOTIFY_OLD_STATE"
    #: NOTIFY with Subscription-State: terminated
    SERVER_SENDS_NOTIFY_TERMINATED = "SERVER_SENDS_NOTIFY_TERMINATED"
    #: INVITE setting up the uaCSTA session (protocol 4)
    SERVER_SENDS_INVITE = "SERVER_SENDS_INVITE"
    SERVER_SENDS_ACK = "SERVER_SENDS_ACK"
    #: INFO with an ECMA-323 document (MonitorStart, or a DND event); protocol 4
    SERVER_SENDS_INFO = "SERVER_SENDS_INFO"
    SERVER_SENDS_BYE = "SERVER_SENDS_BYE"

    @property
    def actor(self) -> Party:
        """The party that acts (sends, or at which the local event happens)."""
        return Party.PHONE if self.value.startswith("PHONE_") else Party.SERVER

    @property
    def on_wire(self) -> bool:
        """True for messages, False for local events (keypad, portal, setting, timer)."""
        return "_SENDS_" in self.value

    @property
    def message(self) -> str:
        """What happens, without the actor: ``SUBSCRIBE_SET``, ``2XX``, ``USER_CHANGE``."""
        return self.value.split("_SENDS_", 1)[1] if self.on_wire else _LOCAL_NAMES[self]


_LOCAL_NAMES = {
    Input.PHONE_USER_CHANGE: "USER_CHANGE",
    Input.SERVER_ADMIN_CHANGE: "ADMIN_CHANGE",
    Input.PHONE_ENABLES_SYNC: "ENABLE_SYNC",
    Input.PHONE_DISABLES_SYNC: "DISABLE_SYNC",
    Input.PHONE_TIMEOUT: "TIMEOUT",
    Input.SERVER_TIMEOUT: "TIMEOUT",
}


class View(Enum):
    """How a role relates to an input."""

    SEND = "SEND"  #: the role sends this message
    RECV = "RECV"  #: the role receives it
    LOCAL = "LOCAL"  #: it happens at the role (keypad, portal, timer)
    PEER = "PEER"  #: it happens at the peer: the role cannot see it


def view_kind(input: Input, role: Party) -> View:
    mine = input.actor is role
    if input.on_wire:
        return View.SEND if mine else View.RECV
    return View.LOCAL if mine else View.PEER


def observable(input: Input, role: Party) -> bool:
    """Whether ``role`` can see ``input`` happen (everything but the peer's local events)."""
    return view_kind(input, role) is not View.PEER


def role_view(input: Input, role: Party | None) -> str:
    """The input as ``role`` names it: ``SEND_X`` / ``RECV_X`` / ``X`` (local) /
    ``PEER_X`` (the peer's local event, unseen). With no role: the input's own name."""
    if role is None:
        return input.value
    kind = view_kind(input, role)
    if kind is View.LOCAL:
        return input.message
    return f"{kind.value}_{input.message}"


def trigger_name(input: Input, role: Party | None) -> str:
    """The `transitions` trigger for ``input`` seen from ``role``: ``send_subscribe_set``,
    ``recv_2xx``, ``user_change``, ``peer_admin_change``."""
    return role_view(input, role).lower()


def input_for(role: Party | None, name: str) -> Input:
    """Inverse of :func:`role_view` (also accepts the lower-case trigger names)."""
    wanted = name.upper()
    for candidate in Input:
        if role_view(candidate, role) == wanted:
            return candidate
    raise ValueError(f"no input is called {name!r} from the {role or 'neutral'} view")
