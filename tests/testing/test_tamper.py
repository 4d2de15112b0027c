"""The tamper layer does what a faulty peer or path does, one message kind at a time, and
what it forges is correct SIP."""
from __future__ import annotations

from fsync_model.agents.state import Change
from fsync_model.sip.checker import check_bytes
from fsync_model.testing.fixtures import (
    Answer,
    Bench,
    HoldBack,
    Mangle,
    Match,
    Provisional,
    Swallow,
    mangle_body,
)


def _firsts(bench: Bench, since: int = 0) -> list[str]:
    return [d.split(b"\r\n", 1)[0].decode() for _, _, _, d in bench.sent[since:]]


def test_a_forged_answer_is_correct_sip_and_stays_consistent() -> None:
    bench = Bench("broadsoft")
    bench.arm("server", Answer(Match("SUBSCRIBE"), 489))
    bench.start()
    forged = [d for _, _, _, d in bench.sent if d.startswith(b"SIP/2.0 489")]
    assert forged and check_bytes(forged[0]) == []
    assert b"Allow-Events: as-feature-event" in forged[0]
    assert bench.tamper_events[0].action == "answered"
    bench.heal()  # a retransmission after the rule is gone still gets the same answer
    bench.advance(70.0)
    assert bench.violations() == []


def test_swallow_drops_for_a_while_then_lets_through() -> None:
    bench = Bench("yeastar")
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=2.0))
    bench.user_change(Change("dnd", True))
    bench.advance(40.0)
    actions = {e.action for e in bench.tamper_events}
    assert actions == {"swallowed"}
    assert bench.server.state("1001").dnd, "a retransmission after the window got through"


def test_hold_back_releases_after_the_named_message() -> None:
    bench = Bench("broadsoft")
    bench.arm("phone", HoldBack(Match("SUBSCRIBE", response="2xx"), Match("NOTIFY")))
    bench.start()
    assert [e.action for e in bench.tamper_events] == ["held", "released"]
    bench.expect_reached("broadsoft/subscription", "Subscribing", "SERVER_SENDS_NOTIFY")


def test_provisionals_come_first_and_repeat() -> None:
    bench = Bench("huawei-ims")
    bench.start()
    bench.arm("server", Provisional(Match("INVITE"), repeat=2))
    mark = len(bench.sent)
    bench.user_change(Change("dnd", True))
    assert _firsts(bench, mark)[1:3] == ["SIP/2.0 180 Ringing"] * 2
    bench.expect_reached("huawei-ims/dnd/phone-initiated", "Proceeding", "SERVER_SENDS_1XX")


def test_mangle_damages_the_body_and_fixes_the_length() -> None:
    body = b'<x xmlns="urn:a"><on>true</on><forwardingType>forwardBusy</forwardingType></x>'
    assert b"xmlns" not in mangle_body(body, "no-namespace")
    assert b">True<" in mangle_body(body, "bool-literal")
    assert b"forwardAlways" in mangle_body(body, "bad-forwarding-type")
    bench = Bench("broadsoft")
    bench.start()
    bench.arm("phone", Mangle(Match("NOTIFY"), "no-namespace"))
    bench.admin_change(Change("dnd", True))
    bench.expect_problem("AFE-NS-MISSING")
    assert not bench.phone.state.dnd, "the phone refused the damaged NOTIFY"


def test_heal_forgets_drops_not_used_up() -> None:
    """A settle heals the network: ``drop_next`` rules armed while no traffic flowed must
    not eat the refresh's answers afterwards (a property run reported the phone's
    subscription not active after a settle: 21 drops to the phone were still armed)."""
    bench = Bench("broadsoft", subscribe_expires=120)
    bench.start()
    bench.net.drop_next(21, dst=bench.phone_at)
    bench.settle()
    bench.check(final=True)
    assert bench.net.clear_rules() == 0


def test_a_mangled_request_then_swallowed_is_known_as_dropped() -> None:
    """Rules in a row: a set request damaged by one and dropped by the next is reported as
    the datagram that arrived (not the damaged copy), so the oracles know it never reached
    the server (a property run reported it unanswered)."""
    bench = Bench("metaswitch", seed=0)
    bench.start()
    bench.arm("server", Mangle(Match("SUBSCRIBE", body=True), "bool-literal"))
    bench.arm("server", Swallow(Match("SUBSCRIBE"), 40.0))
    bench.user_change(Change("cfa", True, "100"))
    bench.settle()
    bench.check(final=True)
    swallowed = {e.data for e in bench.tamper_events if e.action == "swallowed"}
    assert swallowed and swallowed <= {e.data for e in bench.net.log}
