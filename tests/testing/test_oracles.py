"""The oracles on small, hand-made situations: each fires on the defect it names and stays
quiet on correct traffic."""
from __future__ import annotations

from fsync_model.agents.events import Problem
from fsync_model.agents.state import Change
from fsync_model.sip.message import build_request
from fsync_model.testing.fixtures import Bench, profiles
from fsync_model.testing.oracles import (
    KnownIssue,
    Ledger,
    Violation,
    WireOracle,
    check_problems,
    known_issue,
)

PHONE, SERVER = "udp:127.0.0.1:5061", "udp:127.0.0.1:5060"


def _request(method: str, cseq: int, *, branch: str = "z9hG4bKa", to_tag: str | None = "b",
             headers: list[tuple[str, str]] | None = None, body: bytes = b"",
             content_type: str | None = None) -> bytes:
    to = "<sip:1001@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    base = [("Via", f"SIP/2.0/UDP 127.0.0.1:5061;branch={branch}"), ("Max-Forwards", "70"),
            ("From", "<sip:1001@127.0.0.1>;tag=a"), ("To", to), ("Call-ID", "c1@h"),
            ("CSeq", f"{cseq} {method}"), ("Contact", "<sip:1001@127.0.0.1:5061>"),
            *(headers or [])]
    return build_request(method, "sip:server@127.0.0.1:5060", base, body,
                         content_type).serialize()


def _answer(data: bytes, status: int) -> bytes:
    from fsync_model.sip.message import Request, parse_message

    request = parse_message(data)
    assert isinstance(request, Request)
    return request.response(status, to_tag="b").serialize()


def _oracle(profile: str = "broadsoft") -> WireOracle:
    return WireOracle(profiles()[profile], phone=[PHONE], server=[SERVER])


def _ids(found: list[Violation]) -> list[str]:
    return [v.oracle for v in found]


def test_a_correct_run_has_no_violation() -> None:
    bench = Bench("broadsoft")
    bench.start()
    bench.user_change(Change("cfna", True, "3000", 4))
    bench.admin_change(Change("dnd", True))
    bench.settle()
    assert bench.violations(final=True) == []


def test_two_different_finals_to_one_transaction() -> None:
    oracle = _oracle()
    options = _request("OPTIONS", 1)
    oracle.feed(0.0, PHONE, SERVER, options)
    oracle.feed(0.0, SERVER, PHONE, _answer(options, 200))
    oracle.feed(0.1, SERVER, PHONE, _answer(options, 200))
    assert oracle.violations() == []
    oracle.feed(0.2, SERVER, PHONE, _answer(options, 500))
    assert _ids(oracle.violations()) == ["ORACLE-ONE-FINAL"]


def test_a_copy_after_the_transaction_ended_may_be_answered_anew() -> None:
    oracle = _oracle()
    options = _request("OPTIONS", 1)
    oracle.feed(0.0, PHONE, SERVER, options)
    oracle.feed(0.0, SERVER, PHONE, _answer(options, 200))
    oracle.feed(40.0, SERVER, PHONE, _answer(options, 500))  # after Timer J
    assert oracle.violations() == []


def test_in_dialog_cseq_must_increase() -> None:
    oracle = _oracle()
    oracle.feed(0.0, PHONE, SERVER, _request("INFO", 5, branch="z9hG4bK1"))
    oracle.feed(0.1, PHONE, SERVER, _request("INFO", 4, branch="z9hG4bK2"))
    assert _ids(oracle.violations()) == ["ORACLE-CSEQ"]


def test_nothing_goes_out_while_sync_is_off() -> None:
    oracle = _oracle()
    oracle.line(0.0, False)
    unsubscribe = _request("SUBSCRIBE", 3, branch="z9hG4bK1",
                           headers=[("Event", "as-feature-event"), ("Expires", "0")])
    oracle.feed(0.0, PHONE, SERVER, unsubscribe)
    assert oracle.violations() == []
    oracle.feed(0.1, PHONE, SERVER, _request("INVITE", 1, branch="z9hG4bK2", to_tag=None))
    assert "ORACLE-SYNC-OFF" in _ids(oracle.violations())


def test_an_older_notify_must_not_be_accepted_after_a_newer_one() -> None:
    oracle = _oracle()
    for cseq, branch in ((2, "z9hG4bK2"), (1, "z9hG4bK1")):
        notify = _request("NOTIFY", cseq, branch=branch,
                          headers=[("Event", "as-feature-event"),
                                   ("Subscription-State", "active;expires=60")])
        oracle.feed(0.0, SERVER, PHONE, notify)
        oracle.feed(0.0, PHONE, SERVER, _answer(notify, 200))
    assert "ORACLE-NOTIFY-ORDER" in _ids(oracle.violations())


def test_a_notify_body_without_namespace_breaks_the_profile() -> None:
    body = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<DoNotDisturbEvent>'
            b"<device>1001</device><doNotDisturbOn>true</doNotDisturbOn></DoNotDisturbEvent>")
    oracle = _oracle()
    oracle.feed(0.0, SERVER, PHONE, _request(
        "NOTIFY", 1, headers=[("Event", "as-feature-event"),
                              ("Subscription-State", "active;expires=60")],
        body=body, content_type="application/x-as-feature-event+xml"))
    assert _ids(oracle.violations()) == ["ORACLE-PROFILE-BODY"]


def test_an_arrived_request_must_be_answered() -> None:
    oracle = _oracle()
    options = _request("OPTIONS", 1)
    oracle.feed(0.0, PHONE, SERVER, options)
    assert _ids(oracle.unanswered([options])) == ["ORACLE-UNANSWERED"]
    assert oracle.unanswered([]) == [], "a request that never arrived is not owed an answer"


def test_problems_are_excused_only_by_faults_that_explain_them() -> None:
    timeout = Problem(5.0, "PHONE-TIMEOUT", "no answer")
    body = Problem(5.0, "AFE-NS-MISSING", "no namespace")
    illegal = Problem(5.0, "MODEL-ILLEGAL-TRANSITION", "x/subscription: A in state B")
    problems = [("server", timeout), ("phone", body), ("server", illegal)]
    assert _ids(check_problems(problems, {})) == [
        "ORACLE-AGENT-ERROR", "ORACLE-AGENT-ERROR", "ORACLE-ILLEGAL-TRANSITION"]
    assert _ids(check_problems(problems, {"network": 1.0})) == [
        "ORACLE-AGENT-ERROR", "ORACLE-ILLEGAL-TRANSITION"]
    assert _ids(check_problems(problems, {"network": 1.0, "mangle-phone": 2.0})) == [
        "ORACLE-ILLEGAL-TRANSITION"]
    assert _ids(check_problems(problems, {"network": 9.0})) == [
        "ORACLE-AGENT-ERROR", "ORACLE-AGENT-ERROR", "ORACLE-ILLEGAL-TRANSITION"], (
        "a fault after the problem explains nothing")


def test_known_issues_match_by_signature_only() -> None:
    hit = Problem(1.0, "MODEL-ILLEGAL-TRANSITION",
                  "broadsoft/subscription: SERVER_TIMEOUT in state FullStateNotified "
                  "(allowed: PHONE_SENDS_200)")
    other = Problem(1.0, "MODEL-ILLEGAL-TRANSITION",
                    "broadsoft/subscription: SERVER_TIMEOUT in state Active (allowed: x)")
    known = [KnownIssue("an-issue", "what", "where", "server", r".+/subscription",
                        r"\w*FullStateNotified", frozenset({"SERVER_TIMEOUT"}))]
    issue = known_issue("server", hit, known)
    assert issue is not None and issue.id == "an-issue"
    assert known_issue("phone", hit, known) is None
    assert known_issue("server", other, known) is None


def test_one_way_convergence_follows_the_ledger() -> None:
    bench = Bench("yeastar")
    bench.start()
    bench.user_change(Change("cfb", True, "2001"))
    bench.admin_change(Change("dnd", True))  # the PBX's own change: the phone cannot know
    bench.settle()
    assert bench.violations(final=True) == []
    assert bench.server.state("1001").dnd and not bench.phone.state.dnd
    ledger: Ledger = bench.ledger
    assert [e.kind for e in ledger.events] == ["user", "admin"]


def test_uacsta_info_must_not_change_the_phone() -> None:
    bench = Bench("3cx")
    bench.start()
    bench.admin_change(Change("dnd", True))
    bench.settle()
    assert bench.violations(final=True) == []
    bench.phone._state = bench.phone.state.applied(Change("dnd", True))  # a broken phone
    bench.phone._indicator = bench.phone.state
    assert "ORACLE-UACSTA" in _ids(bench.violations(final=True))
