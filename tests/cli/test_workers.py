"""``fsync serve --workers N``: the users shared out among processes (cli/workers.py).

The routing is checked against the parser (the server files a message by the user the
full parse gives), then the real server in two processes against two real phones whose
users live in different workers: registration, subscriptions, changes both ways, control
lines, the merged answers (``state``, GET /state, GET /health), stopping, a dying worker.
"""
from __future__ import annotations

import glob
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsync_model.cli.workers import _parsed_user, message_user, shard_of
from tests.cli.test_serve_phone_support import WAIT, AgentProcess, http_request, run_cli

REPO = Path(__file__).resolve().parents[2]
#: where the tests find the workers of a server (CONFIG_PROC_CHILDREN, on in Debian's kernels)
HAS_CHILDREN = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()
CORPUS = sorted(glob.glob(str(REPO / "bench" / "corpus" / "*.sip")))
SET_DND = (REPO / "bench" / "corpus" / "07-subscribe-set-dnd.sip").read_bytes()
FROM_LINE = b'From: "1001" <sip:1001@as.example.com>;tag=2917433582'

# -- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: Path(p).stem)
def test_every_corpus_message_goes_where_the_parser_files_it(path: str) -> None:
    data = Path(path).read_bytes()
    assert message_user(data) == _parsed_user(data) is not None


def test_a_response_or_a_register_goes_by_to_and_a_request_by_from() -> None:
    changed = SET_DND.replace(FROM_LINE, b"From: <sip:2002@as.example.com>;tag=1")
    assert message_user(changed) == "2002"  # a SUBSCRIBE: From
    as_register = changed.replace(b"SUBSCRIBE sip:", b"REGISTER sip:", 1)
    assert message_user(as_register) == "1001"  # To
    response = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
                b"From: <sip:9@h>;tag=a\r\nTo: <sip:1003@h>;tag=b\r\nCall-ID: c\r\n"
                b"CSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n")
    assert message_user(response) == _parsed_user(response) == "1003"


_DISPLAY = st.one_of(
    st.just(b""), st.just(b'"1001" '), st.just(b'"a<b;c" '), st.just(b'"x\\"y" '),
    st.just(b"Alice "), st.just(b'"" '))
_USER = st.text(alphabet="0123456789abc*#%-", min_size=0, max_size=6).map(
    lambda text: text.encode())
_NAME = st.sampled_from([b"From", b"f", b"FROM", b"from ", b"F\t"])


@settings(max_examples=300, deadline=None)
@given(display=_DISPLAY, user=_USER, name=_NAME, angle=st.booleans(),
       fold=st.booleans(), twice=st.booleans(), body=st.booleans())
def test_the_quick_read_agrees_with_the_parser(display: bytes, user: bytes, name: bytes,
                                               angle: bool, fold: bool, twice: bool,
                                               body: bool) -> None:
    at = user + b"@as.example.com" if user else b"as.example.com"
    uri = b"sip:" + at
    value = display + b"<" + uri + b">" if angle or display else uri
    line = name + b": " + (b"\r\n " if fold else b"") + value + b";tag=77"
    data = SET_DND.replace(FROM_LINE, line + (b"\r\n" + line if twice else b""))
    if body:  # a From line in the body is not a header
        data = data.replace(b"\r\n\r\n", b"\r\n\r\n" + b"\r\nFrom: <sip:999@x>\r\n", 1)
    assert message_user(data) == _parsed_user(data)


def test_shards_are_stable_and_in_range() -> None:
    users = [str(n) for n in range(1000, 1400)]
    shards = [shard_of(user, 3) for user in users]
    assert set(shards) == {0, 1, 2}
    assert shards == [shard_of(user, 3) for user in users]
    assert min(shards.count(n) for n in range(3)) > 100  # shared out evenly enough


# -- the server in two processes ----------------------------------------------------------

def _two_users() -> tuple[str, str]:
    """A user of the lead (worker 0) and one of worker 1."""
    users = [str(n) for n in range(1001, 1100)]
    lead = next(user for user in users if shard_of(user, 2) == 0)
    other = next(user for user in users if shard_of(user, 2) == 1)
    return lead, other


def _phone(user: str, server: str, seed: int) -> AgentProcess:
    return AgentProcess(["phone", "--vendor", "broadsoft", "--server", server, "--user", user,
                         "--seed", str(seed), "--sync", "on"], fake=False)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return [int(word) for word in file.read().split()]


def test_two_workers_serve_two_phones_as_one_server() -> None:
    lead_user, other_user = _two_users()
    with AgentProcess(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                       "--seed", "1", "--workers", "2", "--api", "127.0.0.1:0"],
                      fake=False) as server:
        address = server.listening()[0]
        port = server.api_port()
        if HAS_CHILDREN:
            assert len(_children(server.proc.pid)) == 1
        with _phone(lead_user, address, 2) as phone_a, _phone(other_user, address, 3) as phone_b:
            for phone in (phone_a, phone_b):
                phone.expect("info", what="registered")
            waiting = {lead_user, other_user}  # the worker's events, printed by the lead
            while waiting:  # in whichever order the two processes got there
                waiting.discard(server.expect(
                    lambda o: o.get("what") == "subscribed" and o.get("user") in waiting)["user"])

            server.send(f"{other_user} dnd on")  # runs in worker 1
            ok = server.expect("ok", line=f"{other_user} dnd on")
            assert ok["state"]["dnd"] is True
            # the change's own event is printed before the result, as by one process
            assert any(o["event"] == "state" and o.get("user") == other_user
                       and o["state"]["dnd"] for o in server.seen[:-1])
            assert phone_b.expect(lambda o: o["event"] == "state" and o["state"]["dnd"])[
                "confirmed"] is True

            phone_a.send("cfb on 2001")  # the lead's user, from the phone
            confirmed = phone_a.expect("state", confirmed=True)
            assert confirmed["state"]["cfb"] == {"on": True, "target": "2001"}
            server.expect(lambda o: o["event"] == "state" and o.get("user") == lead_user
                          and o["state"]["cfb"]["on"])

            server.send("state")  # every user: both workers, one answer
            states = server.expect("states", line="state")["users"]
            assert set(states) == {lead_user, other_user}
            assert states[other_user]["dnd"] is True
            assert states[lead_user]["cfb"]["target"] == "2001"

            server.send(f"{other_user} cfna on 3000 5")
            assert server.expect("ok", line=f"{other_user} cfna on 3000 5")["state"]["cfna"] == {
                "on": True, "target": "3000", "rings": 5}
            server.send("9999 cfna on 3000 99")  # refused in its worker: an error line
            assert "ring" in server.expect("error", line="9999 cfna on 3000 99")["message"]

            status, everyone, _ = http_request(port, "GET", "/state")
            assert status == 200 and set(everyone) == {lead_user, other_user}
            status, one, _ = http_request(port, "GET", f"/state/{other_user}")
            assert status == 200 and one["cfna"]["target"] == "3000"
            status, health, _ = http_request(port, "GET", "/health")
            assert status == 200 and health["workers"] == 2 and health["users"] == 2
            status, answer, _ = http_request(port, "POST", "/command", f"{lead_user} dnd on")
            assert status == 200 and answer["state"]["dnd"] is True
            phone_a.expect(lambda o: o["event"] == "state" and o["state"]["dnd"])

            for phone in (phone_a, phone_b):
                rc, _ = phone.signal(signal.SIGTERM)
                assert rc == 0, "".join(phone.stderr)
        rc, _ = server.signal(signal.SIGINT)
        assert rc == 0, "".join(server.stderr)
        assert "Traceback" not in "".join(server.stderr)
        stopped = [o for o in server.seen + _rest(server) if o.get("what") == "stopped"]
        assert len(stopped) == 1
        assert [o for o in server.seen if o["event"] == "problem"] == []


def _rest(process: AgentProcess) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not process.lines.empty():
        obj = process.lines.get()
        if obj is not None:
            out.append(obj)
    return out


@pytest.mark.skipif(not HAS_CHILDREN, reason="needs /proc/PID/task/TID/children (Linux)")
def test_a_worker_that_dies_stops_the_server_with_a_failure() -> None:
    with AgentProcess(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                       "--seed", "1", "--workers", "3"], fake=False) as server:
        server.listening()
        workers = _children(server.proc.pid)
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        rc = server.proc.wait(timeout=WAIT)
        for thread in server._threads:
            thread.join(timeout=WAIT)
        assert rc == 1
        err = "".join(server.stderr)
        assert "worker 2" in err and "stopped before the server did" in err
        deadline = time.monotonic() + WAIT  # the other worker went too
        while time.monotonic() < deadline and any(
                os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
            time.sleep(0.05)
        assert not any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z"
                       for pid in workers)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@pytest.mark.parametrize(("extra", "says"), [
    (["--workers", "0"], "expected a number of processes 1..64"),
    (["--workers", "two"], "expected a number of processes 1..64, e.g. --workers 2"),
    (["--workers", "2", "--listen", "tcp:127.0.0.1:0"], "is not UDP"),
    (["--workers", "2", "--pcap", "out.pcap"], "one capture file needs one writer"),
])
def test_workers_misuse_says_what_to_type(extra: list[str], says: str) -> None:
    result = run_cli(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                      *extra], fake=False)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def _exchange(address: str, data: bytes) -> bytes:
    """Send ``data`` to a ``udp:HOST:PORT`` server from a fresh socket; its answer."""
    import socket

    host, port = address.split(":", 1)[1].rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(WAIT)
        sock.sendto(data, (host, int(port)))
        return sock.recv(65535)


def test_bad_requests_are_answered_by_the_lead_or_the_users_worker() -> None:
    """A request that does not parse stays with the lead, one for a user of worker 1 goes
    there: either way the RFC's answer comes back on the server's one address."""
    _, other_user = _two_users()
    request = SET_DND.replace(FROM_LINE, f"From: <sip:{other_user}@h>;tag=9".encode())
    with AgentProcess(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                       "--seed", "1", "--workers", "2", "--quiet"], fake=False) as server:
        address = server.listening()[0]
        bad_cseq = request.replace(b"CSeq: 2 SUBSCRIBE", b"CSeq: two SUBSCRIBE")
        assert message_user(bad_cseq) == other_user  # routed to worker 1 ...
        answer = _exchange(address, bad_cseq)  # ... which answers it
        assert answer.startswith(b"SIP/2.0 400 ") and b"CSeq" in answer.split(b"\r\n")[0]
        unreadable = b"SUBSCRIBE sip:x SIP/2.0\r\nFrom: <sip:" + other_user.encode() + (
            b"@h>;tag=1\r\nContent-Length: 0\r\n\r\n")  # no Via: no answer can go back
        in_dialog = request.replace(b"branch=z9hG4bK", b"branch=z9hG4bKx")  # a new one
        assert _exchange(address, in_dialog).startswith(b"SIP/2.0 481 ")  # no such dialog
        wrong_body = request.replace(b";tag=as7f3a91c2", b"").replace(
            b"branch=z9hG4bK", b"branch=z9hG4bKy").replace(
            b"<doNotDisturbOn>true", b"<doNotDisturbOn>True")
        answer = _exchange(address, wrong_body)  # a set request with a bad value
        assert answer.startswith(b"SIP/2.0 400 ") and b"True" in answer.split(b"\r\n")[0]
        _exchange_nothing(address, unreadable)
        rc, _ = server.signal(signal.SIGTERM)
        assert rc == 0, "".join(server.stderr)


def _exchange_nothing(address: str, data: bytes) -> None:
    import socket

    host, port = address.split(":", 1)[1].rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        sock.sendto(data, (host, int(port)))
        with pytest.raises(TimeoutError):
            sock.recv(65535)


def test_the_api_answers_503_once_a_worker_is_gone() -> None:
    """Between a worker's death and the lead stopping, a merged answer cannot be given."""
    import socket
    from types import SimpleNamespace
    from typing import cast

    from fsync_model.cli import runtime, workers
    from fsync_model.cli.httpapi import HttpError

    lead_end, worker_end = socket.socketpair()
    worker_end.close()
    channel = workers._Channel(lead_end)
    with lead_end:
        assert channel.read_lines() == [] and channel.closed  # the worker's end is gone
        shard = workers._Shard(0, 2, [], [lead_end, lead_end], [lead_end, lead_end], 0.0)
        app = SimpleNamespace(role="server", usage="", vendor="broadsoft")
        lead = workers.LeadRuntime(cast(runtime.AgentApp, app),
                                   runtime.RuntimeOptions(listen=()), shard, {1: channel},
                                   {1: 0})
        _, other_user = _two_users()
        for user in (None, other_user):
            with pytest.raises(HttpError) as raised:
                lead.api_state(user)
            assert raised.value.status == 503
            assert raised.value.message == "worker 1 has stopped"
