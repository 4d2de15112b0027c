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
    TP/FTNT/NEG/009        the server does not know the package (489)
    TP/FTNT/NEG/010        the SUBSCRIBE is refused
    TP/FTNT/NEG/011        a refresh finds the subscription gone (481)
    TP/FTNT/NEG/012        a refresh answered 489
    TP/FTNT/NEG/013        a refresh refused
    TP/FTNT/NEG/014        a refresh unanswered
    TP/FTNT/NEG/015        the subscription expires at the server
    TP/FTNT/NEG/016        the full-state NOTIFY overtake the 2xx (subscribing)
    TP/FTNT/NEG/017        the full-state NOTIFY overtake the 2xx (refreshing)
    TP/FTNT/NEG/018        a change NOTIFY with a bad body (bool-literal)
    TP/FTNT/NEG/019        a change NOTIFY with a bad body (bad-forwarding-type)
    TP/FTNT/NEG/020        a change NOTIFY with a bad body (ring-count-range)
    TP/FTNT/NEG/021        a change NOTIFY with a bad body (garbage)
    TP/FTNT/NEG/022        a set request with a bad body
    TP/FTNT/NEG/023        a ring count outside the server's range
    TP/FTNT/NEG/024        the line setting does not gate sync
    TP/FTNT/NEG/025        the server's policy rejects the change
    TP/FTNT/NEG/026        the server's policy refuses the change
    TP/FTNT/NEG/027        a change over a lossy link

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
    """TP/FTNT/NEG/009: the server does not know the package (489).

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


def test_tp_ftnt_neg_010(fsync_target: Target) -> None:
    """TP/FTNT/NEG/010: the SUBSCRIBE is refused.

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
def test_tp_ftnt_neg_011(fsync_target: Target) -> None:
    """TP/FTNT/NEG/011: a refresh finds the subscription gone (481).

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
def test_tp_ftnt_neg_012(fsync_target: Target) -> None:
    """TP/FTNT/NEG/012: a refresh answered 489.

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
def test_tp_ftnt_neg_013(fsync_target: Target) -> None:
    """TP/FTNT/NEG/013: a refresh refused.

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


def test_tp_ftnt_neg_014(fsync_target: Target) -> None:
    """TP/FTNT/NEG/014: a refresh unanswered.

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
def test_tp_ftnt_neg_015(fsync_target: Target) -> None:
    """TP/FTNT/NEG/015: the subscription expires at the server.

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


def test_tp_ftnt_neg_016(fsync_target: Target) -> None:
    """TP/FTNT/NEG/016: the full-state NOTIFY overtake the 2xx (subscribing).

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
def test_tp_ftnt_neg_017(fsync_target: Target) -> None:
    """TP/FTNT/NEG/017: the full-state NOTIFY overtake the 2xx (refreshing).

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


def test_tp_ftnt_neg_018(fsync_target: Target) -> None:
    """TP/FTNT/NEG/018: a change NOTIFY with a bad body (bool-literal).

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


def test_tp_ftnt_neg_019(fsync_target: Target) -> None:
    """TP/FTNT/NEG/019: a change NOTIFY with a bad body (bad-forwarding-type).

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


def test_tp_ftnt_neg_020(fsync_target: Target) -> None:
    """TP/FTNT/NEG/020: a change NOTIFY with a bad body (ring-count-range).

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


def test_tp_ftnt_neg_021(fsync_target: Target) -> None:
    """TP/FTNT/NEG/021: a change NOTIFY with a bad body (garbage).

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


def test_tp_ftnt_neg_022(fsync_target: Target) -> None:
    """TP/FTNT/NEG/022: a set request with a bad body.

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


def test_tp_ftnt_neg_023(fsync_target: Target) -> None:
    """TP/FTNT/NEG/023: a ring count outside the server's range.

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


def test_tp_ftnt_neg_024(fsync_target: Target) -> None:
    """TP/FTNT/NEG/024: the line setting does not gate sync.

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


def test_tp_ftnt_neg_025(fsync_target: Target) -> None:
    """TP/FTNT/NEG/025: the server's policy rejects the change.

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


def test_tp_ftnt_neg_026(fsync_target: Target) -> None:
    """TP/FTNT/NEG/026: the server's policy refuses the change.

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


def test_tp_ftnt_neg_027(fsync_target: Target) -> None:
    """TP/FTNT/NEG/027: a change over a lossy link.

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
