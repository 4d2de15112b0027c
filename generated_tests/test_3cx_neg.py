"""Regression suite: 3CX Phone System: negative cases.

generated from spec/3cx.yaml by fsync generate — do not edit

Test purposes:
    TP/3CX/NEG/001         the registrar is down at first
    TP/3CX/NEG/002         the first REGISTER goes unanswered
    TP/3CX/NEG/003         the authenticated REGISTER is refused
    TP/3CX/NEG/004         the authenticated REGISTER goes unanswered
    TP/3CX/NEG/005         the credentials are refused
    TP/3CX/NEG/006         a refresh accepted without a challenge
    TP/3CX/NEG/007         a refresh refused
    TP/3CX/NEG/008         a refresh unanswered
    TP/3CX/NEG/009         the phone unregisters
    TP/3CX/NEG/010         a de-REGISTER accepted without a challenge
    TP/3CX/NEG/011         the de-REGISTER is refused
    TP/3CX/NEG/012         the de-REGISTER goes unanswered
    TP/3CX/NEG/013         the authenticated de-REGISTER is refused
    TP/3CX/NEG/014         the authenticated de-REGISTER goes unanswered
    TP/3CX/NEG/015         the de-REGISTER's credentials are challenged again
    TP/3CX/NEG/016         the phone refuses the uaCSTA session
    TP/3CX/NEG/017         the phone refuses MonitorStart
    TP/3CX/NEG/018         MonitorStart goes unanswered
    TP/3CX/NEG/019         with feature sync off every change stays local
    TP/3CX/NEG/020         the server's policy rejects the change
    TP/3CX/NEG/021         the server's policy refuses the change
    TP/3CX/NEG/022         a change over a lossy link
    TP/3CX/NEG/023         the uaCSTA session INVITE goes unanswered

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Match, Swallow, Target
from fsync_model.testing.stimuli import LinkFaults

pytestmark = pytest.mark.fsync_profile("3cx")


def test_tp_3cx_neg_001(fsync_target: Target) -> None:
    """TP/3CX/NEG/001: the registrar is down at first.

    The first REGISTER is answered 503: the phone waits retry_after and registers.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  4xx-6xx
        phone -> server  REGISTER (retry after 30 s)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 503))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Registering", "SERVER_SENDS_ERROR")
    fsync_target.expect_reached("3cx/registration", "RetryWait", "PHONE_SENDS_REGISTER")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_002(fsync_target: Target) -> None:
    """TP/3CX/NEG/002: the first REGISTER goes unanswered.

    Every copy of the first REGISTER is lost: Timer F fires, the phone retries.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        phone            timeout (Timer F)
    """
    fsync_target.arm("server", Swallow(Match("REGISTER")))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Registering", "PHONE_TIMEOUT")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_003(fsync_target: Target) -> None:
    """TP/3CX/NEG/003: the authenticated REGISTER is refused.

    The REGISTER with credentials is answered 503: the phone retries later.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  4xx-6xx
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 503, skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Authenticating", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_004(fsync_target: Target) -> None:
    """TP/3CX/NEG/004: the authenticated REGISTER goes unanswered.

    Every copy of the REGISTER with credentials is lost: the phone retries later.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        phone            timeout (Timer F)
    """
    fsync_target.arm("server", Swallow(Match("REGISTER"), skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Authenticating", "PHONE_TIMEOUT")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_005(fsync_target: Target) -> None:
    """TP/3CX/NEG/005: the credentials are refused.

    The REGISTER with credentials is challenged again: the phone counts the credentials as
    refused and retries later.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 407, skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Authenticating", "SERVER_SENDS_CHALLENGE")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_006(fsync_target: Target) -> None:
    """TP/3CX/NEG/006: a refresh accepted without a challenge.

    The registrar accepts the refresh at once (no stale nonce): the phone stays registered.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 200))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Refreshing", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_007(fsync_target: Target) -> None:
    """TP/3CX/NEG/007: a refresh refused.

    The refresh is answered 503: the phone retries later and registers again.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 503))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Refreshing", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_008(fsync_target: Target) -> None:
    """TP/3CX/NEG/008: a refresh unanswered.

    Every copy of the refresh is lost: the phone retries later and registers again.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        phone            timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("REGISTER")))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Refreshing", "PHONE_TIMEOUT")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_009(fsync_target: Target) -> None:
    """TP/3CX/NEG/009: the phone unregisters.

    The de-REGISTER is challenged and sent again with credentials; the registrar removes the
    binding.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Expires: 0, Proxy-Authorization)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Registered", "PHONE_SENDS_UNREGISTER")
    fsync_target.expect_reached("3cx/registration", "Unregistering", "SERVER_SENDS_CHALLENGE")
    fsync_target.expect_reached(
        "3cx/registration",
        "UnregisterChallenged",
        "PHONE_SENDS_UNREGISTER",
    )
    fsync_target.expect_reached("3cx/registration", "UnregisterAuthenticating", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_010(fsync_target: Target) -> None:
    """TP/3CX/NEG/010: a de-REGISTER accepted without a challenge.

    The registrar removes the binding at once.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 200))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Unregistering", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_011(fsync_target: Target) -> None:
    """TP/3CX/NEG/011: the de-REGISTER is refused.

    The de-REGISTER is answered 503: the phone counts itself unregistered (the binding expires
    anyway).

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 503))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Unregistering", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_012(fsync_target: Target) -> None:
    """TP/3CX/NEG/012: the de-REGISTER goes unanswered.

    Every copy of the de-REGISTER is lost: the phone counts itself unregistered.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        phone            timeout
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("REGISTER")))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "Unregistering", "PHONE_TIMEOUT")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_013(fsync_target: Target) -> None:
    """TP/3CX/NEG/013: the authenticated de-REGISTER is refused.

    The de-REGISTER with credentials is answered 503.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Expires: 0, Proxy-Authorization)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 503, skip=1))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "3cx/registration",
        "UnregisterAuthenticating",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_014(fsync_target: Target) -> None:
    """TP/3CX/NEG/014: the authenticated de-REGISTER goes unanswered.

    Every copy of the de-REGISTER with credentials is lost.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Expires: 0, Proxy-Authorization)
        phone            timeout
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("REGISTER"), skip=1))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/registration", "UnregisterAuthenticating", "PHONE_TIMEOUT")
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_015(fsync_target: Target) -> None:
    """TP/3CX/NEG/015: the de-REGISTER's credentials are challenged again.

    The de-REGISTER with credentials is challenged with the same nonce (refused): the phone
    gives up; registering again starts a new attempt.

    Expected ladder (3cx/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Expires: 0, Proxy-Authorization)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Expires: 0, Proxy-Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  407 Proxy Authentication Required
        phone -> server  REGISTER (Proxy-Authorization)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 407, skip=1))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "3cx/registration",
        "UnregisterAuthenticating",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow("3cx/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_016(fsync_target: Target) -> None:
    """TP/3CX/NEG/016: the phone refuses the uaCSTA session.

    The phone answers the session INVITE 488: the server counts uaCSTA as failed.

    Expected ladder (3cx/uacsta-session):
        server -> phone  INVITE (uaCSTA session)
        phone -> server  4xx-6xx
    """
    fsync_target.arm("phone", Answer(Match("INVITE"), 488))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/uacsta-session", "SessionOffered", "PHONE_SENDS_ERROR")
    fsync_target.expect_flow("3cx/uacsta-session", "Failed", sides=("server",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_017(fsync_target: Target) -> None:
    """TP/3CX/NEG/017: the phone refuses MonitorStart.

    The phone answers the MonitorStart INFO 500: monitoring fails.

    Expected ladder (3cx/uacsta-session):
        server -> phone  INVITE (uaCSTA session)
        phone -> server  200 OK
        server -> phone  ACK
        server -> phone  INFO (MonitorStart)
        phone -> server  4xx-6xx
    """
    fsync_target.arm("phone", Answer(Match("INFO"), 500))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/uacsta-session", "MonitorRequested", "PHONE_SENDS_ERROR")
    fsync_target.expect_flow("3cx/uacsta-session", "Failed", sides=("server",))
    fsync_target.check(final=True)


def test_tp_3cx_neg_018(fsync_target: Target) -> None:
    """TP/3CX/NEG/018: MonitorStart goes unanswered.

    Every copy of the MonitorStart INFO is lost: the server's transaction times out.

    Expected ladder (3cx/uacsta-session):
        server -> phone  INVITE (uaCSTA session)
        phone -> server  200 OK
        server -> phone  ACK
        server -> phone  INFO (MonitorStart)
        server           timeout (Timer F)
    """
    fsync_target.arm("phone", Swallow(Match("INFO")))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/uacsta-session", "MonitorRequested", "SERVER_TIMEOUT")
    fsync_target.expect_flow("3cx/uacsta-session", "Failed", sides=("server",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(sync=False)
def test_tp_3cx_neg_019(fsync_target: Target) -> None:
    """TP/3CX/NEG/019: with feature sync off every change stays local.

    The line's feature sync is off (the default): dnd on at the phone is applied locally and
    nothing goes to the server; switched on, the line syncs again.

    Expected ladder (3cx/line):
        phone            change executed locally
        phone            SIP<n> Feature Sync: 1
    """
    fsync_target.start()
    fsync_target.user_change(Change("dnd", True))
    fsync_target.set_sync(True)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/line", "Local", "PHONE_USER_CHANGE")
    fsync_target.expect_reached("3cx/line", "Local", "PHONE_ENABLES_SYNC")
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_3cx_neg_020(fsync_target: Target) -> None:
    """TP/3CX/NEG/020: the server's policy rejects the change.

    The server accepts the request and does not apply it (policy reject): a one-way mechanism
    cannot tell, the phone keeps its change and the server its state.

    Expected ladder (3cx/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*32 / *30)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.set_policy("reject")
    fsync_target.user_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow("3cx/dnd/phone-initiated", "Synced")
    fsync_target.expect_state("server", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_3cx_neg_021(fsync_target: Target) -> None:
    """TP/3CX/NEG/021: the server's policy refuses the change.

    The server answers the request 403 (policy error): the flow fails and the phone reverts.

    Expected ladder (3cx/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*32 / *30)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.set_policy("error")
    fsync_target.user_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow("3cx/dnd/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_3cx_neg_022(fsync_target: Target) -> None:
    """TP/3CX/NEG/022: a change over a lossy link.

    20 % of the datagrams are lost both ways: retransmissions carry the change through and both
    sides agree.

    Expected ladder (3cx/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*32 / *30)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.network(LinkFaults(loss=0.2))
    fsync_target.user_change(Change("dnd", True))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_3cx_neg_023(fsync_target: Target) -> None:
    """TP/3CX/NEG/023: the uaCSTA session INVITE goes unanswered.

    Every copy of the session INVITE is lost: Timer B fires and the server counts uaCSTA as
    failed; a DND change still reaches the phone as an INFO outside a dialog.

    Expected ladder (3cx/uacsta-session):
        server -> phone  INVITE (uaCSTA session)
        server           timeout (Timer B)
    """
    fsync_target.arm("phone", Swallow(Match("INVITE")))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("3cx/uacsta-session", "SessionOffered", "SERVER_TIMEOUT")
    fsync_target.expect_flow("3cx/uacsta-session", "Failed", sides=("server",))
    fsync_target.expect_problem("PHONE-TIMEOUT")
    fsync_target.check(final=True)
