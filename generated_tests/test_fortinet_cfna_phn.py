"""Regression suite: Fortinet FortiVoice: cfna phone-initiated.

generated from spec/fortinet.yaml by fsync generate — do not edit

Test purposes:
    TP/FTNT/CFNA/PHN/001   cfna on 3000 4 at the phone reaches the other side
    TP/FTNT/CFNA/PHN/002   cfna switched on and off again at the phone
    TP/FTNT/CFNA/PHN/003   the confirming NOTIFY overtakes the 2xx
    TP/FTNT/CFNA/PHN/004   the 2xx is lost after the confirming NOTIFY
    TP/FTNT/CFNA/PHN/005   an administrator's change crosses a refused set request
    TP/FTNT/CFNA/PHN/006   the server refuses the set request
    TP/FTNT/CFNA/PHN/007   the set request goes unanswered
    TP/FTNT/CFNA/PHN/008   the confirming NOTIFY never reaches the phone
    TP/FTNT/CFNA/PHN/009   the confirming NOTIFY goes unanswered
    TP/FTNT/CFNA/PHN/010   the confirming NOTIFY is refused

By default each test runs the reference phone and server of the profile on their own
in-memory network; see fsync_model/testing/pytest_plugin.py for --fsync-dut.
"""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Answer, HoldBack, Match, Swallow, Target

pytestmark = pytest.mark.fsync_profile("fortinet")


def test_tp_ftnt_cfna_phn_001(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/001: cfna on 3000 4 at the phone reaches the other side.

    cfna on 3000 4 is switched at the phone; the exchange follows the guide's ladder step for
    step and the change reaches the other side, and both agree.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  200 OK
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_flow(
        "fortinet/cfna/phone-initiated",
        "Synced",
        path=(
            "PHONE_USER_CHANGE",
            "PHONE_SENDS_SUBSCRIBE_SET",
            "SERVER_SENDS_2XX",
            "SERVER_SENDS_NOTIFY",
            "PHONE_SENDS_200",
        ),
    )
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_002(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/002: cfna switched on and off again at the phone.

    cfna on 3000 4 then cfna off at the phone: the deactivation goes the same way and both sides
    end with the feature off.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  200 OK
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  200 OK
    """
    fsync_target.start()
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.user_change(Change("cfna", False))
    fsync_target.settle()
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Synced")
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.expect_state("server", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_003(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/003: the confirming NOTIFY overtakes the 2xx.

    The server's 2xx to the set request is held back behind its confirming NOTIFY (RFC 6665
    4.1.2.4 allows the NOTIFY first over UDP): the phone takes the confirmation, then the 2xx,
    and the change is synced.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  200 OK
        server -> phone  200 OK
    """
    fsync_target.start()
    fsync_target.arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_NOTIFY",
    )
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmBeforeAnswer",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmedAwaitingAnswer",
        "SERVER_SENDS_2XX",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Synced", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_004(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/004: the 2xx is lost after the confirming NOTIFY.

    The 2xx to the set request never reaches the phone, the confirming NOTIFY does: when the
    transaction times out the phone keeps the change, since the NOTIFY already told the outcome.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  200 OK
        phone            timeout (2xx lost)
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("SUBSCRIBE", response="2xx")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_NOTIFY",
    )
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmedAwaitingAnswer",
        "PHONE_TIMEOUT",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Synced", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_005(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/005: an administrator's change crosses a refused set request.

    The server refuses the set request (403), and the NOTIFY of an administrator's same change
    reaches the phone before the refusal: the phone takes the NOTIFY for the confirmation, then
    the refusal fails the change; the phone keeps what the NOTIFY said, the server's state.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  200 OK
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE", body=True), 403))
    fsync_target.arm("phone", HoldBack(Match("SUBSCRIBE", response="4xx"), Match("NOTIFY")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.admin_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_NOTIFY",
    )
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmBeforeAnswer",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmedAwaitingAnswer",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.expect_state("server", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_006(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/006: the server refuses the set request.

    The server answers the set request 403: the flow fails and the phone puts its indicator
    back; phone and server still agree.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("server", Answer(Match("SUBSCRIBE", body=True), 403))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "SetRequestSent",
        "SERVER_SENDS_ERROR",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_007(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/007: the set request goes unanswered.

    Every copy of the set request is lost: Timer F fires, the flow fails and the phone reverts.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        phone            timeout (Timer F)
    """
    fsync_target.start()
    fsync_target.arm("server", Swallow(Match("SUBSCRIBE", body=True)))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/phone-initiated", "SetRequestSent", "PHONE_TIMEOUT")
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_state("phone", Change("cfna", False))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_008(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/008: the confirming NOTIFY never reaches the phone.

    The confirming NOTIFY is answered on the path (an SBC) but never reaches the phone: the
    phone gives up after the confirm timeout and reverts; the next subscription refresh brings
    it the server's state.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  200 OK
        phone            no NOTIFY within 32 s
    """
    fsync_target.start()
    fsync_target.arm("phone", Answer(Match("NOTIFY"), 200))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/phone-initiated", "AwaitingConfirm", "PHONE_TIMEOUT")
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmReceived",
        "PHONE_SENDS_200",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("phone",))
    fsync_target.expect_problem("CONFIRM-TIMEOUT")
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_009(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/009: the confirming NOTIFY goes unanswered.

    Every copy of the confirming NOTIFY is lost: the phone gives up after the confirm timeout
    and reverts, the server's transaction times out and the subscription ends (RFC 6665 4.2.2);
    the phone's refresh is answered 481 and the new subscription's full state brings it the
    server's state.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  200 OK
        phone            no NOTIFY within 32 s
    """
    fsync_target.start()
    fsync_target.arm("phone", Swallow(Match("NOTIFY")))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.advance(40.0)
    fsync_target.settle()
    fsync_target.expect_reached("fortinet/cfna/phone-initiated", "AwaitingConfirm", "PHONE_TIMEOUT")
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmReceived",
        "SERVER_TIMEOUT",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed")
    fsync_target.expect_problem("CONFIRM-TIMEOUT")
    fsync_target.expect_state("phone", Change("cfna", True, target="3000", rings=4))
    fsync_target.check(final=True)


def test_tp_ftnt_cfna_phn_010(fsync_target: Target) -> None:
    """TP/FTNT/CFNA/PHN/010: the confirming NOTIFY is refused.

    The confirming NOTIFY is answered 500: the server records the flow as failed; the next
    refresh reconciles the phone.

    Expected ladder (fortinet/cfna/phone-initiated):
        phone            forward 3 (no answer) changed at the phone
        phone -> server  SUBSCRIBE (SetForwarding forwardNoAns)
        server -> phone  200 OK
        server -> phone  NOTIFY (ForwardingEvent forwardNoAns, new state)
        phone -> server  4xx-6xx
    """
    fsync_target.start()
    fsync_target.arm("phone", Answer(Match("NOTIFY"), 500))
    fsync_target.user_change(Change("cfna", True, target="3000", rings=4))
    fsync_target.settle()
    fsync_target.expect_reached(
        "fortinet/cfna/phone-initiated",
        "ConfirmReceived",
        "PHONE_SENDS_ERROR",
    )
    fsync_target.expect_flow("fortinet/cfna/phone-initiated", "Failed", sides=("server",))
    fsync_target.expect_problem("PHONE-REFUSED")
    fsync_target.check(final=True)
