"""The HTTP JSON API of ``fsync serve``/``fsync phone``: routes, status codes, and requests
the parser cannot read (always a JSON answer, never a traceback)."""
from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.cli.test_serve_phone_support import WAIT, AgentProcess, http_request


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[AgentProcess, int]]:
    """The real reference server with its API."""
    with AgentProcess(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                       "--api", "127.0.0.1:0", "--seed", "5"], fake=False) as process:
        process.listening()
        yield process, process.api_port()
        rc, _ = process.signal()
        assert rc == 0
        assert "Traceback" not in "".join(process.stderr)


@pytest.fixture()
def port(server: tuple[AgentProcess, int]) -> int:
    return server[1]


def raw(port: int, data: bytes, *, read_all: bool = True) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if not read_all:
                break
        return b"".join(chunks)


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    return status, headers, json.loads(body)


# -- POST /command ----------------------------------------------------------------------------

def test_command_as_text_plain(server: tuple[AgentProcess, int]) -> None:
    process, port = server
    status, body, response = http_request(port, "POST", "/command", "2001 dnd on",
                                          {"Content-Type": "text/plain"})
    assert status == 200
    assert response.getheader("Content-Type") == "application/json"
    assert body["event"] == "ok" and body["user"] == "2001" and body["state"]["dnd"] is True
    assert body["line"] == "2001 dnd on"
    # The same result is a JSON line on stdout.
    assert process.expect("ok", line="2001 dnd on")["state"]["dnd"] is True


def test_command_as_json(port: int) -> None:
    status, body, _ = http_request(port, "POST", "/command",
                                   json.dumps({"line": "2002 cfna on 3000 5"}),
                                   {"Content-Type": "application/json"})
    assert status == 200
    assert body["state"]["cfna"] == {"on": True, "target": "3000", "rings": 5}


def test_command_like_curl_dash_d(port: int) -> None:
    """curl -d sends form-urlencoded without encoding: taken as the line."""
    status, body, _ = http_request(port, "POST", "/command", "2003 cfb on 4000\n",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and body["state"]["cfb"]["target"] == "4000"


def test_state_query_through_command(port: int) -> None:
    http_request(port, "POST", "/command", "2004 dnd on")
    status, body, _ = http_request(port, "POST", "/command", "2004 state")
    assert status == 200
    assert body["event"] == "state" and body["user"] == "2004" and body["state"]["dnd"] is True


@pytest.mark.parametrize(("body", "headers", "status", "needle"), [
    ("{not json", {"Content-Type": "application/json"}, 400, '{"line": "1001 dnd on"}'),
    ('{"lines": "x"}', {"Content-Type": "application/json"}, 400, 'string field "line"'),
    ("[1, 2]", {"Content-Type": "application/json"}, 400, 'string field "line"'),
    ("[" * 50000, {"Content-Type": "application/json"}, 400, "not valid JSON"),
    ("", {}, 400, "empty command"),
    ("# just a comment", {}, 400, "nothing to do"),
    ("1001 dnd on\n1001 dnd off", {}, 400, "one control line per request"),
    ('{"line": "1001 dnd on\\n1001 dnd off"}', {}, 400, "one control line per request"),
    ("1001 dnd on", {"Content-Type": "image/png"}, 415, "text/plain"),
    (b"\xff\xfe", {}, 400, "not UTF-8"),
])
def test_command_body_errors(port: int, body: str | bytes, headers: dict[str, str],
                             status: int, needle: str) -> None:
    got, answer, _ = http_request(port, "POST", "/command", body, headers)
    assert got == status
    assert needle in answer["error"]
    assert answer["status"] == status


def test_control_error_is_400_with_the_error_line(server: tuple[AgentProcess, int]) -> None:
    process, port = server
    status, body, _ = http_request(port, "POST", "/command", "1001 cfa on")
    assert status == 400
    assert body["event"] == "error" and body["line"] == "1001 cfa on"
    assert "cfa on 2000" in body["message"]
    process.expect("error", line="1001 cfa on")


def test_a_ring_count_out_of_range_is_refused_with_400(
        server: tuple[AgentProcess, int]) -> None:
    process, port = server
    status, body, _ = http_request(port, "POST", "/command", "4001 cfna on 3000 11")
    assert status == 400 and body["event"] == "error"
    assert "ring count 11 is outside 1-10" in body["message"]
    process.expect("error", line="4001 cfna on 3000 11")
    assert http_request(port, "GET", "/state/4001")[1]["cfna"]["on"] is False


def test_agent_refusal_is_400_and_agent_bug_500_and_the_server_carries_on() -> None:
    with AgentProcess(["serve", "--vendor", "broadsoft", "--listen", "udp:127.0.0.1:0",
                       "--api", "127.0.0.1:0"]) as process:  # the fake agent
        process.listening()
        port = process.api_port()
        status, body, _ = http_request(port, "POST", "/command", "refuse dnd on")
        assert status == 400 and "does not take changes" in body["message"]
        status, body, _ = http_request(port, "POST", "/command", "boom dnd on")
        assert status == 500 and "internal error" in body["message"]
        assert http_request(port, "GET", "/health")[0] == 200
        assert process.signal()[0] == 0
        stderr = "".join(process.stderr)
        assert stderr.count("Traceback") == stderr.count("RuntimeError: fake agent bug") == 1


# -- GET routes -------------------------------------------------------------------------------

def test_state_of_all_users_and_of_one(port: int) -> None:
    http_request(port, "POST", "/command", "3001 cfa on 2000")
    status, everyone, _ = http_request(port, "GET", "/state")
    assert status == 200
    assert everyone["3001"]["cfa"] == {"on": True, "target": "2000"}
    status, one, _ = http_request(port, "GET", "/state/3001")
    assert status == 200 and one == everyone["3001"]
    assert set(one) == {"dnd", "cfa", "cfb", "cfna"}  # the bare state JSON
    status, unknown, _ = http_request(port, "GET", "/state/9999")
    assert status == 200 and unknown["dnd"] is False  # an unknown user has the default state
    assert http_request(port, "GET", "/state/3001/")[1] == one


def test_events_polling(port: int) -> None:
    status, first, _ = http_request(port, "GET", "/events?since=0")
    assert status == 200
    assert first["events"][0]["seq"] == 1 and first["events"][0]["what"] == "listening"
    last = first["last"]
    http_request(port, "POST", "/command", "4001 dnd on")
    _, page, _ = http_request(port, "GET", f"/events?since={last}")
    kinds = [(e["event"], e.get("user")) for e in page["events"]]
    assert ("state", "4001") in kinds and ("ok", "4001") in kinds
    assert [e["seq"] for e in page["events"]] == list(range(last + 1, page["last"] + 1))
    assert page["missed"] == 0
    _, empty, _ = http_request(port, "GET", f"/events?since={page['last']}")
    assert empty["events"] == []
    assert http_request(port, "GET", "/events")[1]["events"][0]["seq"] == 1


@pytest.mark.parametrize("query", ["since=abc", "since=-1", "since=1.5"])
def test_events_bad_since(port: int, query: str) -> None:
    status, body, _ = http_request(port, "GET", f"/events?{query}")
    assert status == 400 and "/events?since=0" in body["error"]


def test_health(port: int) -> None:
    status, body, _ = http_request(port, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok" and body["role"] == "server"
    assert body["vendor"] == "broadsoft" and body["seed"] == 5
    assert body["listening"][0].startswith("udp:127.0.0.1:")
    assert body["api"] == f"127.0.0.1:{port}" and body["policy"] == "accept"
    assert body["overloaded"] is False and body["shed"] == 0  # 503s sent while overloaded


def test_head_has_headers_and_no_body(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    connection.request("HEAD", "/health")
    response = connection.getresponse()
    assert response.status == 200
    assert int(response.getheader("Content-Length") or 0) > 0
    assert response.read() == b""
    connection.close()


def test_index_lists_the_paths(port: int) -> None:
    status, body, _ = http_request(port, "GET", "/")
    assert status == 200 and "POST /command" in body["paths"]


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/command", "POST"),
    ("PUT", "/command", "POST"),
    ("POST", "/state", "GET, HEAD"),
    ("DELETE", "/state/1001", "GET, HEAD"),
    ("POST", "/events", "GET, HEAD"),
    ("POST", "/health", "GET, HEAD"),
])
def test_wrong_method_is_405_with_allow(port: int, method: str, path: str, allow: str) -> None:
    status, body, response = http_request(port, method, path, "")
    assert status == 405
    assert response.getheader("Allow") == allow
    assert allow in body["error"]


@pytest.mark.parametrize("path", ["/nope", "/commands", "/state2", "/events/1", "/%ff"])
def test_unknown_path_is_404_naming_the_paths(port: int, path: str) -> None:
    status, body, _ = http_request(port, "GET", path)
    assert status in (404, 400)
    if status == 404:
        assert "GET /health" in body["error"]


# -- connection handling ----------------------------------------------------------------------

def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        for n in range(3):
            status, _, response = http_request(port, "POST", "/command", f"500{n} dnd on",
                                               conn=connection)
            assert status == 200 and not response.will_close
            sock = connection.sock
            assert sock is not None
        status, _, _ = http_request(port, "GET", "/health", conn=connection)
        assert status == 200 and connection.sock is sock
    finally:
        connection.close()


def test_connection_close_is_honoured(port: int) -> None:
    answer = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers, body = parse_raw(answer)
    assert status == 200 and headers["connection"] == "close" and body["status"] == "ok"


def test_http_1_0_closes_after_the_answer(port: int) -> None:
    status, headers, _ = parse_raw(raw(port, b"GET /health HTTP/1.0\r\n\r\n"))
    assert status == 200 and headers["connection"] == "close"


def test_two_pipelined_requests(port: int) -> None:
    answer = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 1 and answer.count(b"HTTP/1.1 404") == 1


def test_huge_body_is_413_without_reading_it(port: int) -> None:
    answer = raw(port, b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n")
    status, headers, body = parse_raw(answer)
    assert status == 413 and headers["connection"] == "close"
    assert "65536" in str(body["error"])


def test_huge_chunked_body_is_413(port: int) -> None:
    chunk = b"%x\r\n" % 40000 + b"a" * 40000 + b"\r\n"
    answer = raw(port, b"POST /command HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + chunk * 2 + b"0\r\n\r\n")
    assert parse_raw(answer)[0] == 413


def test_chunked_body(port: int) -> None:
    body = b"6001 dnd on"
    answer = raw(port, b"POST /command HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                       b"Connection: close\r\n\r\n" + b"%x\r\n" % len(body) + body
                       + b"\r\n0\r\n\r\n")
    status, _, result = parse_raw(answer)
    assert status == 200 and result["user"] == "6001"


def test_expect_100_continue(port: int) -> None:
    body = b"6002 dnd on"
    answer = raw(port, b"POST /command HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    status, _, result = parse_raw(answer[len(b"HTTP/1.1 100 Continue\r\n\r\n"):])
    assert status == 200 and result["user"] == "6002"


@pytest.mark.parametrize(("request_bytes", "status", "needle"), [
    (b"HELLO\r\n\r\n", 400, "GET /health HTTP/1.1"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "not ASCII"),
    (b"GET /health\r\n\r\n", 400, "cannot read request line"),
    (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505, "use HTTP/1.1"),
    (b"GET /health FTP/1.1\r\n\r\n", 400, "bad HTTP version"),
    (b"GET health HTTP/1.1\r\nHost: x\r\n\r\n", 400, "expected a path"),
    (b"GET /health HTTP/1.1\r\n\r\n", 400, "Host"),
    (b"GET /health HTTP/1.1\r\nHost x\r\n\r\n", 400, "Name: value"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, "obs-fold"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431, "longer"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "longer"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431, "header"),
    (b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400, "whole number"),
    (b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
     400, "Content-Length"),
    (b"POST /command HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
     "Content-Length"),
    (b"POST /command HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
     "chunk size"),
    (b"POST /command HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\n", 417,
     "Expect"),
])
def test_requests_the_parser_cannot_read(port: int, request_bytes: bytes, status: int,
                                         needle: str) -> None:
    got, headers, body = parse_raw(raw(port, request_bytes))
    assert got == status
    assert needle in str(body["error"])
    assert headers["connection"] == "close"


def test_client_hanging_up_mid_request_harms_nothing(port: int) -> None:
    for data in (b"GET /hea", b"POST /command HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nab"):
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
            sock.sendall(data)
    time.sleep(0.05)
    assert http_request(port, "GET", "/health")[0] == 200


def test_no_traceback_after_all_that(server: tuple[AgentProcess, int]) -> None:
    process, port = server
    assert http_request(port, "GET", "/health")[0] == 200
    assert "Traceback" not in "".join(process.stderr)


# -- the phone's API --------------------------------------------------------------------------

def test_phone_api() -> None:
    # Nobody listens at the server address: UDP does not mind, the phone just gets no answer.
    with AgentProcess(["phone", "--vendor", "broadsoft", "--server", "udp:127.0.0.1:9",
                       "--user", "1001", "--api", "127.0.0.1:0"], fake=False) as phone:
        phone.listening()
        port = phone.api_port()
        status, body, _ = http_request(port, "POST", "/command", "dnd on")
        assert status == 200 and body["state"]["dnd"] is True and body["user"] == "1001"
        status, body, _ = http_request(port, "POST", "/command", '{"line": "1001 dnd on"}')
        assert status == 400 and "unknown feature '1001'" in body["message"]
        status, state, _ = http_request(port, "GET", "/state")
        assert status == 200 and state["dnd"] is True and set(state) == {"dnd", "cfa", "cfb",
                                                                         "cfna"}
        assert http_request(port, "GET", "/state/1001")[1] == state
        status, body, _ = http_request(port, "GET", "/state/2002")
        assert status == 404 and "GET /state" in body["error"]
        status, health, _ = http_request(port, "GET", "/health")
        assert health["role"] == "phone" and health["user"] == "1001"
        assert health["server"] == "udp:127.0.0.1:9" and health["sync"] is False
        assert phone.signal()[0] == 0
