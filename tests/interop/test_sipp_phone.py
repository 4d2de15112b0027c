"""SIPp as the phone, ``fsync serve`` as the BroadWorks-style server (issue "Interop with
clients nobody here wrote").

SIPp plays scenarios/afe_phone.xml: REGISTER answered with a 401 digest challenge, a
body-less SUBSCRIBE for ``as-feature-event`` answered 200 with the full state (one multipart
NOTIFY for broadsoft, one NOTIFY per feature for metaswitch), then SetDoNotDisturb and
SetForwarding set requests inside the dialog, each confirmed by a NOTIFY that SIPp checks with
``ereg``, and an unsubscribe. SIPp's exit 0 says the server's messages were what the scenario
expects; ``1001 state`` on the server's stdin says the server applied the set requests.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_peer
from tests.interop.harness import SCENARIOS, FsyncAgent, free_port, sipp_run

pytestmark = pytest.mark.peer

#: what the set requests of afe_phone.xml ask for (cfb 5555, preset on the server, replaced)
EXPECTED = {
    "dnd": True,
    "cfa": {"on": True, "target": "2000"},
    "cfb": {"on": True, "target": "2001"},
    "cfna": {"on": True, "target": "2002", "rings": 4},
}
#: NOTIFYs the server sends in the scenario: full state, 4 confirmations, the terminated one
NOTIFIES = {"broadsoft": 1 + 4 + 1, "metaswitch": 4 + 4 + 1}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("vendor", ["broadsoft", "metaswitch"])
def test_sipp_phone_syncs_with_fsync_serve(tmp_path: Path, vendor: str,
                                           transport: str) -> None:
    sipp = require_peer("sipp")
    args = ["serve", "--vendor", vendor, "--listen", f"{transport}:127.0.0.1:0", "--seed", "1"]
    with FsyncAgent.running(args, tmp_path, "serve") as server:
        host, port = server.listening(transport)
        preset = server.command("1001 cfb on 5555")  # afe_phone.xml checks the full state
        assert preset["event"] == "ok", preset

        with sipp_run(sipp, SCENARIOS / "afe_phone.xml", tmp_path, transport=transport,
                      port=free_port(transport), remote=f"{host}:{port}") as run:
            rc = run.wait()
        assert rc == 0, f"SIPp failed\n{run.report()}\n{server.transcript()}"

        answer = server.command("1001 state")
        assert answer["event"] == "state", answer
        assert answer["state"] == EXPECTED, server.transcript()

        causes = [e["cause"] for e in server.events
                  if e.get("event") == "state" and "cause" in e]
        assert causes == ["admin"] + ["set-request"] * 4, causes
        infos = [(e["what"], e.get("user")) for e in server.events if e.get("event") == "info"]
        assert ("registered", "1001") in infos
        assert ("subscribed", "1001") in infos
        ended = [e for e in server.events
                 if e.get("event") == "info" and e.get("what") == "subscription-ended"]
        assert [e.get("reason") for e in ended] == ["unsubscribed"]
        challenges = server.messages("out", "SIP/2.0 401")
        assert len(challenges) == 1, "the REGISTER was not challenged exactly once"
        assert len(server.messages("out", "NOTIFY ")) == NOTIFIES[vendor]
        # SIPp's namespace spelled without the hyphen is accepted, noted as info only
        assert server.problems("error", "warning") == [], server.transcript()
        assert [p["rule"] for p in server.problems("info")] == ["AFE-NS-VARIANT"]

        multipart = "Content-Type: multipart/mixed" in run.messages()
        assert multipart == (vendor == "broadsoft"), "full-state encoding not the profile's"
    assert server.returncode == 0, f"fsync serve exited {server.returncode} (the agent " \
                                   f"raised?)\n{server.transcript()}"
