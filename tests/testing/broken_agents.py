"""Deliberately broken agents: each has one defect a real device has been seen to have, so
the tests can show the property runs catch it, shrink it and replay it. Module-level classes:
replay files import them from here."""
from __future__ import annotations

import re

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer, _Subscription
from fsync_model.agents.state import Change, FeatureName
from fsync_model.model import FlowTracker, Input
from fsync_model.sip.subscription import NotifyReceived


class IgnoresForwardNumbers(ReferenceServer):
    """Takes a phone's forward request but keeps the number it had (or none)."""

    def _on_set_request(self, sub: _Subscription, change: Change, now: float) -> None:
        if change.feature != "dnd" and change.on:
            kept = self.state(sub.user).forward(change.feature).target or "0"
            change = Change(change.feature, True, kept, change.rings)
        super()._on_set_request(sub, change, now)


class SwapsBusyAndNoAnswer(ReferenceServer):
    """Stores a busy forward in the no-answer slot and the other way round."""

    def _apply(self, user: str, change: Change, cause: str, now: float) -> None:
        if change.feature in ("cfb", "cfna"):
            other: FeatureName = "cfna" if change.feature == "cfb" else "cfb"
            change = Change(other, change.on, change.target, None)
        super()._apply(user, change, cause, now)


class ForgetsTheNamespace(ReferenceServer):
    """Sends every as-feature-event body without the ECMA-323 namespace."""

    def _queue(self, sub: _Subscription, body: bytes, ctype: str, tracker: FlowTracker | None,
               sent: Input, now: float) -> None:
        super()._queue(sub, re.sub(rb'\s+xmlns="[^"]*"', b"", body), ctype, tracker, sent, now)


class RefusesChangeNotifies(ReferencePhone):
    """Answers every NOTIFY after the full state with 500."""

    def _on_notify(self, event: NotifyReceived, now: float) -> None:
        if self.subscription is not None and self.subscription.state == "Active" and (
                event.state.state != "terminated"):
            self.ua.reply(event.transaction, 500, now)
            return
        super()._on_notify(event, now)
