"""``fsync serve`` against ``fsync phone`` with the real reference agents, as subprocesses.

One flow per mechanism: as-feature-event both ways, feature codes from the phone, 3CX's
informational uaCSTA INFO, sync off, a policy rejection, a capture. Port 0 everywhere, every
wait bounded (test_serve_phone_support.WAIT).
"""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_serve_phone_support import AgentProcess, http_request


def _serve(vendor: str, transport: str = "udp", *extra: str) -> AgentProcess:
    return AgentProcess(["serve", "--vendor", vendor, "--listen", f"{transport}:127.0.0.1:0",
                         "--seed", "1", *extra], fake=False)


def _phone(vendor: str, server: str, *extra: str) -> AgentProcess:
    return AgentProcess(["phone", "--vendor", vendor, "--server", server, "--user", "1001",
                         "--seed", "2", *extra], fake=False)


def _stop_cleanly(*processes: AgentProcess) -> None:
    for process in processes:
        rc, _ = process.signal(signal.SIGTERM)
        assert rc == 0, "".join(process.stderr)
        assert "Traceback" not in "".join(process.stderr)


def _problems(process: AgentProcess) -> list[dict[str, Any]]:
    return [o for o in process.seen if o["event"] == "problem"]


@pytest.mark.parametrize(("vendor", "transport"), [
    ("broadsoft", "udp"), ("metaswitch", "tcp"), ("fortinet", "udp")])
def test_as_feature_event_both_ways(vendor: str, transport: str) -> None:
    with _serve(vendor, transport, "--api", "127.0.0.1:0") as server:
        address = server.listening()[0]
        port = server.api_port()
        with _phone(vendor, address, "--sync", "on") as phone:
            phone.expect("info", what="registered")
            server.expect("info", what="subscribed", user="1001")

            server.send("1001 dnd on")
            server.expect("ok", line="1001 dnd on")
            pushed = phone.expect(lambda o: o["event"] == "state" and o["state"]["dnd"])
            assert pushed["confirmed"] is True

            phone.send("cfb on 2001")
            assert phone.expect("state", confirmed=False)["state"]["cfb"]["target"] == "2001"
            confirmed = phone.expect("state", confirmed=True)
            assert confirmed["state"]["cfb"] == {"on": True, "target": "2001"}
            server.expect(lambda o: o["event"] == "state" and o["state"]["cfb"]["on"])
            status, state, _ = http_request(port, "GET", "/state/1001")
            assert status == 200
            assert state["dnd"] is True and state["cfb"] == {"on": True, "target": "2001"}

            phone.send("state")
            answer = phone.expect("state", line="state")
            assert answer["state"] == answer["indicator"] == state
            assert answer["sync"] is True
            _stop_cleanly(phone)
        _stop_cleanly(server)
        assert _problems(server) == [] and _problems(phone) == []


@pytest.mark.parametrize("vendor", ["yeastar", "huawei-ims", "generic-feature-code"])
def test_feature_code_from_the_phone(vendor: str) -> None:
    with _serve(vendor) as server:
        address = server.listening()[0]
        with _phone(vendor, address, "--sync", "on") as phone:
            phone.expect("info", what="registered")
            phone.send("cfna on 3000")
            phone.expect("state", confirmed=False)
            confirmed = phone.expect("state", confirmed=True)
            assert confirmed["state"]["cfna"]["on"] is True
            assert confirmed["state"]["cfna"]["target"] == "3000"
            on_server = server.expect(lambda o: o["event"] == "state"
                                      and o["state"]["cfna"]["on"])
            assert on_server["user"] == "1001" and on_server["state"]["cfna"]["target"] == "3000"
            _stop_cleanly(phone)
        _stop_cleanly(server)
        assert _problems(server) == [] and _problems(phone) == []


def test_3cx_dnd_info_is_informational() -> None:
    with _serve("3cx") as server:
        address = server.listening()[0]
        with _phone("3cx", address, "--sync", "on") as phone:
            phone.expect("info", what="registered")
            server.expect("info", what="registered", user="1001")
            server.send("1001 dnd on")
            ignored = phone.expect("info", what="uacsta-ignored")
            assert ignored["dnd"] is True
            phone.send("state")
            assert phone.expect("state", line="state")["state"]["dnd"] is False
            _stop_cleanly(phone)
        _stop_cleanly(server)


def test_sync_off_keeps_changes_on_the_phone() -> None:
    with _serve("broadsoft") as server:
        address = server.listening()[0]
        with _phone("broadsoft", address, "--sync", "off") as phone:
            phone.expect("info", what="registered")
            phone.send("dnd on")
            assert phone.expect("state")["state"]["dnd"] is True
            phone.expect("ok", line="dnd on")
            server.send("1001 state")
            assert server.expect("state", line="1001 state")["state"]["dnd"] is False
            _stop_cleanly(phone)
        _stop_cleanly(server)


def test_the_phone_unregisters_on_command_and_on_the_way_out() -> None:
    with _serve("broadsoft") as server:
        address = server.listening()[0]
        with _phone("broadsoft", address, "--sync", "on") as phone:
            phone.expect("info", what="registered")
            # the full state answered (an unsubscribe crossing it: known issue
            # full-state-outstanding)
            phone.expect("step", machine="broadsoft/subscription", to="Active")
            phone.send("unregister")
            phone.expect("ok", line="unregister")
            server.expect("info", what="unregistered", user="1001")
            phone.expect("info", what="unregistered", status=200)
            phone.send("register")
            phone.expect("ok", line="register")
            server.expect("info", what="subscribed", user="1001")
            phone.expect("step", machine="broadsoft/subscription", to="Active")
            _stop_cleanly(phone)
            server.expect("info", what="unregistered", user="1001")
        _stop_cleanly(server)
        assert _problems(server) == [] and _problems(phone) == [], (
            [p["message"] for p in _problems(server) + _problems(phone)])


def test_policy_error_reverts_the_indicator() -> None:
    with _serve("broadsoft", "udp", "--policy", "error:403") as server:
        address = server.listening()[0]
        with _phone("broadsoft", address, "--sync", "on") as phone:
            phone.expect("info", what="registered")
            server.expect("info", what="subscribed")
            phone.send("dnd on")
            assert phone.expect("state", confirmed=False)["state"]["dnd"] is True
            reverted = phone.expect(lambda o: o["event"] == "state" and o["confirmed"]
                                    and not o["state"]["dnd"])
            assert reverted["user"] == "1001"
            phone.send("state")
            answer = phone.expect("state", line="state")
            assert answer["state"]["dnd"] is False and answer["indicator"]["dnd"] is False
            server.send("1001 state")
            assert server.expect("state", line="1001 state")["state"]["dnd"] is False

            server.send("* policy accept")  # at run time, for every user
            server.expect("ok", line="* policy accept")
            phone.send("dnd on")
            assert phone.expect("state", confirmed=True)["state"]["dnd"] is True
            server.send("1001 policy error 480")  # one user
            server.expect("ok", line="1001 policy error 480")
            phone.send("dnd off")
            phone.expect("state", confirmed=False)
            assert phone.expect("state", confirmed=True)["state"]["dnd"] is True  # reverted
            _stop_cleanly(phone)
        _stop_cleanly(server)


def test_capture_of_a_real_registration(tmp_path: Path) -> None:
    capture = tmp_path / "phone.pcap"
    with _serve("broadsoft") as server:
        address = server.listening()[0]
        with _phone("broadsoft", address, "--pcap", str(capture), "--quiet") as phone:
            phone.expect("info", what="registered")
            assert not [o for o in phone.seen if o["event"] in ("message", "step")]
            _stop_cleanly(phone)
        _stop_cleanly(server)
    data = capture.read_bytes()
    assert data[:4] == (0xA1B2C3D4).to_bytes(4, "little")
    assert b"REGISTER sip:" in data and b"SIP/2.0 200 OK" in data
