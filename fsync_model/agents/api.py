"""The surface of the reference agents that adapters (CLI, HTTP API, tests, DUT runner) use.

Both agents are sans-IO endpoints (see ``docs/architecture.md``): the adapter feeds them
datagrams and timer ticks and sends what they return. These protocols list the extra calls an
adapter makes; the concrete classes live in ``agents/server.py`` and ``agents/phone.py``.
"""
from __future__ import annotations

from typing import Protocol

from fsync_model.agents.state import Change, FeatureState
from fsync_model.transport.address import Address


class SansIOEndpoint(Protocol):
    def receive_datagram(self, data: bytes, src: Address, now: float) -> None: ...
    def handle_timer(self, now: float) -> None: ...
    def get_timer(self) -> float | None: ...
    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]: ...

    def bind(self, local: list[Address]) -> None:
        """The addresses the adapter actually bound (port 0 resolved), first = preferred.
        Called once before any traffic; Via, Contact and sent-by use them."""


class ServerAgentAPI(SansIOEndpoint, Protocol):
    def admin_change(self, user: str, change: Change, now: float) -> None:
        """A change on the server (portal, API): apply it and notify per the profile.
        Raises ``control.RefusedCommand`` (a ValueError), changing nothing, for a change
        the profile does not take (a ring count outside its range)."""

    def state(self, user: str) -> FeatureState:
        """The server's state for ``user`` (default state for an unknown user)."""

    def users(self) -> list[str]:
        """Users known from registrations, subscriptions or changes, sorted."""

    def set_policy(self, user: str | None, policy: str, status: int | None = None) -> None:
        """accept | reject (2xx, then NOTIFY with the old state) | error (answer status)."""


class PhoneAgentAPI(SansIOEndpoint, Protocol):
    user: str

    def start(self, now: float) -> None:
        """Register, then subscribe when the profile and the line's setting say so."""

    def user_change(self, change: Change, now: float) -> None:
        """The user pressed a key: apply locally or sync per the profile and setting."""

    def set_sync(self, on: bool, now: float) -> None:
        """The line's feature-sync setting (off by default)."""

    def unregister(self, now: float) -> None:
        """The line goes offline: unsubscribe and remove the binding (``Expires: 0``)."""

    def register(self, now: float) -> None:
        """The line comes back online after :meth:`unregister`."""

    @property
    def state(self) -> FeatureState:
        """The confirmed state."""

    @property
    def indicator(self) -> FeatureState:
        """What the phone shows: the pending change until the server confirms it."""
