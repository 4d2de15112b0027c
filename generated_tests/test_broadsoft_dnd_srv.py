"""Regression suite: BroadSoft BroadWorks: dnd server-initiated.

generated from spec/broadsoft.yaml by fsync generate — do not edit

Test purposes:
    TP/BSFT/DND/SRV/001    dnd on on the server reaches the other side
    TP/BSFT/DND/SRV/002    dnd switched on and off again on the server
    TP/BSFT/DND/SRV/003    the phone refuses the change NOTIFY
    TP/BSFT/DND/SRV/004    the change NOTIFY goes unanswered
    TP/BSFT/DND/SRV/005    the change NOTIFY has no namespace

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Mangle, Match, Swallow, Target

pytestmark = pytest.mark.fsync_profile("broadsoft")


def test_tp_bsft_dnd_srv_001(fsync_target: Target) -> None:
    """TP/BSFT/DND/SRV/001: dnd on on the server reaches the other side.

    dnd on is switched on the server; the exchange follows the guide's ladder step for step and
    the change reaches the other side, and both agree.

    Expected ladder (broadsoft/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  NOTIFY (DoNotDisturbEvent)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow(
        "broadsoft/dnd/server-initiated",
        "Synced",
        path=("SERVER_ADMIN_CHANGE", "SERVER_SENDS_NOTIFY", "PHONE_SENDS_200"),
    )
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.expect_state("server", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_bsft_dnd_srv_002(fsync_target: Target) -> None:
    """TP/BSFT/DND/SRV/002: dnd switched on and off again on the server.

    dnd on then dnd off on the server: the deactivation goes the same way and both sides end
    with the feature off.

    Expected ladder (broadsoft/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  NOTIFY (DoNotDisturbEvent)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.admin_change(Change("dnd", False))
    fsync_target.settle()
    fsync_target.expect_flow("broadsoft/dnd/server-initiated", "Synced")
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.expect_state("server", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_bsft_dnd_srv_003(fsync_target: Target) -> None:
    """TP/BSFT/DND/SRV/003: the phone refuses the change NOTIFY.

    The change NOTIFY is answered 500: the server records the flow as failed and reports the
    refusal; the next subscription refresh resends the full state.

    Expected ladder (broadsoft/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  NOTIFY (DoNotDisturbEvent)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Answer(Match("NOTIFY"), 500))
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_reached("broadsoft/dnd/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_flow("broadsoft/dnd/server-initiated", "Failed", sides=("server",))
    fsync_target.expect_problem("PHONE-REFUSED")
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_bsft_dnd_srv_004(fsync_target: Target) -> None:
    """TP/BSFT/DND/SRV/004: the change NOTIFY goes unanswered.

    Every copy of the change NOTIFY is lost: the server's transaction times out and the
    subscription ends (RFC 6665 4.2.2); the phone's next refresh is answered 481 and it
    subscribes again, getting the full state.

    Expected ladder (broadsoft/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  NOTIFY (DoNotDisturbEvent)
        server           timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("NOTIFY")))
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("broadsoft/dnd/server-initiated", "NotifySent", "SERVER_TIMEOUT")
    fsync_target.expect_flow("broadsoft/dnd/server-initiated", "Failed", sides=("server",))
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_bsft_dnd_srv_005(fsync_target: Target) -> None:
    """TP/BSFT/DND/SRV/005: the change NOTIFY has no namespace.

    The change NOTIFY arrives without the ECMA-323 namespace (protocol 1: Polycom phones crash
    on it): the phone refuses it with 400 and reports the defect.

    Expected ladder (broadsoft/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  NOTIFY (DoNotDisturbEvent)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Mangle(Match("NOTIFY"), "no-namespace"))
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_reached("broadsoft/dnd/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("AFE-NS-MISSING")
    fsync_target.expect_problem("PHONE-REFUSED")
    fsync_target.check(final=True)
