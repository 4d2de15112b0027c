"""Regression suite: Yeastar: cfna phone-initiated.

generated from spec/yeastar.yaml by fsync generate — do not edit

Test purposes:
    TP/YSTR/CFNA/PHN/001   cfna on 3000 4 at the phone reaches the other side
    TP/YSTR/CFNA/PHN/002   cfna switched on and off again at the phone
    TP/YSTR/CFNA/PHN/003   the PBX rings twice before it answers
    TP/YSTR/CFNA/PHN/004   the PBX rings before answering the authenticated INVITE
    TP/YSTR/CFNA/PHN/005   the PBX refuses the code
    TP/YSTR/CFNA/PHN/006   the PBX rings, then refuses
    TP/YSTR/CFNA/PHN/007   the code INVITE goes unanswered
    TP/YSTR/CFNA/PHN/008   the PBX refuses the authenticated INVITE
    TP/YSTR/CFNA/PHN/009   the PBX challenges the credentials again
    TP/YSTR/CFNA/PHN/010   the authenticated INVITE goes unanswered
    TP/YSTR/CFNA/PHN/011   a PBX that answers without a challenge
    TP/YSTR/CFNA/PHN/012   the PBX refuses the BYE
    TP/YSTR/CFNA/PHN/013   the BYE goes unanswered
    TP/YSTR/CFNA/PHN/014   the ACK is lost: the PBX sees the BYE first
    TP/YSTR/CFNA/PHN/015   the ACK comes after the BYE
    TP/YSTR/CFNA/PHN/016   the PBX rings and never answers

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, Match, Provisional, Swallow, Target

pytestmark = pytest.mark.fsync_profile("yeastar")


def test_tp_ystr_cfna_phn_001(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/001: cfna on 3000 4 at the phone reaches the other side.

    cfna on 3000 4 is switched at the phone; the exchange follows the guide's ladder step for
    step and the change reaches the other side, and both agree.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Inviting",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow(
        "yeastar/cfna/phone-initiated",
        "Synced",
        path=(
            "PHONE_USER_CHANGE",
            "PHONE_SENDS_INVITE",
            "SERVER_SENDS_CHALLENGE",
            "PHONE_SENDS_INVITE",
            "SERVER_SENDS_2XX",
            "PHONE_SENDS_ACK",
            "PHONE_SENDS_BYE",
            "SERVER_SENDS_2XX",
        ),
    )
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_002(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/002: cfna switched on and off again at the phone.

    cfna on 3000 4 then cfna off at the phone: the deactivation goes the same way and both sides
    end with the feature off.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.user_change(Change("cfna", False))
    fsync_target.settle()
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Inviting",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.expect_state("server", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_003(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/003: the PBX rings twice before it answers.

    Two 180s come before the PBX's answer to the code INVITE: the call proceeds and the code is
    executed as usual.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  100 Trying / 18x
        server -> phone  18x
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Provisional(Match("INVITE"), repeat=2))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "SERVER_SENDS_1XX")
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Proceeding", "SERVER_SENDS_1XX")
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Proceeding",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_004(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/004: the PBX rings before answering the authenticated INVITE.

    A 180 comes before the answer to the INVITE with credentials: the code is executed as usual.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  100 Trying / 18x
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Provisional(Match("INVITE"), skip=1))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Authenticating",
        "SERVER_SENDS_1XX",
    )
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Proceeding", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_005(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/005: the PBX refuses the code.

    The code INVITE is answered 403 (a code not provisioned, say): the flow fails, the phone
    reverts its indicator and reports the refusal.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("INVITE"), 403))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_006(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/006: the PBX rings, then refuses.

    A 180, then 486: the flow fails and the phone reverts.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  100 Trying / 18x
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Provisional(Match("INVITE")))
    fsync_target.arm("server", Answer(Match("INVITE"), 486))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "SERVER_SENDS_1XX")
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Proceeding", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_007(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/007: the code INVITE goes unanswered.

    Every copy of the code INVITE is lost: Timer B fires, the flow fails and the phone reverts.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        phone            timeout (Timer B)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("INVITE")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "PHONE_TIMEOUT")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_008(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/008: the PBX refuses the authenticated INVITE.

    The INVITE with credentials is answered 403: the flow fails.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("INVITE"), 403, skip=1))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Authenticating",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_009(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/009: the PBX challenges the credentials again.

    The INVITE with credentials is challenged again (401, the same realm): the credentials were
    refused and the flow fails.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        server -> phone  401 Unauthorized
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("INVITE"), 401, skip=1))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "Authenticating",
        "SERVER_SENDS_CHALLENGE",
    )
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_010(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/010: the authenticated INVITE goes unanswered.

    Every copy of the INVITE with credentials is lost: Timer B fires and the flow fails.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  401 Unauthorized
        phone -> server  INVITE (Authorization)
        phone            timeout (Timer B)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("INVITE"), skip=1))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Authenticating", "PHONE_TIMEOUT")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_011(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/011: a PBX that answers without a challenge.

    The code INVITE is answered 200 at once (no challenge, on the path): the phone ACKs and
    hangs up. That PBX never saw the code, so only the phone's side is checked.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("INVITE"), 200))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "SERVER_SENDS_2XX")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced", sides=("phone",))
    fsync_target.check()


def test_tp_ystr_cfna_phn_012(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/012: the PBX refuses the BYE.

    The BYE after the code call is answered 481: the code was executed at the 2xx, so the change
    stands.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("BYE"), 481))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "HangingUp", "SERVER_SENDS_ERROR")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced", sides=("phone",))
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_013(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/013: the BYE goes unanswered.

    Every copy of the BYE is lost: the code was executed at the 2xx, so the change stands.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  200 OK
        phone -> server  ACK
        phone -> server  BYE
        phone            timeout
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("BYE")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "HangingUp", "PHONE_TIMEOUT")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced", sides=("phone",))
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_014(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/014: the ACK is lost: the PBX sees the BYE first.

    Every copy of the ACK is lost (the phone ACKs each resent 2xx again): the BYE reaches the
    PBX while it still waits for the ACK. The dialog is confirmed at the PBX's 2xx (RFC 3261
    12.1.1), so it answers the BYE; it resends the 2xx for 64*T1 and gives up. The change
    stands.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  200 OK
        phone -> server  BYE (before the ACK)
        server -> phone  200 OK
        server           no ACK within 64*T1
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("ACK")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Answered", "PHONE_SENDS_BYE")
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "AwaitingLateAck", "SERVER_TIMEOUT")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_015(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/015: the ACK comes after the BYE.

    The ACK is lost for a second: the PBX takes the BYE first, and the phone's ACK of a resent
    2xx (RFC 3261 13.2.2.4) after it. The change stands.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  200 OK
        phone -> server  BYE (before the ACK)
        server -> phone  200 OK
        phone -> server  ACK (of a resent 2xx)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("ACK"), seconds=1.0))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Answered", "PHONE_SENDS_BYE")
    fsync_target.expect_reached(
        "yeastar/cfna/phone-initiated",
        "AwaitingLateAck",
        "PHONE_SENDS_ACK",
    )
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ystr_cfna_phn_016(fsync_target: Target) -> None:
    """TP/YSTR/CFNA/PHN/016: the PBX rings and never answers.

    A 180 comes, then nothing: Timer B stops at a provisional, so the phone gives the call
    64*T1, then CANCELs it (RFC 3261 9.1); the flow fails, the phone reverts and reports it.

    Expected ladder (yeastar/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  INVITE sip:<code>@domain with SDP (*73{number} / *073)
        server -> phone  100 Trying / 18x
        phone            timeout (Timer B)
    """
    fsync_target.start()
    fsync_target.arm("server", Provisional(Match("INVITE")))
    fsync_target.arm("server", Swallow(Match("INVITE")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Inviting", "SERVER_SENDS_1XX")
    fsync_target.expect_reached("yeastar/cfna/phone-initiated", "Proceeding", "PHONE_TIMEOUT")
    fsync_target.expect_flow("yeastar/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_problem("CODE-NO-ANSWER")
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)
