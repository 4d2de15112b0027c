"""Regression suite: Fortinet FortiVoice: negative cases.

generated from spec/fortinet.yaml by fsync generate — do not edit

Test purposes:
    TP/FTNT/NEG/001        the registrar is down at first
    TP/FTNT/NEG/002        the first REGISTER goes unanswered
    TP/FTNT/NEG/003        the authenticated REGISTER is refused
    TP/FTNT/NEG/004        the authenticated REGISTER goes unanswered
    TP/FTNT/NEG/005        the credentials are refused
    TP/FTNT/NEG/006        a refresh accepted without a challenge
    TP/FTNT/NEG/007        a refresh refused
    TP/FTNT/NEG/008        a refresh unanswered
    TP/FTNT/NEG/009        the phone unregisters
    TP/FTNT/NEG/010        a de-REGISTER accepted without a challenge
    TP/FTNT/NEG/011        the de-REGISTER is refused
    TP/FTNT/NEG/012        the de-REGISTER goes unanswered
    TP/FTNT/NEG/013        the authenticated de-REGISTER is refused
    TP/FTNT/NEG/014        the authenticated de-REGISTER goes unanswered
    TP/FTNT/NEG/015        the de-REGISTER's credentials are challenged again
    TP/FTNT/NEG/016        the server does not know the package (489)
    TP/FTNT/NEG/017        the SUBSCRIBE goes unanswered
    TP/FTNT/NEG/018        the SUBSCRIBE is refused
    TP/FTNT/NEG/019        a refresh finds the subscription gone (481)
    TP/FTNT/NEG/020        a refresh answered 489
    TP/FTNT/NEG/021        a refresh refused
    TP/FTNT/NEG/022        a refresh unanswered
    TP/FTNT/NEG/023        the subscription expires at the server
    TP/FTNT/NEG/024        the full-state NOTIFY overtake the 2xx (subscribing)
    TP/FTNT/NEG/025        the full-state NOTIFY overtake the 2xx (refreshing)
    TP/FTNT/NEG/026        the 2xx of a refresh is lost after the full-state NOTIFY
    TP/FTNT/NEG/027        the full-state NOTIFY refused
    TP/FTNT/NEG/028        the full-state NOTIFY unanswered
    TP/FTNT/NEG/029        a refresh crosses the full-state NOTIFY
    TP/FTNT/NEG/030        the phone unregisters while the full-state NOTIFY is on its way
    TP/FTNT/NEG/031        a refresh crossing the full state finds the subscription gone (481)
    TP/FTNT/NEG/032        a refresh crossing the full state is answered 489
    TP/FTNT/NEG/033        a refresh crossing the full state is refused
    TP/FTNT/NEG/034        a refresh crossing the full state goes unanswered
    TP/FTNT/NEG/035        the full state overtakes the 2xx of a refresh crossing it
    TP/FTNT/NEG/036        a change NOTIFY with a bad body (bool-literal)
    TP/FTNT/NEG/037        a change NOTIFY with a bad body (bad-forwarding-type)
    TP/FTNT/NEG/038        a change NOTIFY with a bad body (ring-count-range)
    TP/FTNT/NEG/039        a change NOTIFY with a bad body (garbage)
    TP/FTNT/NEG/040        a set request with a bad body
    TP/FTNT/NEG/041        a ring count outside the server's range
    TP/FTNT/NEG/042        the line setting does not gate sync
    TP/FTNT/NEG/043        the server's policy rejects the change
    TP/FTNT/NEG/044        the server's policy refuses the change
    TP/FTNT/NEG/045        a change over a lossy link

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, HoldBack, Mangle, Match, Swallow, Target
from fsync_model.testing.stimuli import LinkFaults

pytestmark = pytest.mark.fsync_profile("fortinet")


def test_tp_ftnt_neg_001(fsync_target: Target) -> None:
    """TP/FTNT/NEG/001: the registrar is down at first.

    The first REGISTER is answered 503: the phone waits retry_after and registers.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  4xx-6xx
        phone -> server  REGISTER (retry after 30 s)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 503))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Registering", "SERVER_SENDS_ERROR")
    fsync_target.expect_reached("fortinet/registration", "RetryWait", "PHONE_SENDS_REGISTER")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_002(fsync_target: Target) -> None:
    """TP/FTNT/NEG/002: the first REGISTER goes unanswered.

    Every copy of the first REGISTER is lost: Timer F fires, the phone retries.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        phone            timeout (Timer F)
    """
    fsync_target.arm("server", Swallow(Match("REGISTER")))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Registering", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_003(fsync_target: Target) -> None:
    """TP/FTNT/NEG/003: the authenticated REGISTER is refused.

    The REGISTER with credentials is answered 503: the phone retries later.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  4xx-6xx
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 503, skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Authenticating", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_004(fsync_target: Target) -> None:
    """TP/FTNT/NEG/004: the authenticated REGISTER goes unanswered.

    Every copy of the REGISTER with credentials is lost: the phone retries later.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        phone            timeout (Timer F)
    """
    fsync_target.arm("server", Swallow(Match("REGISTER"), skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Authenticating", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_005(fsync_target: Target) -> None:
    """TP/FTNT/NEG/005: the credentials are refused.

    The REGISTER with credentials is challenged again: the phone counts the credentials as
    refused and retries later.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
    """
    fsync_target.arm("server", Answer(Match("REGISTER"), 401, skip=1))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Authenticating", "SERVER_SENDS_CHALLENGE")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_006(fsync_target: Target) -> None:
    """TP/FTNT/NEG/006: a refresh accepted without a challenge.

    The registrar accepts the refresh at once (no stale nonce): the phone stays registered.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 200))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Refreshing", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_007(fsync_target: Target) -> None:
    """TP/FTNT/NEG/007: a refresh refused.

    The refresh is answered 503: the phone retries later and registers again.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 503))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Refreshing", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_008(fsync_target: Target) -> None:
    """TP/FTNT/NEG/008: a refresh unanswered.

    Every copy of the refresh is lost: the phone retries later and registers again.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (refresh)
        phone            timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("REGISTER")))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Refreshing", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_009(fsync_target: Target) -> None:
    """TP/FTNT/NEG/009: the phone unregisters.

    The de-REGISTER is challenged and sent again with credentials; the registrar removes the
    binding.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Expires: 0, Authorization)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/registration", "Registered", "PHONE_SENDS_UNREGISTER")
    fsync_target.expect_reached("fortinet/registration", "Unregistering", "SERVER_SENDS_CHALLENGE")
    fsync_target.expect_reached(
        "fortinet/registration",
        "UnregisterChallenged",
        "PHONE_SENDS_UNREGISTER",
    )
    fsync_target.expect_reached(
        "fortinet/registration",
        "UnregisterAuthenticating",
        "SERVER_SENDS_2XX",
    )
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_010(fsync_target: Target) -> None:
    """TP/FTNT/NEG/010: a de-REGISTER accepted without a challenge.

    The registrar removes the binding at once.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
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
    fsync_target.expect_reached("fortinet/registration", "Unregistering", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_011(fsync_target: Target) -> None:
    """TP/FTNT/NEG/011: the de-REGISTER is refused.

    The de-REGISTER is answered 503: the phone counts itself unregistered (the binding expires
    anyway).

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
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
    fsync_target.expect_reached("fortinet/registration", "Unregistering", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_012(fsync_target: Target) -> None:
    """TP/FTNT/NEG/012: the de-REGISTER goes unanswered.

    Every copy of the de-REGISTER is lost: the phone counts itself unregistered.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
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
    fsync_target.expect_reached("fortinet/registration", "Unregistering", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_013(fsync_target: Target) -> None:
    """TP/FTNT/NEG/013: the authenticated de-REGISTER is refused.

    The de-REGISTER with credentials is answered 503.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Expires: 0, Authorization)
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
        "fortinet/registration",
        "UnregisterAuthenticating",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_014(fsync_target: Target) -> None:
    """TP/FTNT/NEG/014: the authenticated de-REGISTER goes unanswered.

    Every copy of the de-REGISTER with credentials is lost.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Expires: 0, Authorization)
        phone            timeout
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("REGISTER"), skip=1))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/registration",
        "UnregisterAuthenticating",
        "PHONE_TIMEOUT",
    )
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_015(fsync_target: Target) -> None:
    """TP/FTNT/NEG/015: the de-REGISTER's credentials are challenged again.

    The de-REGISTER with credentials is challenged with the same nonce (refused): the phone
    gives up; registering again starts a new attempt.

    Expected ladder (fortinet/registration):
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 0)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Expires: 0, Authorization)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Expires: 0, Authorization)
        server -> phone  200 OK
        phone -> server  REGISTER (Expires: 3600)
        server -> phone  401 Unauthorized
        phone -> server  REGISTER (Authorization)
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("REGISTER"), 401, skip=1))
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.register()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/registration",
        "UnregisterAuthenticating",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow("fortinet/registration", "Registered", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_016(fsync_target: Target) -> None:
    """TP/FTNT/NEG/016: the server does not know the package (489).

    The SUBSCRIBE is answered 489 Bad Event (protocol 1.3): the phone waits about 60 s and
    subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  489 Bad Event
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600) (new dialog)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 489))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Subscribing", "SERVER_SENDS_489")
    fsync_target.expect_reached("fortinet/subscription", "RetryWait", "PHONE_SENDS_SUBSCRIBE")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_017(fsync_target: Target) -> None:
    """TP/FTNT/NEG/017: the SUBSCRIBE goes unanswered.

    Every copy of the first SUBSCRIBE is lost: Timer F (and Timer N, RFC 6665 4.1.2.4) fires,
    the phone waits and subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        phone            timeout (Timer F)
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600) (new dialog)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("server", Swallow(Match("SUBSCRIBE"), seconds=33.0))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Subscribing", "PHONE_TIMEOUT")
    fsync_target.expect_reached("fortinet/subscription", "RetryWait", "PHONE_SENDS_SUBSCRIBE")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_018(fsync_target: Target) -> None:
    """TP/FTNT/NEG/018: the SUBSCRIBE is refused.

    The SUBSCRIBE is answered 500: the phone waits and subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  4xx-6xx
    """
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 500))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Subscribing", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_019(fsync_target: Target) -> None:
    """TP/FTNT/NEG/019: a refresh finds the subscription gone (481).

    The refresh is answered 481: the phone starts a new subscription at once.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  481 Call/Transaction Does Not Exist
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 481))
    fsync_target.advance(108.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Refreshing", "SERVER_SENDS_481")
    fsync_target.expect_reached("fortinet/subscription", "Unsubscribed", "PHONE_SENDS_SUBSCRIBE")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_020(fsync_target: Target) -> None:
    """TP/FTNT/NEG/020: a refresh answered 489.

    The refresh is answered 489: the phone waits and subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  489 Bad Event
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 489))
    fsync_target.advance(108.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Refreshing", "SERVER_SENDS_489")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_021(fsync_target: Target) -> None:
    """TP/FTNT/NEG/021: a refresh refused.

    The refresh is answered 500: the subscription stays valid until it expires (RFC 6665
    4.1.2.2).

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 500))
    fsync_target.advance(108.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Refreshing", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_022(fsync_target: Target) -> None:
    """TP/FTNT/NEG/022: a refresh unanswered.

    Every copy of the refresh is lost: the subscription stays valid until it expires.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        phone            timeout
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("SUBSCRIBE"), seconds=33.0))
    fsync_target.advance(3240.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Refreshing", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_023(fsync_target: Target) -> None:
    """TP/FTNT/NEG/023: the subscription expires at the server.

    The refresh is refused and the subscription expires: the server ends it with a terminated
    NOTIFY (reason timeout) and the phone subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        server -> phone  NOTIFY (Subscription-State: terminated)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600) (new dialog)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE"), 500))
    fsync_target.advance(121.0)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Active", "SERVER_SENDS_NOTIFY_TERMINATED")
    fsync_target.expect_reached("fortinet/subscription", "TerminationNotified", "PHONE_SENDS_200")
    fsync_target.expect_reached("fortinet/subscription", "Terminated", "PHONE_SENDS_SUBSCRIBE")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_024(fsync_target: Target) -> None:
    """TP/FTNT/NEG/024: the full-state NOTIFY overtake the 2xx (subscribing).

    The 2xx to the subscribing SUBSCRIBE is held back until the full-state NOTIFY arrived (RFC
    6665 4.1.2.4): the subscription becomes active all the same.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        server -> phone  200 OK
    """
    fsync_target.arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY")))
    fsync_target.start()
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Subscribing", "SERVER_SENDS_NOTIFY")
    fsync_target.expect_reached(
        "fortinet/subscription",
        "SubscribingFullStateNotified",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_reached(
        "fortinet/subscription",
        "SubscribingFullStateReceived",
        "SERVER_SENDS_2XX",
    )
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_025(fsync_target: Target) -> None:
    """TP/FTNT/NEG/025: the full-state NOTIFY overtake the 2xx (refreshing).

    The 2xx to the refreshing SUBSCRIBE is held back until the full-state NOTIFY arrived (RFC
    6665 4.1.2.4): the subscription becomes active all the same.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY")))
    fsync_target.advance(108.5)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "Refreshing", "SERVER_SENDS_NOTIFY")
    fsync_target.expect_reached(
        "fortinet/subscription",
        "RefreshingFullStateNotified",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_reached(
        "fortinet/subscription",
        "RefreshingFullStateReceived",
        "SERVER_SENDS_2XX",
    )
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=120)
def test_tp_ftnt_neg_026(fsync_target: Target) -> None:
    """TP/FTNT/NEG/026: the 2xx of a refresh is lost after the full-state NOTIFY.

    Every copy of the 2xx to the refresh is lost, the full-state NOTIFY reach the phone: when
    the refresh times out the phone counts it as taken (the NOTIFYs show it).

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        phone            timeout (2xx lost)
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("SUBSCRIBE", response="2xx")))
    fsync_target.advance(108.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "RefreshingFullStateReceived",
        "PHONE_TIMEOUT",
    )
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_027(fsync_target: Target) -> None:
    """TP/FTNT/NEG/027: the full-state NOTIFY refused.

    The phone answers the full-state NOTIFY 500: the subscription stays (RFC 5057) and the next
    part follows; the next refresh brings the full state again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  4xx-6xx
    """
    fsync_target.arm("phone", Answer(Match("NOTIFY"), 500))
    fsync_target.start()
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "FullStateNotified", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("PHONE-REFUSED")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_028(fsync_target: Target) -> None:
    """TP/FTNT/NEG/028: the full-state NOTIFY unanswered.

    Every copy of the full-state NOTIFY is lost: the server's transaction times out and the
    subscription ends (RFC 6665 4.2.2); the phone's refresh is answered 481 and it subscribes
    again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        server           timeout (Timer F)
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY")))
    fsync_target.start()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/subscription", "FullStateNotified", "SERVER_TIMEOUT")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=20)
def test_tp_ftnt_neg_029(fsync_target: Target) -> None:
    """TP/FTNT/NEG/029: a refresh crosses the full-state NOTIFY.

    The full-state NOTIFY is held up on the way until after the refresh: the server answers the
    refresh and starts the full state over; the phone ends up with the full state all the same.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=25.0))
    fsync_target.start()
    fsync_target.advance(18.5)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "FullStateNotified",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "SERVER_SENDS_2XX")
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_030(fsync_target: Target) -> None:
    """TP/FTNT/NEG/030: the phone unregisters while the full-state NOTIFY is on its way.

    The phone goes offline before the full-state NOTIFY reaches it: it unsubscribes, and the
    server ends the subscription with a terminated NOTIFY.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  SUBSCRIBE (Expires: 0)
        server -> phone  481 Call/Transaction Does Not Exist
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600) (new dialog)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=5.0))
    fsync_target.start()
    fsync_target.unregister()
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "FullStateNotified",
        "PHONE_SENDS_UNSUBSCRIBE",
    )
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_UNSUBSCRIBE",
    )
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=20)
def test_tp_ftnt_neg_031(fsync_target: Target) -> None:
    """TP/FTNT/NEG/031: a refresh crossing the full state finds the subscription gone (481).

    The full state is held up on the way and the refresh that crosses it is answered 481: the
    phone starts a new subscription at once.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  481 Call/Transaction Does Not Exist
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=25.0))
    fsync_target.arm("server", Answer(Match("SUBSCRIBE", body=False), 481, skip=1))
    fsync_target.start()
    fsync_target.advance(18.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "SERVER_SENDS_481")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=20)
def test_tp_ftnt_neg_032(fsync_target: Target) -> None:
    """TP/FTNT/NEG/032: a refresh crossing the full state is answered 489.

    The full state is held up on the way and the refresh that crosses it is answered 489: the
    phone waits and subscribes again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  489 Bad Event
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=25.0))
    fsync_target.arm("server", Answer(Match("SUBSCRIBE", body=False), 489, skip=1))
    fsync_target.start()
    fsync_target.advance(18.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "SERVER_SENDS_489")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=20)
def test_tp_ftnt_neg_033(fsync_target: Target) -> None:
    """TP/FTNT/NEG/033: a refresh crossing the full state is refused.

    The full state is held up on the way and the refresh that crosses it is answered 500: the
    subscription and the full state under way stay; the phone waits for its first part again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  4xx-6xx
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=25.0))
    fsync_target.arm("server", Answer(Match("SUBSCRIBE", body=False), 500, skip=1))
    fsync_target.start()
    fsync_target.advance(18.5)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=400)
def test_tp_ftnt_neg_034(fsync_target: Target) -> None:
    """TP/FTNT/NEG/034: a refresh crossing the full state goes unanswered.

    The full state is held up on the way and the refresh that crosses it gets no answer: the
    full state under way stays; the phone waits for its first part again.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        phone            timeout
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.advance(355.0)
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=380.0))
    fsync_target.arm("server", Swallow(Match("SUBSCRIBE", body=False), skip=1))
    fsync_target.advance(400.0)
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(subscribe_expires=20)
def test_tp_ftnt_neg_035(fsync_target: Target) -> None:
    """TP/FTNT/NEG/035: the full state overtakes the 2xx of a refresh crossing it.

    The full state is held up until after the refresh, and the refresh's 2xx is held back behind
    it (RFC 6665 4.1.2.4): the subscription becomes active all the same.

    Expected ladder (fortinet/subscription):
        phone -> server  SUBSCRIBE (Event: as-feature-event, no body, Expires: 3600)
        server -> phone  200 OK
        phone -> server  SUBSCRIBE (refresh, no body)
        server -> phone  NOTIFY (full state, multipart/mixed)
        phone -> server  200 OK
        server -> phone  200 OK
    """
    fsync_target.arm("phone", Swallow(Match("NOTIFY"), seconds=25.0))
    fsync_target.start()
    fsync_target.arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY")))
    fsync_target.advance(18.5)
    fsync_target.advance(12.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/subscription",
        "AwaitingFullState",
        "PHONE_SENDS_SUBSCRIBE",
    )
    fsync_target.expect_reached("fortinet/subscription", "Restarting", "SERVER_SENDS_NOTIFY")
    fsync_target.expect_reached(
        "fortinet/subscription",
        "RestartingFullStateNotified",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_reached(
        "fortinet/subscription",
        "RestartingFullStateReceived",
        "SERVER_SENDS_2XX",
    )
    fsync_target.expect_flow("fortinet/subscription", "Active", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_036(fsync_target: Target) -> None:
    """TP/FTNT/NEG/036: a change NOTIFY with a bad body (bool-literal).

    The change NOTIFY's body is damaged (bool-literal): the phone refuses it, reports AFE-BOOL-
    LITERAL, and the next refresh brings the server's state.

    Expected ladder (fortinet/cfna/server-initiated):
        server           forward 3 (no answer) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Mangle(Match("NOTIFY"), "bool-literal"))
    fsync_target.admin_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("AFE-BOOL-LITERAL")
    fsync_target.check(final=True)


def test_tp_ftnt_neg_037(fsync_target: Target) -> None:
    """TP/FTNT/NEG/037: a change NOTIFY with a bad body (bad-forwarding-type).

    The change NOTIFY's body is damaged (bad-forwarding-type): the phone refuses it, reports
    AFE-FWDTYPE-UNKNOWN, and the next refresh brings the server's state.

    Expected ladder (fortinet/cfna/server-initiated):
        server           forward 3 (no answer) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Mangle(Match("NOTIFY"), "bad-forwarding-type"))
    fsync_target.admin_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("AFE-FWDTYPE-UNKNOWN")
    fsync_target.check(final=True)


def test_tp_ftnt_neg_038(fsync_target: Target) -> None:
    """TP/FTNT/NEG/038: a change NOTIFY with a bad body (ring-count-range).

    The change NOTIFY's body is damaged (ring-count-range): the phone refuses it, reports AFE-
    RINGCOUNT-RANGE, and the next refresh brings the server's state.

    Expected ladder (fortinet/cfna/server-initiated):
        server           forward 3 (no answer) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Mangle(Match("NOTIFY"), "ring-count-range"))
    fsync_target.admin_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("AFE-RINGCOUNT-RANGE")
    fsync_target.check(final=True)


def test_tp_ftnt_neg_039(fsync_target: Target) -> None:
    """TP/FTNT/NEG/039: a change NOTIFY with a bad body (garbage).

    The change NOTIFY's body is damaged (garbage): the phone refuses it, reports XML-MALFORMED,
    and the next refresh brings the server's state.

    Expected ladder (fortinet/cfna/server-initiated):
        server           forward 3 (no answer) changed on the server
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Mangle(Match("NOTIFY"), "garbage"))
    fsync_target.admin_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/server-initiated", "NotifySent", "PHONE_SENDS_ERROR")
    fsync_target.expect_problem("XML-MALFORMED")
    fsync_target.check(final=True)


def test_tp_ftnt_neg_040(fsync_target: Target) -> None:
    """TP/FTNT/NEG/040: a set request with a bad body.

    The set request's body reaches the server with True for true: a strict server refuses it and
    the phone reverts.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Mangle(Match("SUBSCRIBE", body=True), "bool-literal"))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_problem("AFE-BOOL-LITERAL")
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_041(fsync_target: Target) -> None:
    """TP/FTNT/NEG/041: a ring count outside the server's range.

    The user sets 11 rings: the server refuses the set request (range 1-10) and the phone
    reverts.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.user_change(Change("cfna", True, target="3000", rings=11))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_problem("AFE-RINGCOUNT-RANGE")
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_042(fsync_target: Target) -> None:
    """TP/FTNT/NEG/042: the line setting does not gate sync.

    The line's feature sync is switched off, yet dnd on at the phone still reaches the server
    (guide: not tied to the phone's setting); switched on again, nothing changes either.

    Expected ladder (fortinet/line):
        phone            setting changed (ignored)
        phone            setting changed (ignored)
    """
    fsync_target.start()
    fsync_target.set_sync(False)
    fsync_target.user_change(Change("dnd", True))
    fsync_target.set_sync(True)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/line", "SyncAlwaysOn", "PHONE_DISABLES_SYNC")
    fsync_target.expect_reached("fortinet/line", "SyncAlwaysOn", "PHONE_ENABLES_SYNC")
    fsync_target.expect_state("server", Change("dnd", True))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_043(fsync_target: Target) -> None:
    """TP/FTNT/NEG/043: the server's policy rejects the change.

    The server accepts the request and does not apply it (policy reject): its confirming NOTIFY
    carries the old state and the phone reverts its indicator (protocol 1.2).

    Expected ladder (fortinet/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  SUBSCRIBE (SetDoNotDisturb)
        server -> phone  200 OK
        server -> phone  NOTIFY (DoNotDisturbEvent, new state)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.set_policy("reject")
    fsync_target.user_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow("fortinet/dnd/phone-initiated", "Reverted")
    fsync_target.expect_state("server", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_044(fsync_target: Target) -> None:
    """TP/FTNT/NEG/044: the server's policy refuses the change.

    The server answers the request 403 (policy error): the flow fails and the phone reverts.

    Expected ladder (fortinet/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  SUBSCRIBE (SetDoNotDisturb)
        server -> phone  200 OK
        server -> phone  NOTIFY (DoNotDisturbEvent, new state)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.set_policy("error")
    fsync_target.user_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_flow("fortinet/dnd/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("dnd", False))
    fsync_target.check(final=True)


def test_tp_ftnt_neg_045(fsync_target: Target) -> None:
    """TP/FTNT/NEG/045: a change over a lossy link.

    20 % of the datagrams are lost both ways: retransmissions carry the change through and both
    sides agree.

    Expected ladder (fortinet/dnd/phone-initiated):
        phone            DND changed at the phone
        phone -> server  SUBSCRIBE (SetDoNotDisturb)
        server -> phone  200 OK
        server -> phone  NOTIFY (DoNotDisturbEvent, new state)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.network(LinkFaults(loss=0.2))
    fsync_target.user_change(Change("dnd", True))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_state("phone", Change("dnd", True))
    fsync_target.check(final=True)
