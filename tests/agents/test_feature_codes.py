"""Feature-code systems (INVITE to a code: Yeastar, 3CX, Huawei/ZTE IMS): regressions of
defects the property runs found in the reference agents, each on a bench that excuses no
known issue."""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.coverage_report import split_runs
from fsync_model.testing.fixtures import Bench, HoldBack, Match, Provisional, Side, Swallow
from fsync_model.testing.stimuli import DuplicateNext, LinkFaults


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def acks_stepped(bench: Bench, key: str) -> int:
    return sum(1 for s in bench.machine_steps(key, "server")
               if s.input.value == "PHONE_SENDS_ACK")


@pytest.mark.parametrize("toward", ["server", "phone"])
def test_the_pbx_steps_only_the_first_ack_of_a_code_call(toward: str) -> None:
    # duplicated toward the server: the ACK arrives twice; toward the phone: the 2xx
    # arrives twice and the phone's UA ACKs it again (RFC 3261 13.2.2.4)
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.network(DuplicateNext(6, toward))  # type: ignore[arg-type]
    bench.user_change(Change("dnd", True))
    bench.check()
    bench.settle()
    bench.check(final=True)
    assert acks_stepped(bench, "yeastar/dnd/phone-initiated") == 1
    bench.expect_flow("yeastar/dnd/phone-initiated", "Synced")
    bench.expect_state("server", Change("dnd", True))


@pytest.mark.parametrize(("lost", "ended_by"), [(40.0, "SERVER_TIMEOUT"),
                                                (1.0, "PHONE_SENDS_ACK")])
def test_the_pbx_takes_a_bye_that_overtook_the_ack(lost: float, ended_by: str) -> None:
    # the ACK lost: the BYE reaches the PBX in Answered; it answers it and resends its 2xx
    # until the phone's ACK of a resent 2xx arrives (lost for 1 s) or 64*T1 passed (40 s)
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("ACK"), lost))
    bench.user_change(Change("dnd", True))
    bench.check()
    key = "yeastar/dnd/phone-initiated"
    bench.expect_reached(key, "Answered", "PHONE_SENDS_BYE")
    bench.advance(40.0)
    bench.settle()
    bench.check(final=True)
    bench.expect_flow(key, "Synced")
    bench.expect_reached(key, "AwaitingLateAck", ended_by)
    bench.expect_state("server", Change("dnd", True))
    assert acks_stepped(bench, key) == (ended_by == "PHONE_SENDS_ACK")
    assert not bench.server._calls, "the call is forgotten once it ended"


@pytest.mark.parametrize(("first", "then", "end"), [("error", "accept", "Failed"),
                                                    ("accept", "error", "Synced")])
def test_a_code_call_keeps_the_policy_it_started_under(first: str, then: str,
                                                       end: str) -> None:
    # the policy changes between the challenge and the authenticated INVITE: the PBX
    # answers under the policy in force when the call started, as its tracker's table
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.set_policy(first)
    bench.network(LinkFaults(delay=(0.3, 0.3)))
    bench.user_change(Change("dnd", True))
    bench.advance(0.2)
    bench.set_policy(then)
    bench.advance(40.0)
    bench.check()
    bench.settle()
    bench.check(final=True)
    key = "yeastar/dnd/phone-initiated"
    bench.expect_flow(key, end)
    bench.expect_state("server", Change("dnd", end == "Synced"))


def test_a_reverted_forward_leaves_no_ring_count_on_the_indicator() -> None:
    # the refused change's ring count stayed on the indicator after the revert, and a
    # later change without one showed it while the phone's state had none
    bench = strict(Bench("3cx"))
    bench.start()
    bench.set_policy("error")
    bench.user_change(Change("cfna", True, "100", 1))
    bench.expect_flow("3cx/cfna/phone-initiated", "Failed", sides=("phone",))
    assert bench.phone.indicator == bench.phone.state
    bench.set_sync(False)
    bench.user_change(Change("cfna", True, "100"))
    bench.settle()
    bench.check(final=True)
    assert bench.phone.indicator.cfna.rings is None
    assert bench.phone.indicator == bench.phone.state


SIDES: tuple[Side, ...] = ("phone", "server")


def invites(bench: Bench) -> list[bytes]:
    return [data.split(b" ", 2)[1] for _, src, _, data in bench.sent
            if src == bench.phone_at and data.startswith(b"INVITE ")]


def test_changes_waiting_when_sync_goes_off_are_dropped() -> None:
    # the DND code call is in flight (its INVITE lost for 5 s), the forward waits behind
    # it; sync goes off: the call in flight finishes, the forward is not sent
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=5.0))
    bench.user_change(Change("dnd", True))
    bench.user_change(Change("cfa", True, "2000"))
    bench.set_sync(False)
    bench.expect_problem("CHANGE-DROPPED")
    assert bench.phone.dropped == [Change("cfa", True, "2000")]
    bench.advance(40.0)
    bench.check()
    bench.settle()
    bench.check(final=True)
    assert not any(uri.startswith(b"sip:*71") for uri in invites(bench))
    bench.expect_flow("yeastar/dnd/phone-initiated", "Synced")
    for side in SIDES:
        bench.expect_state(side, Change("dnd", True))
        bench.expect_state(side, Change("cfa", False))
    assert bench.phone.indicator == bench.phone.state


def test_a_change_without_a_feature_code_is_not_applied() -> None:
    # Huawei IMS has a timer code for the no-answer forward: no code for 0 rings
    bench = strict(Bench("huawei-ims"))
    bench.start()
    bench.user_change(Change("cfna", True, "3000", 0))
    bench.expect_problem("CODE-MISSING")
    bench.expect_problem("CHANGE-DROPPED")
    bench.settle()
    bench.check(final=True)
    assert invites(bench) == []
    assert not bench.machine_steps("huawei-ims/cfna/phone-initiated", "phone")
    for side in SIDES:
        bench.expect_state(side, Change("cfna", False))
    assert bench.phone.indicator == bench.phone.state
    bench.user_change(Change("cfna", True, "3000", 2))  # one with a code goes through
    bench.settle()
    bench.check(final=True)
    bench.expect_state("server", Change("cfna", True, "3000", 2))


def test_a_local_change_outlives_the_code_call_in_flight() -> None:
    # DND on is in flight (its INVITE lost for 5 s) when sync goes off and the user
    # switches DND off locally: the call's outcome must not overwrite the later change
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=5.0))
    bench.user_change(Change("dnd", True))
    bench.set_sync(False)
    bench.user_change(Change("dnd", False))
    bench.advance(40.0)
    bench.check()
    bench.settle()
    bench.check(final=True)
    bench.expect_flow("yeastar/dnd/phone-initiated", "Synced")
    bench.expect_state("server", Change("dnd", True))
    bench.expect_state("phone", Change("dnd", False))
    assert bench.phone.indicator == bench.phone.state


def test_local_changes_made_during_a_code_call_come_after_it() -> None:
    # the call's change counts as made first: a local no-answer forward without a ring
    # count keeps the ring count the call set (as it would have had the call ended first)
    bench = strict(Bench("huawei-ims"))
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=5.0))
    bench.user_change(Change("cfna", True, "100", 3))
    bench.set_sync(False)
    bench.user_change(Change("cfna", True, "200"))
    bench.advance(40.0)
    bench.settle()
    bench.check(final=True)
    bench.expect_state("server", Change("cfna", True, "100", 3))
    bench.expect_state("phone", Change("cfna", True, "200", 3))
    assert bench.phone.indicator == bench.phone.state


def test_a_code_call_that_rings_forever_is_cancelled() -> None:
    # a 180, then nothing (found by a 50-step run): Timer B stops at the provisional, so
    # the flow stayed in Proceeding for good; the phone now CANCELs after 64*T1
    bench = strict(Bench("3cx"))
    bench.start()
    bench.arm("server", Provisional(Match("INVITE")))
    bench.arm("server", Swallow(Match("INVITE"), 40.0))
    bench.user_change(Change("cfa", False))
    bench.advance(31.0)
    assert bench.ended("3cx/cfa/phone-initiated", "phone") == "Proceeding"
    bench.advance(9.0)
    bench.expect_flow("3cx/cfa/phone-initiated", "Failed", sides=("phone",))
    bench.expect_problem("CODE-NO-ANSWER")
    assert any(data.startswith(b"CANCEL ") for _, src, _, data in bench.sent
               if src == bench.phone_at)
    bench.settle()
    bench.check(final=True)
    assert bench.phone.indicator == bench.phone.state


def test_a_code_call_answered_after_the_cancel_is_hung_up() -> None:
    # the PBX's 2xx is held back until the phone has given up (CANCEL answered): the phone
    # ACKs the late 2xx, then hangs up with BYE (RFC 3261 9.1, 15)
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Provisional(Match("INVITE"), skip=1))  # the authenticated one
    bench.arm("phone", HoldBack(Match("INVITE", response="2xx"),
                                Match("CANCEL", response="final")))
    bench.user_change(Change("dnd", True))
    bench.advance(40.0)
    key = "yeastar/dnd/phone-initiated"
    bench.expect_flow(key, "Failed", sides=("phone",))
    sent = [data.split(b" ", 1)[0] for _, src, _, data in bench.sent if src == bench.phone_at]
    assert sent[-3:] == [b"CANCEL", b"ACK", b"BYE"], sent
    bench.settle()
    bench.check(final=True)
    bench.expect_flow(key, "Synced", sides=("server",))


def test_a_bye_after_the_pbx_gave_up_resending_its_2xx_ends_the_call() -> None:
    # every ACK lost; the second call's BYE lost too until its last copy, which (1 s of
    # link delay) reaches the PBX after it stopped resending its 2xx (64*T1): the BYE
    # ends the call instead of leaving it waiting for an ACK for good
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("ACK"), 60.0))
    bench.user_change(Change("dnd", True))
    bench.arm("server", Swallow(Match("BYE"), 31.0))
    bench.network(LinkFaults(delay=(1.0, 1.0)))
    bench.user_change(Change("dnd", False))
    bench.advance(40.0)
    bench.settle()
    bench.check(final=True)
    key = "yeastar/dnd/phone-initiated"
    first, second = split_runs(bench.machine_steps(key, "server"))
    assert [(s.source, s.input.value) for s in second[-4:]] == [
        ("Authenticating", "SERVER_SENDS_2XX"), ("Answered", "PHONE_SENDS_BYE"),
        ("ByeBeforeAck", "SERVER_SENDS_2XX"), ("AwaitingLateAck", "SERVER_TIMEOUT")]
    assert first[-1].dest == "Synced"
    assert not bench.server._calls, "the call is forgotten once it ended"


def test_abandoned_code_calls_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """A challenged code call whose authenticated INVITE never comes (every copy of the 401
    lost: the phone gives up at Timer B) is kept by the PBX only until it sweeps its calls:
    its memory does not grow with every abandoned call, and later calls are unaffected."""
    import fsync_model.agents.server as server_module

    bench = Bench("yeastar")
    monkeypatch.setattr(bench.server, "_sweep_calls_at", 1)
    seen: list[object] = []
    observer = bench.server.observer
    monkeypatch.setattr(bench.server, "observer",
                        lambda event: (seen.append(event), observer(event)))
    bench.start()
    bench.arm("phone", Swallow(Match("INVITE", response="4xx")))
    bench.user_change(Change("dnd", True))
    bench.advance(server_module.ABANDONED_UNANSWERED + 40.0)
    assert len(bench.server._calls) == 1, "the abandoned call is still kept"
    bench.heal()
    bench.user_change(Change("cfa", True, "2000"))
    bench.settle()
    assert bench.server.state("1001").cfa.on
    assert len(bench.server._calls) == 0
    abandoned = [e for e in seen if getattr(e, "what", None) == "code-call-abandoned"]
    assert len(abandoned) == 1
    assert abandoned[0].data["state"] == "Challenged"  # type: ignore[attr-defined]
