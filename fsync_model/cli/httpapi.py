"""The HTTP JSON API of ``fsync serve`` and ``fsync phone`` (an external contract).

A small HTTP/1.1 server on asyncio streams (no web framework), for loopback use by lab
scripts that would rather poll than read stdout::

    POST /command          body: a control line (text/plain) or {"line": "1001 dnd on"};
                           200 with the result line ({"event": "ok" | "state" | ...}),
                           400 with {"event": "error", "message": ..., "line": ...}
    GET  /state            server: {"<user>": <state JSON>, ...}; phone: <state JSON>
    GET  /state/<user>     <state JSON> of one user (the phone: 404 for another user)
    GET  /events?since=N   {"events": [{"seq": N+1, "event": ...}, ...], "last": M,
                           "missed": K}: the stdout lines after seq N still buffered (the
                           last 2000); poll again with since=M; K lines were dropped unseen
    GET  /health           {"status": "ok", "role": ..., "vendor": ..., "listening": ...}

Every answer is a JSON object with a Content-Length. Errors are JSON too,
``{"error": "<what went wrong and what to send instead>", "status": 400}``, with the proper
status (400, 404, 405 with Allow, 411, 413, 415, 417, 431, 500, 501, 505). HTTP/1.1
connections are kept alive unless the client says ``Connection: close``; a request the parser
cannot read is answered 400 and the connection closed. Bodies over 64 KiB get 413 unread.

:class:`HttpServer` is the protocol layer (parse, limits, keep-alive) and knows nothing of
fsync; :class:`ApiRoutes` maps paths to an :class:`ApiBackend` (the runtime).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

#: Largest request body accepted (413 beyond it).
MAX_BODY: Final = 64 * 1024
#: Longest request line or header line (414 / 431 beyond it).
MAX_LINE: Final = 8 * 1024
#: Most header fields in one request (431 beyond it).
MAX_HEADERS: Final = 100
#: Seconds a connection may sit idle (or a request take to arrive) before it is closed.
IDLE_TIMEOUT: Final = 30.0

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/(\d)\.(\d)")

REASONS: Final = {
    100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    417: "Expectation Failed", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    version: tuple[int, int]
    #: Header fields with lower-case names; repeated fields joined with ", ".
    headers: dict[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        """The percent-decoded path, without a trailing slash (except for ``/``)."""
        path = unquote(urlsplit(self.target).path, errors="strict")
        return path.rstrip("/") or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower case ("" when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()}

    @property
    def keep_alive(self) -> bool:
        connection = self.tokens("connection")
        if self.version >= (1, 1):
            return "close" not in connection
        return "keep-alive" in connection


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Close the connection after this response whatever the client asked.
    close: bool = False


class HttpError(Exception):
    """An error answered with ``status`` and a JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, *, close: bool = False,
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close
        self.headers = headers or []

    def response(self) -> HttpResponse:
        return HttpResponse(self.status, {"error": self.message, "status": self.status},
                            list(self.headers), self.close)


class _ConnectionDone(Exception):
    """The client closed the connection between requests."""


Handler = Callable[[HttpRequest], HttpResponse]


class HttpServer:
    """A minimal HTTP/1.1 server: one JSON handler, strict limits, keep-alive."""

    def __init__(self, handler: Handler, *, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self._handler = handler
        self._idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0 picks one; :attr:`port` is the real one)."""
        self._server = await asyncio.start_server(self._serve_connection, host, port,
                                                  limit=MAX_LINE)
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = str(sockname[0]), int(sockname[1])

    @property
    def address(self) -> str:
        """``HOST:PORT`` as ``--api`` takes it (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    async def close(self) -> None:
        """Stop listening and close every open connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await asyncio.wait_for(self._read_request(reader, writer),
                                                     self._idle_timeout)
                except (_ConnectionDone, TimeoutError, ConnectionError):
                    break
                except HttpError as error:
                    await self._write(writer, error.response(), head=False, keep=False)
                    break
                response = self._dispatch(request)
                keep = request.keep_alive and not response.close
                await self._write(writer, response, head=request.method == "HEAD",
                                  keep=keep, version=request.version)
                if not keep:
                    break
        except ConnectionError:
            pass
        except Exception:  # pragma: no cover - a bug here must not kill the loop
            logger.exception("HTTP connection failed")
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._handler(request)
        except HttpError as error:
            return error.response()
        except Exception as error:
            logger.exception("HTTP handler failed on %s %s", request.method, request.target)
            return HttpResponse(500, {"error": f"internal error: {error}", "status": 500})

    async def _read_line(self, reader: asyncio.StreamReader, status: int, what: str) -> bytes:
        try:
            line = await reader.readline()
        except ValueError:  # over the stream's limit
            raise HttpError(status, f"{what} longer than {MAX_LINE} bytes", close=True) from None
        if line and not line.endswith(b"\n"):
            raise ConnectionResetError("connection closed mid-line")
        return line

    async def _read_request(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> HttpRequest:
        # RFC 9112 section 2.2: ignore empty lines before the request line.
        for _ in range(4):
            raw = await self._read_line(reader, 414, "request line")
            if not raw:
                raise _ConnectionDone
            if raw.strip(b"\r\n"):
                break
        else:
            raise HttpError(400, "no request line: send e.g. 'GET /health HTTP/1.1'", close=True)
        method, target, version = _parse_request_line(raw)
        headers = await self._read_headers(reader)
        if version >= (1, 1) and "host" not in headers:
            raise HttpError(400, "HTTP/1.1 request without a Host header: add "
                                 "'Host: 127.0.0.1'", close=True)
        body = await self._read_body(reader, writer, headers, version)
        return HttpRequest(method, target, version, headers, body)

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        headers: dict[str, str] = {}
        count = 0
        while True:
            raw = await self._read_line(reader, 431, "header line")
            if not raw:
                raise ConnectionResetError("connection closed in the headers")
            line = raw.rstrip(b"\r\n")
            if not line:
                return headers
            count += 1
            if count > MAX_HEADERS:
                raise HttpError(431, f"more than {MAX_HEADERS} header fields", close=True)
            try:
                text = line.decode("ascii")
            except UnicodeDecodeError:
                text = line.decode("latin-1")
            if text[0] in " \t":
                raise HttpError(400, "folded header line (obs-fold): write each header on "
                                     "one line", close=True)
            name, colon, value = text.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HttpError(400, f"cannot read header line {text[:80]!r}: expected "
                                     "'Name: value'", close=True)
            key = name.lower()
            value = value.strip(" \t")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

    async def _read_body(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         headers: dict[str, str], version: tuple[int, int]) -> bytes:
        coding = headers.get("transfer-encoding")
        length_text = headers.get("content-length")
        if coding is not None:
            if length_text is not None:
                raise HttpError(400, "both Transfer-Encoding and Content-Length: send only "
                                     "Content-Length", close=True)
            if coding.strip().lower() != "chunked":
                raise HttpError(501, f"transfer coding {coding!r} not supported: send the "
                                     "body with a Content-Length", close=True)
            await self._continue(writer, headers, version)
            return await _read_chunked(reader)
        if length_text is None:
            return b""
        values = {v.strip() for v in length_text.split(",")}
        if len(values) != 1 or not all(v.isascii() and v.isdigit() for v in values):
            raise HttpError(400, f"bad Content-Length {length_text!r}: expected one "
                                 "whole number", close=True)
        length = int(values.pop())
        if length > MAX_BODY:
            raise HttpError(413, f"body of {length} bytes is over the {MAX_BODY}-byte limit: "
                                 "send one control line per request", close=True)
        if length == 0:
            return b""
        await self._continue(writer, headers, version)
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("connection closed in the body") from None

    async def _continue(self, writer: asyncio.StreamWriter, headers: dict[str, str],
                        version: tuple[int, int]) -> None:
        expect = headers.get("expect")
        if expect is None:
            return
        if expect.strip().lower() != "100-continue":
            raise HttpError(417, f"cannot meet Expect: {expect}; leave the header out",
                            close=True)
        if version >= (1, 1):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()

    async def _write(self, writer: asyncio.StreamWriter, response: HttpResponse, *,
                     head: bool, keep: bool, version: tuple[int, int] = (1, 1)) -> None:
        body = (json.dumps(response.body) + "\n").encode("utf-8")
        reason = REASONS.get(response.status, "Unknown")
        lines = [f"HTTP/1.1 {response.status} {reason}",
                 "Content-Type: application/json",
                 f"Content-Length: {len(body)}",
                 "Cache-Control: no-store"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        if not keep:
            lines.append("Connection: close")
        elif version < (1, 1):
            lines.append("Connection: keep-alive")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(data if head else data + body)
        await writer.drain()


def _parse_request_line(raw: bytes) -> tuple[str, str, tuple[int, int]]:
    usage = "expected 'METHOD /path HTTP/1.1', e.g. 'GET /health HTTP/1.1'"
    try:
        text = raw.rstrip(b"\r\n").decode("ascii")
    except UnicodeDecodeError:
        raise HttpError(400, f"request line is not ASCII; {usage}", close=True) from None
    parts = text.split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise HttpError(400, f"cannot read request line {text[:80]!r}; {usage}", close=True)
    method, target, version_text = parts
    match = _VERSION.fullmatch(version_text)
    if match is None:
        raise HttpError(400, f"bad HTTP version {version_text[:20]!r}; {usage}", close=True)
    version = (int(match[1]), int(match[2]))
    if version[0] != 1:
        raise HttpError(505, f"HTTP/{version[0]}.{version[1]} not supported: use HTTP/1.1",
                        close=True)
    if target.startswith(("http://", "https://")):
        split = urlsplit(target)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    if not target.startswith("/") or any(c <= " " or c == "\x7f" for c in target):
        raise HttpError(400, f"bad request target {target[:80]!r}: expected a path such as "
                             "/state", close=True)
    return method, target, version


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (RFC 9112 section 7.1), at most MAX_BODY bytes; trailers dropped."""
    body = bytearray()
    try:
        while True:
            size_line = await reader.readline()
            if not size_line.endswith(b"\n"):
                raise ConnectionResetError("connection closed in a chunked body")
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError(400, f"bad chunk size {size_text[:20]!r}", close=True) from None
            if size < 0:
                raise HttpError(400, "bad chunk size", close=True)
            if size == 0:
                break
            if len(body) + size > MAX_BODY:
                raise HttpError(413, f"body over the {MAX_BODY}-byte limit: send one control "
                                     "line per request", close=True)
            body += await reader.readexactly(size)
            if (await reader.readexactly(2)) != b"\r\n":
                raise HttpError(400, "chunk data not followed by CRLF", close=True)
        for _ in range(MAX_HEADERS + 1):  # trailer section
            line = await reader.readline()
            if not line.endswith(b"\n"):
                raise ConnectionResetError("connection closed in the trailers")
            if not line.strip(b"\r\n"):
                return bytes(body)
        raise HttpError(431, "too many trailer fields", close=True)
    except ValueError:  # a line over the stream's limit
        raise HttpError(400, "chunk line too long", close=True) from None
    except asyncio.IncompleteReadError:
        raise ConnectionResetError("connection closed in a chunked body") from None


# -- the fsync routes ----------------------------------------------------------------------

class ApiBackend(Protocol):
    """What the routes need from the running agent (the runtime implements it)."""

    role: str
    usage: str

    def api_command(self, line: str) -> tuple[int, dict[str, Any]]:
        """Run one control line: (HTTP status, result object)."""
        ...

    def api_state(self, user: str | None) -> Any | None:
        """The state JSON (all users when ``user`` is None); None: no such user."""
        ...

    def api_events(self, since: int) -> dict[str, Any]: ...

    def api_health(self) -> dict[str, Any]: ...


PATHS: Final = ("POST /command", "GET /state", "GET /state/<user>", "GET /events?since=N",
                "GET /health")


class ApiRoutes:
    """Maps requests to the backend: the route table of the module docstring."""

    def __init__(self, backend: ApiBackend) -> None:
        self.backend = backend

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            path = request.path
        except UnicodeDecodeError:
            raise HttpError(400, "path is not valid UTF-8 after percent-decoding") from None
        if path == "/command":
            self._allow(request, "POST")
            return self._command(request)
        if path == "/state" or path.startswith("/state/"):
            self._allow(request, "GET", "HEAD")
            user = path[len("/state/"):] if path.startswith("/state/") else None
            return self._state(user)
        if path == "/events":
            self._allow(request, "GET", "HEAD")
            return self._events(request)
        if path == "/health":
            self._allow(request, "GET", "HEAD")
            return HttpResponse(200, self.backend.api_health())
        if path == "/":
            self._allow(request, "GET", "HEAD")
            return HttpResponse(200, {"role": self.backend.role, "paths": list(PATHS)})
        raise HttpError(404, f"no such path {path[:80]!r}; paths: {', '.join(PATHS)}")

    @staticmethod
    def _allow(request: HttpRequest, *methods: str) -> None:
        if request.method not in methods:
            allowed = ", ".join(methods)
            raise HttpError(405, f"{request.method} not allowed on {request.path}: use "
                                 f"{allowed}", headers=[("Allow", allowed)])

    def _command(self, request: HttpRequest) -> HttpResponse:
        example = "1001 dnd on" if self.backend.role == "server" else "dnd on"
        how = (f"send the control line as text/plain (e.g. '{example}') or JSON "
               f"{{\"line\": \"{example}\"}}")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, f"body is not UTF-8 text; {how}") from None
        media = request.media_type
        if media == "application/json" or text.lstrip().startswith("{"):
            line = _line_from_json(text, how)
        elif media in ("", "text/plain", "application/x-www-form-urlencoded"):
            # curl -d sends form-urlencoded without encoding anything: take it as text.
            lines = [part for part in text.splitlines() if part.strip()]
            if len(lines) > 1:
                raise HttpError(400, f"{len(lines)} lines in one request: send one control "
                                     "line per request")
            line = lines[0] if lines else ""
        else:
            raise HttpError(415, f"Content-Type {media!r} not accepted; {how}")
        if not line.strip():
            raise HttpError(400, f"empty command; {how}. Forms: {self.backend.usage}")
        status, result = self.backend.api_command(line)
        return HttpResponse(status, result)

    def _state(self, user: str | None) -> HttpResponse:
        if user is not None and not user:
            user = None
        document = self.backend.api_state(user)
        if document is None:
            raise HttpError(404, f"no user {user!r} here; GET /state for this agent's state")
        return HttpResponse(200, document)

    def _events(self, request: HttpRequest) -> HttpResponse:
        values = request.query.get("since", ["0"])
        text = values[-1]
        if not (text.isascii() and text.isdigit()):
            raise HttpError(400, f"since must be a whole number >= 0, got {text[:20]!r}: "
                                 "e.g. GET /events?since=0, then since=<last>")
        return HttpResponse(200, self.backend.api_events(int(text)))


def _line_from_json(text: str, how: str) -> str:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise HttpError(400, f"body is not valid JSON ({error}); {how}") from None
    if not isinstance(data, dict) or not isinstance(data.get("line"), str):
        raise HttpError(400, f"JSON body needs a string field \"line\"; {how}")
    line: str = data["line"]
    if "\n" in line.strip() or "\r" in line.strip():
        raise HttpError(400, "one control line per request: \"line\" has a line break")
    return line
