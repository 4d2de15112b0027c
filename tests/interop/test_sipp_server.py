"""SIPp as a BroadWorks-style server, ``fsync phone --vendor broadsoft --sync on`` as the phone
(issue "Interop with clients nobody here wrote").

SIPp (UAS, ``-m 2``: the REGISTER and the SUBSCRIBE dialog are two Call-IDs) challenges the
REGISTER with a digest it verifies, answers the SUBSCRIBE and pushes NOTIFYs it wrote itself;
the phone must answer each 200 (SIPp fails otherwise) and its ``state`` on stdin must say what
the NOTIFYs said. Set requests the test presses on the phone are checked by SIPp with ``ereg``.

* scenarios/afe_server.xml: multipart full state (FreeSWITCH order), a change NOTIFY, then an
  accepted set request (cfb on 4000) confirmed by a NOTIFY;
* scenarios/afe_server_202.xml: the full-state NOTIFY arrives before the 202 to the SUBSCRIBE;
* scenarios/afe_server_reject.xml: the server answers the set request 200 and NOTIFYs the old
  state (policy rejection): the phone must show the old state again.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer
from tests.interop.harness import SCENARIOS, Event, FsyncAgent, Sipp, free_port, sipp_run

pytestmark = pytest.mark.peer

OFF: dict[str, Any] = {"on": False, "target": None}


def phone_args(transport: str, port: int) -> list[str]:
    return ["phone", "--vendor", "broadsoft", "--server", f"{transport}:127.0.0.1:{port}",
            "--user", "1001", "--sync", "on", "--seed", "1"]


def is_state(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[Event], bool]:
    """An agent ``state`` event (not a query result) whose state satisfies ``predicate``."""
    return lambda e: e.get("event") == "state" and "cause" in e and predicate(e["state"])


def query(phone: FsyncAgent) -> Event:
    answer = phone.command("state")
    assert answer["event"] == "state", answer
    assert answer["sync"] is True, answer
    return answer


def assert_clean(phone: FsyncAgent, run: Sipp) -> None:
    """The phone found nothing wrong with SIPp's messages, and answered no request with an
    error (SIPp would have failed, but say which)."""
    assert phone.problems("error", "warning") == [], f"{phone.transcript()}\n{run.report()}"
    refused = [e for e in phone.messages("out", "SIP/2.0 ") if not e["summary"].startswith(
        ("SIP/2.0 1", "SIP/2.0 2"))]
    assert refused == [], phone.transcript()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_fsync_phone_follows_a_sipp_broadworks_server(tmp_path: Path, transport: str) -> None:
    sipp = require_peer("sipp")
    port = free_port(transport)
    with sipp_run(sipp, SCENARIOS / "afe_server.xml", tmp_path, transport=transport,
                  port=port, calls=2) as run:
        run.wait_bound()
        with FsyncAgent.running(phone_args(transport, port), tmp_path, "phone") as phone:
            phone.wait_for(is_state(lambda s: s["cfna"]["on"]), "the change NOTIFY applied")
            after_notifies = {
                "dnd": True,
                "cfa": {"on": True, "target": "2000"},
                "cfb": OFF,
                "cfna": {"on": True, "target": "3000", "rings": 5},
            }
            answer = query(phone)
            assert answer["state"] == after_notifies, phone.transcript()
            assert answer["indicator"] == after_notifies

            pressed = phone.command("cfb on 4000")  # SIPp checks the SetForwarding body
            assert pressed["event"] == "ok", pressed
            rc = run.wait()
            assert rc == 0, f"SIPp failed\n{run.report()}\n{phone.transcript()}"
            phone.wait_for(lambda e: e.get("cause") == "synced cfb on 4000",
                           "the set request confirmed")
            answer = query(phone)
            final = {**after_notifies, "cfb": {"on": True, "target": "4000"}}
            assert answer["state"] == final, phone.transcript()
            assert answer["indicator"] == final
            assert_clean(phone, run)
            assert len(phone.messages("in", "SIP/2.0 401")) == 1  # SIPp's digest challenge
        assert phone.returncode == 0, phone.transcript()


def test_fsync_phone_takes_a_notify_before_the_202(tmp_path: Path) -> None:
    sipp = require_peer("sipp")
    port = free_port("udp")
    with sipp_run(sipp, SCENARIOS / "afe_server_202.xml", tmp_path, transport="udp",
                  port=port, calls=2) as run:
        run.wait_bound()
        with FsyncAgent.running(phone_args("udp", port), tmp_path, "phone") as phone:
            rc = run.wait()
            assert rc == 0, f"SIPp failed\n{run.report()}\n{phone.transcript()}"
            full_state = {
                "dnd": True,
                "cfa": OFF,
                "cfb": {"on": True, "target": "2100"},
                "cfna": {"on": True, "target": "3100", "rings": 2},
            }
            phone.wait_for(is_state(lambda s: s == full_state), "the early full state applied")
            answer = query(phone)
            assert answer["state"] == full_state, phone.transcript()
            assert answer["indicator"] == full_state
            assert phone.messages("in", "SIP/2.0 202"), "SIPp's 202 never reached the phone"
            assert_clean(phone, run)
        assert phone.returncode == 0, phone.transcript()


def test_fsync_phone_reverts_when_the_server_notifies_the_old_state(tmp_path: Path) -> None:
    sipp = require_peer("sipp")
    port = free_port("udp")
    with sipp_run(sipp, SCENARIOS / "afe_server_reject.xml", tmp_path, transport="udp",
                  port=port, calls=2) as run:
        run.wait_bound()
        with FsyncAgent.running(phone_args("udp", port), tmp_path, "phone") as phone:
            phone.wait_for(is_state(lambda s: s["cfa"]["on"]), "the full state applied")
            since = phone.mark()
            assert phone.command("dnd on")["event"] == "ok"  # SIPp checks SetDoNotDisturb
            rc = run.wait()
            assert rc == 0, f"SIPp failed\n{run.report()}\n{phone.transcript()}"
            pending = phone.wait_for(lambda e: e.get("cause") == "pending dnd on",
                                     "the indicator showing DND pending", since=since)
            assert pending["confirmed"] is False and pending["state"]["dnd"] is True
            phone.wait_for(lambda e: e.get("cause") == "reverted dnd on",
                           "the change reverted", since=since)
            answer = query(phone)
            old_state = {"dnd": False, "cfa": {"on": True, "target": "2000"}, "cfb": OFF,
                         "cfna": {"on": False, "target": None, "rings": None}}
            assert answer["state"] == old_state, phone.transcript()
            assert answer["indicator"] == old_state
            assert_clean(phone, run)
        assert phone.returncode == 0, phone.transcript()
