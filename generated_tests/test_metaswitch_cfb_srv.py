"""Regression suite: Metaswitch: cfb server-initiated.

generated from spec/metaswitch.yaml by fsync generate — do not edit

Test purposes:
    TP/MSW/CFB/SRV/001     cfb on 2001 on the server reaches the other side
    TP/MSW/CFB/SRV/002     cfb switched on and off again on the server
    TP/MSW/CFB/SRV/003     the phone refuses the change NOTIFY
    TP/MSW/CFB/SRV/004     the change NOTIFY goes unanswered

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Match, Swallow, Target

pytestmark = pytest.mark.fsync_profile("metaswitch")


def test_tp_msw_cfb_srv_001(fsync_target: Target) -> None:
    """TP/MSW/CFB/SRV/001: cfb on 2001 on the server reaches the other side.

    cfb on 2001 is switched on the server; the exchange follows the guide's ladder step for step
    and the change reaches the other side, and both agree.

    Expected ladder (metaswitch/cfb/server-initiated):
        server           forward 2 (busy) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardBusy)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("cfb", True, target="2001"))
    fsync_target.settle()
    fsync_target.expect_flow(
        "metaswitch/cfb/server-initiated",
        "Synced",
        path=("SERVER_ADMIN_CHANGE", "SERVER_SENDS_NOTIFY", "PHONE_SENDS_200"),
    )
    fsync_target.expect_state("phone", Change("cfb", True, target="2001"))
    fsync_target.expect_state("server", Change("cfb", True, target="2001"))
    fsync_target.check(final=True)


def test_tp_msw_cfb_srv_002(fsync_target: Target) -> None:
    """TP/MSW/CFB/SRV/002: cfb switched on and off again on the server.

    cfb on 2001 then cfb off on the server: the deactivation goes the same way and both sides
    end with the feature off.

    Expected ladder (metaswitch/cfb/server-initiated):
        server           forward 2 (busy) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardBusy)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("cfb", True, target="2001"))
    fsync_target.admin_change(Change("cfb", False))
    fsync_target.settle()
    fsync_target.expect_flow("metaswitch/cfb/server-initiated", "Synced")
    fsync_target.expect_state("phone", Change("cfb", False))
    fsync_target.expect_state("server", Change("cfb", False))
    fsync_target.check(final=True)


def test_tp_msw_cfb_srv_003(fsync_target: Target) -> None:
    """TP/MSW/CFB/SRV/003: the phone refuses the change NOTIFY.

    The change NOTIFY is answered 500: the server records the flow as failed and reports the
    refusal; the next subscription refresh resends the full state.

    Expected ladder (metaswitch/cfb/server-initiated):
        server           forward 2 (busy) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardBusy)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Answer(Match("NOTIFY"), 500))
    fsync_target.admin_change(Change("cfb", True, target="2001"))
    fsync_target.settle()
    fsync_target.expect_reached(
        "metaswitch/cfb/server-initiated",
        "NotifySent",
        "PHONE_SENDS_ERROR",
    )
    fsync_target.expect_flow("metaswitch/cfb/server-initiated", "Failed", sides=("server",))
    fsync_target.expect_problem("PHONE-REFUSED")
    fsync_target.expect_state("phone", Change("cfb", True, target="2001"))
    fsync_target.check(final=True)


def test_tp_msw_cfb_srv_004(fsync_target: Target) -> None:
    """TP/MSW/CFB/SRV/004: the change NOTIFY goes unanswered.

    Every copy of the change NOTIFY is lost: the server's transaction times out and the
    subscription ends (RFC 6665 4.2.2); the phone's next refresh is answered 481 and it
    subscribes again, getting the full state.

    Expected ladder (metaswitch/cfb/server-initiated):
        server           forward 2 (busy) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardBusy)
        server           timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("NOTIFY")))
    fsync_target.admin_change(Change("cfb", True, target="2001"))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("metaswitch/cfb/server-initiated", "NotifySent", "SERVER_TIMEOUT")
    fsync_target.expect_flow("metaswitch/cfb/server-initiated", "Failed", sides=("server",))
    fsync_target.expect_state("phone", Change("cfb", True, target="2001"))
    fsync_target.check(final=True)
