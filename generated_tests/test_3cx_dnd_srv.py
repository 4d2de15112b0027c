"""Regression suite: 3CX Phone System: dnd server-initiated.

generated from spec/3cx.yaml by fsync generate — do not edit

Test purposes:
    TP/3CX/DND/SRV/001     dnd on on the server is shown on the phone
    TP/3CX/DND/SRV/002     dnd switched on and off again on the server
    TP/3CX/DND/SRV/003     the phone refuses the uaCSTA INFO
    TP/3CX/DND/SRV/004     the uaCSTA INFO goes unanswered

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Match, Swallow, Target

pytestmark = pytest.mark.fsync_profile("3cx")


def test_tp_3cx_dnd_srv_001(fsync_target: Target) -> None:
    """TP/3CX/DND/SRV/001: dnd on on the server is shown on the phone.

    dnd on is switched on the server; the exchange follows the guide's ladder step for step and
    the change is shown on the phone, which keeps its own state (informational).

    Expected ladder (3cx/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  INFO (DoNotDisturbEvent, application/csta+xml)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow(
        "3cx/dnd/server-initiated",
        "Informed",
        path=("SERVER_ADMIN_CHANGE", "SERVER_SENDS_INFO", "PHONE_SENDS_200"),
    )
    fsync_target.expect_state("server", Change("dnd", True))
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_3cx_dnd_srv_002(fsync_target: Target) -> None:
    """TP/3CX/DND/SRV/002: dnd switched on and off again on the server.

    dnd on then dnd off on the server: the deactivation goes the same way and both sides end
    with the feature off.

    Expected ladder (3cx/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  INFO (DoNotDisturbEvent, application/csta+xml)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.admin_change(Change("dnd", False))
    fsync_target.settle()
    fsync_target.expect_flow("3cx/dnd/server-initiated", "Informed")
    fsync_target.expect_state("server", Change("dnd", False))
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_3cx_dnd_srv_003(fsync_target: Target) -> None:
    """TP/3CX/DND/SRV/003: the phone refuses the uaCSTA INFO.

    The INFO is answered 500: any final answer will do (protocol 4), the server counts the phone
    as informed and the phone's state does not move.

    Expected ladder (3cx/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  INFO (DoNotDisturbEvent, application/csta+xml)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Answer(Match("INFO"), 500))
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_reached("3cx/dnd/server-initiated", "InfoSent", "PHONE_SENDS_ERROR")
    fsync_target.expect_flow("3cx/dnd/server-initiated", "Informed", sides=("server",))
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_3cx_dnd_srv_004(fsync_target: Target) -> None:
    """TP/3CX/DND/SRV/004: the uaCSTA INFO goes unanswered.

    Every copy of the INFO is lost: the server's transaction times out.

    Expected ladder (3cx/dnd/server-initiated):
        server           DND changed on the server
        server -> phone  INFO (DoNotDisturbEvent, application/csta+xml)
        server           timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("INFO")))
    fsync_target.admin_change(Change("dnd", True))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/dnd/server-initiated", "InfoSent", "SERVER_TIMEOUT")
    fsync_target.expect_flow("3cx/dnd/server-initiated", "Failed", sides=("server",))
    fsync_target.check(final=True)
