"""``fsync serve --workers N``: one reference server in N processes, its users shared out.

One Python process is at its knee at about 2,000 SUBSCRIBE/set/unsubscribe flows a second
on the project's box (bench/README.md); a load test of many phones wants more, and the
machine has more cores: two processes serve 2,500 a second there with no failed flow.
The server's state is per user (a user's feature state, registrations, subscriptions, code
calls), so the users are shared out: user ``u`` belongs to worker ``crc32(u) % N``, and
only that worker's agent ever sees a message of ``u``. The agents are the ordinary
reference server, unchanged.

* **Sockets.** The UDP listen sockets are bound before the workers are forked. The lead
  reads them (one reader: processes waiting on one socket would all wake for each
  datagram), looks at whose each datagram is (:func:`message_user`: the From user of a
  request, the To user of a REGISTER and of a response, exactly as the server files them)
  and hands it to its owner over a Unix datagram socket when it is not its own. A datagram
  that does not parse stays with the lead, to be answered (400...) there. Every worker
  sends on the listen sockets, so the phone sees one server address.
* **The first worker leads.** It is the process the command started: it reads the control
  lines (stdin, ``--api``), prints every event (the other workers send theirs to it over a
  stream socket, in order) and the ``listening`` and ``stopped`` lines. A control line
  about a user runs in that user's worker; ``state`` (every user), ``policy`` for every
  user, ``GET /state`` and ``GET /health`` ask every worker and merge the answers.
* **Stopping.** SIGINT or SIGTERM to the lead stops it; it closes the control sockets and
  the workers stop on that (they ignore SIGINT, which a terminal sends to them too). A
  worker that dies makes the lead stop, with a failing exit code.

UDP only: a TCP connection belongs to the process that accepted it (the user's worker may
be another), and ``--pcap`` would need one writer; both are refused with ``--workers`` > 1.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import re
import select
import signal
import socket
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar

from fsync_model.agents.api import SansIOEndpoint
from fsync_model.agents.control import QueryState, SetFeature, SetPolicy
from fsync_model.agents.server import _user_of
from fsync_model.cli import runtime
from fsync_model.cli.httpapi import HttpError
from fsync_model.sip.errors import SipParseError
from fsync_model.sip.message import Response, parse_message
from fsync_model.transport.address import Address
from fsync_model.transport.driver import EndpointDriver
from fsync_model.transport.tap import Tap
from fsync_model.transport.udp import UdpTransport

logger = logging.getLogger("fsync.cli")

#: The most workers ``--workers`` takes.
MAX_WORKERS = 64
#: Datagrams read from the forwarding socket per readable event at most.
MAX_BATCH = 64
#: Socket buffers of the forwarding sockets (a burst to the other worker waits there).
FORWARD_BUFFER = 4 * 1024 * 1024
#: Seconds the lead waits for a worker's answer to a control request.
REQUEST_TIMEOUT = 10.0
#: Seconds the lead gives the workers to stop before killing them.
STOP_TIMEOUT = 3.0


def shard_of(user: str, workers: int) -> int:
    """The worker of ``user`` (stable across runs and processes)."""
    return zlib.crc32(user.encode("utf-8", "surrogatepass")) % workers


#: The From (requests) and To (REGISTER, responses) header lines, full or compact names.
_FROM = re.compile(rb"\r\n(?:from|f)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_TO = re.compile(rb"\r\n(?:to|t)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)


def message_user(data: bytes) -> str | None:
    """Whose message ``data`` is, as the reference server files it: the user of the From
    URI of a request, of the To URI of a REGISTER or a response (the To of a NOTIFY or an
    INFO the server sent is the phone's user); None when it does not parse that far.

    Read off the header line where it is plain (one such header, no folding, a display
    name quoted without escapes or none, an ASCII URI): a tenth of a full parse, which is
    what the others get."""
    end = data.find(b"\r\n\r\n")
    if end > 0:
        head = data[:end + 2]
        response_or_register = data.startswith((b"SIP/2.0 ", b"REGISTER "))
        found = (_TO if response_or_register else _FROM).findall(head)
        if len(found) == 1 and b"\r\n " not in head and b"\r\n\t" not in head:
            value = found[0]
            after = 0
            if value.startswith(b'"'):  # a quoted display name (no escapes in it)
                after = value.find(b'"', 1) + 1
                if after == 0 or b"\\" in value[:after]:
                    return _parsed_user(data)
            elif b'"' in value:
                return _parsed_user(data)
            start = value.find(b"<", after)
            if start >= 0:
                stop = value.find(b">", start)
                uri = value[start + 1:stop] if stop > 0 else b""
            else:
                uri = value.split(b";", 1)[0]
            if uri and uri.isascii():
                user = _user_of(uri.strip().decode("ascii"))
                if user:  # else no user part, or no URI: the parser says which
                    return user
    return _parsed_user(data)


def _parsed_user(data: bytes) -> str | None:
    """:func:`message_user` by a full parse."""
    try:
        message = parse_message(data)
        if isinstance(message, Response) or message.method == "REGISTER":
            uri = message.to_addr.uri
        else:
            uri = message.from_addr.uri
    except SipParseError:
        return None
    return _user_of(uri)


class ShardRouter:
    """The endpoint the driver of a worker drives: the worker's agent, but a datagram of a
    user of another worker goes to that worker (``forward``)."""

    def __init__(self, agent: SansIOEndpoint, index: int, workers: int,
                 forward: Callable[[int, bytes, Address, float], None]) -> None:
        self.agent = agent
        self.index = index
        self.workers = workers
        self.forward = forward
        self.forwarded = 0
        self._arrived = 0.0  # wall-clock arrival of the next datagram (0: not known)

    def receive_datagram(self, data: bytes, src: Address, now: float) -> None:
        arrived, self._arrived = self._arrived, 0.0
        user = message_user(data)
        if user is not None:
            owner = shard_of(user, self.workers)
            if owner != self.index:
                self.forwarded += 1
                self.forward(owner, data, src, arrived)
                return
        self.agent.receive_datagram(data, src, now)

    def bind(self, local: list[Address]) -> None:
        self.agent.bind(local)

    def note_receive_delay(self, delay: float) -> None:
        # told before each datagram: a forwarded one carries its arrival time along, so
        # its worker sees how long it waited in all (the server's overload control)
        self._arrived = time.time() - delay
        hook = getattr(self.agent, "note_receive_delay", None)
        if hook is not None:
            hook(delay)

    def receive_malformed(self, data: bytes, error: SipParseError, src: Address,
                          now: float) -> None:
        hook = getattr(self.agent, "receive_malformed", None)
        if hook is not None:
            hook(data, error, src, now)

    def transport_error(self, dst: Address, reason: str, now: float) -> None:
        hook = getattr(self.agent, "transport_error", None)
        if hook is not None:
            hook(dst, reason, now)

    def handle_timer(self, now: float) -> None:
        self.agent.handle_timer(now)

    def get_timer(self) -> float | None:
        return self.agent.get_timer()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self.agent.datagrams_to_send(now)


class _Channel:
    """Newline-delimited JSON over a stream socket between the lead and one worker; each
    line starts with its kind: ``E`` an event, ``R`` an answer, ``Q`` a request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = b""
        self.closed = False

    def send(self, kind: str, obj: Any) -> None:
        self.sock.sendall((kind + json.dumps(obj) + "\n").encode())

    def read_lines(self) -> list[tuple[str, str]]:
        """What has arrived (the socket is readable): (kind, JSON text with its newline) per
        whole line; ``closed`` is set at end of stream."""
        try:
            chunk = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return []
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        return [(chr(line[0]), line[1:].decode() + "\n") for line in lines if line]


class _EventPipe:
    """The stdout of a worker's EventLog: its JSON lines go to the lead, one ``sendall``
    per flush (the EventLog flushes once per loop round)."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel
        self._lines: list[str] = []

    def write(self, text: str) -> int:
        self._lines.append("E" + text)
        return len(text)

    def flush(self) -> None:
        if self._lines:
            data, self._lines = "".join(self._lines).encode(), []
            self._channel.sock.sendall(data)


class _Shard:
    """What every worker process has: its place, the sockets, the forwarding."""

    def __init__(self, index: int, workers: int, sockets: list[socket.socket],
                 forward_in: list[socket.socket], forward_out: list[socket.socket],
                 t0: float) -> None:
        self.index = index
        self.workers = workers
        self.sockets = sockets
        self.forward_in = forward_in[index]
        self.forward_out = forward_out
        self.t0 = t0
        self.dropped = 0
        self._warned = -1.0
        self._peers: dict[bytes, Address] = {}

    def start_time(self, loop: asyncio.AbstractEventLoop) -> float:
        # every worker counts t from the same instant (the loops' clocks are monotonic)
        return loop.time() - (time.monotonic() - self.t0)

    async def open_driver(self, agent: SansIOEndpoint,
                          clock: Callable[[], float]) -> EndpointDriver:
        router = ShardRouter(agent, self.index, self.workers, self._forward)
        # only the lead reads the listen sockets (two processes waiting on one socket
        # would both wake for each datagram); every worker sends on them
        transports = [UdpTransport.adopt(sock, read=self.index == 0) for sock in self.sockets]
        driver = EndpointDriver(router, transports, clock=clock)
        loop = asyncio.get_running_loop()
        loop.add_reader(self.forward_in.fileno(), self._forwarded, driver, agent)
        return driver

    def _forward(self, owner: int, data: bytes, src: Address, arrived: float) -> None:
        header = f"{src.host} {src.port} {arrived!r}\n".encode()
        try:
            self.forward_out[owner].send(header + data)
        except OSError as error:  # its buffer is full: a UDP peer sends it again
            self.dropped += 1
            now = time.monotonic()
            if now - self._warned >= 1.0:  # once a second at most: this is overload
                self._warned = now
                logger.warning("worker %d: datagram for worker %d dropped (%s; %d so far)",
                               self.index, owner, error, self.dropped)

    def _forwarded(self, driver: EndpointDriver, agent: SansIOEndpoint) -> None:
        batch: list[tuple[bytes, Address, float | None]] = []
        for _ in range(MAX_BATCH):
            try:
                packet = self.forward_in.recv(1 << 17)
            except (BlockingIOError, InterruptedError):
                break
            header, _, data = packet.partition(b"\n")
            where, _, arrived = header.rpartition(b" ")
            src = self._peers.get(where)
            if src is None:
                host, _, port = where.decode().partition(" ")
                src = self._peers[where] = Address("udp", host, int(port))
            batch.append((data, src, float(arrived) or None))
        if batch:
            driver.receive_batch(batch, agent)  # the agent's own: past the router


class WorkerRuntime(runtime.Runtime):
    """A worker that is not the lead: no stdin, no API; events and answers to the lead."""

    announce: ClassVar[bool] = False
    stop_signals: ClassVar[tuple[signal.Signals, ...]] = (signal.SIGTERM,)

    def __init__(self, app: runtime.AgentApp, options: runtime.RuntimeOptions, shard: _Shard,
                 channel: _Channel) -> None:
        super().__init__(app, options, stdin_fd=None, stdout=_EventPipe(channel))  # type: ignore[arg-type]
        self.shard = shard
        self.channel = channel

    def _start_time(self, loop: asyncio.AbstractEventLoop) -> float:
        return self.shard.start_time(loop)

    async def _open_driver(self, agent: SansIOEndpoint, pcap: Tap | None) -> EndpointDriver:
        driver = await self.shard.open_driver(agent, self.clock)
        asyncio.get_running_loop().add_reader(self.channel.sock.fileno(), self._on_request)
        return driver

    def _on_request(self) -> None:
        for kind, text in self.channel.read_lines():
            if kind == "Q":
                obj = json.loads(text)
                answer = self._answer(obj)
                self.events.flush()  # the events the request made go first, as in one process
                self.channel.send("R", {"id": obj["id"], "answer": answer})
        if self.channel.closed:  # the lead has gone: stop
            assert self._loop is not None
            self._loop.remove_reader(self.channel.sock.fileno())
            self.stop("lead stopped")

    def _answer(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "apply":
            return self._apply(request["line"])
        if op == "state":
            return self.app.state_document(request.get("user"))
        if op == "health":
            return self.app.health()
        return {"status": 400, "result": {"event": "error", "message": f"unknown op {op!r}"}}

    def _apply(self, line: str) -> dict[str, Any]:
        """Run a control line the lead parsed already; the result, not printed (the lead
        prints it, after the events applying it made, which reach it first)."""
        now = self.clock()
        status, value = self._apply_line(line, now) or (400, "nothing to do")
        if isinstance(value, str):
            return {"status": status, "error": value, "t": now}
        return {"status": status, "result": value, "t": now}

    def _failures(self) -> list[str]:
        failures = super()._failures()
        return [f"worker {self.shard.index}: {failure}" for failure in failures]


class LeadRuntime(runtime.Runtime):
    """Worker 0: the command's own process (stdin, API, every event printed)."""

    def __init__(self, app: runtime.AgentApp, options: runtime.RuntimeOptions, shard: _Shard,
                 channels: dict[int, _Channel], pids: dict[int, int]) -> None:
        super().__init__(app, options)
        self.shard = shard
        self.channels = channels
        self.pids = pids
        self._next_id = 0
        self._worker_failures: list[str] = []

    def _start_time(self, loop: asyncio.AbstractEventLoop) -> float:
        return self.shard.start_time(loop)

    async def _open_driver(self, agent: SansIOEndpoint, pcap: Tap | None) -> EndpointDriver:
        driver = await self.shard.open_driver(agent, self.clock)
        loop = asyncio.get_running_loop()
        for index, channel in self.channels.items():
            loop.add_reader(channel.sock.fileno(), self._on_worker, index)
        return driver

    # -- the workers' events -------------------------------------------------------------

    def _take(self, channel: _Channel) -> list[str]:
        """Read what ``channel`` holds: its events printed, its answers returned."""
        answers = []
        for kind, text in channel.read_lines():
            if kind == "E":
                self.events.emit_json(text)
            elif kind == "R":
                answers.append(text)
        return answers

    def _on_worker(self, index: int) -> None:
        channel = self.channels[index]
        self._take(channel)  # an answer comes only while _request waits for it
        if channel.closed:
            assert self._loop is not None
            self._loop.remove_reader(channel.sock.fileno())
            if self._stop is not None and self._stop.is_set():
                return  # stopping anyway (a SIGTERM to the whole process group)
            self._worker_failures.append(f"worker {index} (pid {self.pids[index]}) stopped "
                                         "before the server did")
            self.stop(f"worker {index} exited")

    def _request(self, index: int, op: str, **data: Any) -> Any:
        """Ask worker ``index`` (blocking, at most :data:`REQUEST_TIMEOUT`); the events it
        sends meanwhile are printed as they come."""
        channel = self.channels[index]
        if channel.closed:
            raise RuntimeError(f"worker {index} has stopped")
        self._next_id += 1
        ident = self._next_id
        try:
            channel.send("Q", {"id": ident, "op": op, **data})
        except OSError as error:  # it died since the loop last looked
            raise RuntimeError(f"worker {index} has stopped ({error})") from None
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"worker {index} did not answer in {REQUEST_TIMEOUT:g} s")
            readable, _, _ = select.select([channel.sock], [], [], remaining)
            if not readable:
                continue
            for text in self._take(channel):
                answer = json.loads(text)
                if answer.get("id") == ident:
                    return answer["answer"]
            if channel.closed:
                raise RuntimeError(f"worker {index} has stopped")

    def _everyone(self, op: str, **data: Any) -> list[Any]:
        return [self._request(index, op, **data) for index in sorted(self.channels)]

    # -- control lines --------------------------------------------------------------------

    def execute(self, line: str) -> tuple[int, dict[str, Any]] | None:
        text = line.strip()
        try:
            command = self.app.parse(text)
        except Exception:  # ControlError and the like: the base class answers
            return super().execute(line)
        user = getattr(command, "user", None)
        if not isinstance(command, SetFeature | QueryState | SetPolicy):
            return super().execute(line)
        if user is not None:
            owner = shard_of(user, self.shard.workers)
            if owner != self.shard.index:
                return self._remote(owner, text)
            return super().execute(line)
        # every user (state, * policy): here and in each worker, one answer printed
        now = self.clock()
        status, result = self._apply_line(text, now) or (400, "nothing to do")
        if isinstance(result, str):
            return self._error(status, result, text, now)
        try:
            answers = self._everyone("apply", line=text)
        except RuntimeError as error:
            return self._error(500, str(error), text, now)
        for answer in answers:
            if answer["status"] != 200:
                return self._error(answer["status"], answer["error"], text, now)
            if isinstance(command, QueryState):
                result["users"].update(answer["result"]["users"])
        if isinstance(command, QueryState):
            result["users"] = dict(sorted(result["users"].items()))
        return self._result(result, text, now)

    def _remote(self, owner: int, text: str) -> tuple[int, dict[str, Any]]:
        try:
            answer = self._request(owner, "apply", line=text)
        except RuntimeError as error:
            return self._error(500, str(error), text, self.clock())
        now = answer["t"]
        if answer["status"] != 200:
            return self._error(answer["status"], answer["error"], text, now)
        return self._result(answer["result"], text, now)

    # -- the HTTP backend -----------------------------------------------------------------

    def api_state(self, user: str | None) -> Any | None:
        try:
            if user is not None:
                owner = shard_of(user, self.shard.workers)
                if owner != self.shard.index:
                    return self._request(owner, "state", user=user)
                return self.app.state_document(user)
            parts = self._everyone("state", user=None)
        except RuntimeError as error:  # a worker gone: the server is stopping
            raise HttpError(503, str(error)) from None
        merged = dict(self.app.state_document(None) or {})
        for part in parts:
            merged.update(part or {})
        return dict(sorted(merged.items()))

    def api_health(self) -> dict[str, Any]:
        health = super().api_health()
        try:
            parts = self._everyone("health")
        except RuntimeError as error:
            raise HttpError(503, str(error)) from None
        health["workers"] = self.shard.workers
        if "users" in health:
            health["users"] += sum(int(part.get("users", 0)) for part in parts)
        if "shed" in health:
            health["shed"] += sum(int(part.get("shed", 0)) for part in parts)
        if "overloaded" in health:
            health["overloaded"] = bool(health["overloaded"]) or any(
                part.get("overloaded") for part in parts)
        return health

    # -- stopping -------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        await super()._shutdown()
        for channel in self.channels.values():  # the workers stop on this
            with contextlib.suppress(OSError):
                channel.sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + STOP_TIMEOUT
        for index, pid in self.pids.items():
            status = _wait(pid, deadline)
            if status is None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                self._worker_failures.append(f"worker {index} did not stop in "
                                             f"{STOP_TIMEOUT:g} s: killed")
            elif status != 0:
                self._worker_failures.append(f"worker {index} exited with status {status}")
            channel = self.channels[index]
            if self._loop is not None:
                self._drain(channel)

    def _drain(self, channel: _Channel) -> None:
        """Print the events a worker sent before it stopped."""
        with contextlib.suppress(OSError):
            channel.sock.setblocking(False)
            while not channel.closed:
                before = self.events.last
                self._take(channel)
                if self.events.last == before and not channel.closed:
                    break

    def _failures(self) -> list[str]:
        return super()._failures() + self._worker_failures


def _wait(pid: int, deadline: float) -> int | None:
    """The exit status of child ``pid`` once it exits, None if it is still running at
    ``deadline``."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def run(make_app: Callable[[int], runtime.AgentApp], options: runtime.RuntimeOptions,
        workers: int, prepare: Callable[[], object] | None = None) -> int:
    """Bind, fork ``workers - 1`` workers, and lead them (see the module docstring).
    ``make_app(index)`` builds a worker's application (its own seed); ``prepare()`` builds,
    before the fork, what every worker would build alike (the model's tables), so that they
    share its memory."""
    if prepare is not None:
        prepare()
    sockets = [UdpTransport.bind_socket(address) for address in options.listen]
    forward_in: list[socket.socket] = []
    forward_out: list[socket.socket] = []
    for _ in range(workers):
        inside, outside = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (inside, outside):
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, FORWARD_BUFFER)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FORWARD_BUFFER)
        forward_in.append(inside)
        forward_out.append(outside)
    t0 = time.monotonic()
    bound = tuple(replace(address, port=sock.getsockname()[1])
                  for address, sock in zip(options.listen, sockets, strict=True))
    options = replace(options, listen=bound)
    channels: dict[int, _Channel] = {}
    pids: dict[int, int] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    # what is alive now (modules, the profile) stays out of every collection in every
    # worker: a collection writes to each object it walks, and the page it is on would
    # stop being shared with the lead (the Python docs' advice for a fork)
    gc.collect()
    gc.freeze()
    for index in range(1, workers):
        lead_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker (coverage does not follow a fork)
            code = 1
            try:
                lead_end.close()
                for channel in channels.values():
                    channel.sock.close()
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                shard = _Shard(index, workers, sockets, forward_in, forward_out, t0)
                worker_options = replace(options, api=None, pcap=None, exit_on_eof=False)
                app = make_app(index)
                code = WorkerRuntime(app, worker_options, shard, _Channel(worker_end)).run()
            except BaseException:
                logger.exception("worker %d failed", index)
            finally:
                sys.stderr.flush()
                os._exit(code)
        worker_end.close()
        channels[index] = _Channel(lead_end)
        pids[index] = pid
    shard = _Shard(0, workers, sockets, forward_in, forward_out, t0)
    return LeadRuntime(make_app(0), options, shard, channels, pids).run()
