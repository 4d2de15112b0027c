"""baresip dials feature codes to ``fsync serve --vendor yeastar`` (issue "Interop with
clients nobody here wrote").

One baresip process (account 1001, password fsync, no registration, the server as outbound
proxy) is driven on stdin: ``/dial sip:<code>@127.0.0.1:PORT`` per code, as a phone's
background feature-code call. The server challenges each INVITE with 401 (the profile's
``feature_codes.challenge``), baresip answers with its digest, the server answers 200 with SDP,
baresip ACKs and hangs up at once (its audio source cannot start: peers.md). The server
attributes the change to the From user, so ``1001 state`` on its stdin must follow every code.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer
from tests.interop.harness import Baresip, Event, FsyncAgent

pytestmark = pytest.mark.peer


def _state() -> dict[str, Any]:
    return {"dnd": False, "cfa": {"on": False, "target": None},
            "cfb": {"on": False, "target": None},
            "cfna": {"on": False, "target": None, "rings": None}}


#: (code, what it does to the expected state); a forward switched off keeps its number
CODES: list[tuple[str, dict[str, Any]]] = [
    ("*74", {"dnd": True}),
    ("*716000", {"cfa": {"on": True, "target": "6000"}}),
    ("*726001", {"cfb": {"on": True, "target": "6001"}}),
    ("*737000", {"cfna": {"on": True, "target": "7000", "rings": None}}),
    ("*073", {"cfna": {"on": False, "target": "7000", "rings": None}}),
    ("*074", {"dnd": False}),
    ("*071", {"cfa": {"on": False, "target": "6000"}}),
]


def _caused_by(code: str) -> Callable[[Event], bool]:
    return lambda e: e.get("event") == "state" and e.get("cause") == f"feature-code {code}"


def _bye_answered(call_id: str) -> Callable[[Event], bool]:
    def match(e: Event) -> bool:
        return (e.get("event") == "message" and e.get("dir") == "out"
                and e.get("call_id") == call_id and e["summary"].startswith("SIP/2.0 200")
                and any(d.endswith(" BYE") for d in e.get("details", [])))
    return match


def test_baresip_feature_codes_drive_fsync_serve(tmp_path: Path) -> None:
    baresip = require_peer("baresip")
    args = ["serve", "--vendor", "yeastar", "--listen", "udp:127.0.0.1:0", "--seed", "1"]
    with FsyncAgent.running(args, tmp_path, "serve") as server:
        host, port = server.listening("udp")
        phone = Baresip(baresip, tmp_path / "baresip", user="1001", server=(host, port),
                        password="fsync")
        try:
            phone.wait_ready()
            expected = _state()
            for code, effect in CODES:
                since = server.mark()
                phone.dial(f"sip:{code}@{host}:{port}")
                changed = server.wait_for(_caused_by(code), f"the server applying {code}",
                                          since=since)
                assert changed["user"] == "1001", changed
                invites = [e for e in server.events[since:] if e.get("event") == "message"
                           and e["dir"] == "in" and e["summary"].startswith(f"INVITE sip:{code}@")]
                assert len(invites) == 2, f"{code}: expected INVITE, 401, INVITE with " \
                                          f"credentials\n{server.transcript()}"
                server.wait_for(_bye_answered(invites[0]["call_id"]),
                                f"baresip hanging up the {code} call", since=since)
                expected.update(effect)
                answer = server.command("1001 state")
                assert answer["state"] == expected, f"after {code}\n{server.transcript()}"

            # a code the PBX does not know: 404 (before any challenge), nothing changes
            since = server.mark()
            phone.dial(f"sip:*99@{host}:{port}")
            server.wait_for(lambda e: e.get("event") == "message" and e.get("dir") == "out"
                            and e["summary"].startswith("SIP/2.0 404"), "404 to *99",
                            since=since)
            assert server.command("1001 state")["state"] == expected
        finally:
            exit_code = phone.quit()
        assert exit_code == 0, phone.text()

        challenges = server.messages("out", "SIP/2.0 401")
        assert len(challenges) == len(CODES), "every code INVITE is challenged once"
        assert [p["rule"] for p in server.problems("error", "warning")] == ["CODE-UNKNOWN"], \
            server.transcript()
        causes = [e["cause"] for e in server.events if e.get("event") == "state" and "cause" in e]
        assert causes == [f"feature-code {code}" for code, _ in CODES]
    assert server.returncode == 0, server.transcript()
