"""Reference phones (and a server) with one injected defect each, for testing ``fsync test``
(test-only).

Each is the reference phone with one behaviour broken the way field devices break it
(protocol notes): ``fsync test`` must catch each with the right rule. They run in process
(:class:`tests.dut.support.InProcessPhone`) or as ``fsync phone`` through
``python -m tests.dut.phone_main --defect NAME``.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from fsync_model.agents.phone import ReferencePhone, _Flow
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureName, FeatureState
from fsync_model.model import REVERTED
from fsync_model.sip.subscription import NotifyReceived
from fsync_model.testing.fixtures import mangle_body


def _without_target(state: FeatureState, feature: FeatureName) -> FeatureState:
    """``state`` with the forward-to number of ``feature`` forgotten."""
    forward = dataclasses.replace(state.forward(feature), target=None)
    if feature == "cfa":
        return dataclasses.replace(state, cfa=forward)
    if feature == "cfb":
        return dataclasses.replace(state, cfb=forward)
    return dataclasses.replace(state, cfna=forward)


class IgnoresForwardNumber(ReferencePhone):
    """Takes a forward from the server's NOTIFY but drops its forward-to number."""

    def _adopt(self, change: Change, cause: str, now: float) -> None:
        super()._adopt(change, cause, now)
        if change.feature == "dnd" or not change.on:
            return
        self._state = _without_target(self._state, change.feature)
        self._indicator = _without_target(self._indicator, change.feature)


_SWAP: dict[FeatureName, FeatureName] = {"cfb": "cfna", "cfna": "cfb"}


class SwapsBusyAndNoAnswer(ReferencePhone):
    """Reads forwardBusy as no-answer and forwardNoAns as busy in the server's NOTIFYs."""

    def _adopt(self, change: Change, cause: str, now: float) -> None:
        swapped = _SWAP.get(change.feature)
        if swapped is not None:
            rings = change.rings if swapped == "cfna" and change.on else None
            change = Change(swapped, change.on, change.target if change.on else None, rings)
        super()._adopt(change, cause, now)


class Notify500(ReferencePhone):
    """Answers every NOTIFY with 500 and ignores it."""

    def _on_notify(self, event: NotifyReceived, now: float) -> None:
        self.ua.reply(event.transaction, 500, now, "Server Internal Error")


class NoNamespace(ReferencePhone):
    """Sends set requests without the ECMA-323 namespace (protocol 1: Polycom crashes); the
    body is damaged by the shared ``testing.fixtures.mangle_body`` ("no-namespace")."""

    def _send_set_request(self, flow: _Flow, now: float) -> None:
        # The phone's UA is swapped for a stand-in for this one call, rather than its
        # send_in_dialog patched: compiled by mypyc (setup.py), UserAgent's methods are
        # read-only.
        ua = self.ua
        self.ua = _ManglingUA(ua)  # type: ignore[assignment]
        try:
            super()._send_set_request(flow, now)
        finally:
            self.ua = ua


class _ManglingUA:
    """A user agent whose in-dialog requests carry a body without the namespace."""

    def __init__(self, ua: Any) -> None:
        self._ua = ua

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ua, name)

    def send_in_dialog(self, dialog, method, now, *, body=b"", **kwargs):  # type: ignore[no-untyped-def]
        body = mangle_body(body, "no-namespace")
        return self._ua.send_in_dialog(dialog, method, now, body=body, **kwargs)


class NeverReverts(ReferencePhone):
    """Keeps showing its own change when the server's confirming NOTIFY carries the old
    state (a policy rejection): the indicator never reverts."""

    def _finish(self, flow: _Flow, now: float) -> None:
        if flow.tracker.state == REVERTED:
            flow.reported = flow.change
        super()._finish(flow, now)


class ServerDropsNamespace(ReferenceServer):
    """A server whose change NOTIFYs (not the full state) lack the namespace."""

    def _queue(self, sub: Any, body: bytes, ctype: str, tracker: Any, sent: Any,
               now: float) -> None:
        if tracker is not sub.tracker:
            body = mangle_body(body, "no-namespace")
        super()._queue(sub, body, ctype, tracker, sent, now)


DEFECTS: dict[str, type[ReferencePhone]] = {
    "ignores-forward-number": IgnoresForwardNumber,
    "swaps-busy-no-answer": SwapsBusyAndNoAnswer,
    "notify-500": Notify500,
    "no-namespace": NoNamespace,
    "never-reverts": NeverReverts,
}
