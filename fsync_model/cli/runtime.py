"""Shared asyncio plumbing of ``fsync serve`` and ``fsync phone``: wiring, no protocol logic.

:class:`Runtime` opens an :class:`~fsync_model.transport.driver.EndpointDriver` for an agent,
prints every agent event and every command result as one JSON line on stdout (and keeps them
in a bounded buffer for ``GET /events``), reads control lines from stdin in a thread so the
loop never blocks, serves the HTTP API, and stops cleanly on SIGINT/SIGTERM (or at EOF on
stdin with ``--exit-on-eof``). What a control line does is up to the command's
:class:`AgentApp` (``serve_cmd.ServerApp``, ``phone_cmd.PhoneApp``).

Output contract (stdout, one JSON object per line, every object with ``"event"`` and
``"t"``): agent events as ``AgentEvent.to_json()``; ``info`` lines for ``listening`` (one per
bound address), ``api`` and ``stopped``; one result per control line: ``ok``, ``state``,
``states``, ``help`` or ``error``. Logs go to stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import ipaddress
import json
import logging
import os
import random
import re
import signal
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TextIO

from fsync_model.agents.api import SansIOEndpoint
from fsync_model.agents.control import Command, ControlError
from fsync_model.agents.events import AgentEvent, Info, Observer
from fsync_model.cli.httpapi import ApiRoutes, HttpServer
from fsync_model.cli.main import EXIT_FAIL, EXIT_OK, EXIT_USAGE, UsageError
from fsync_model.transport.address import Address, AddressError, is_loopback, parse_address
from fsync_model.transport.driver import EndpointDriver
from fsync_model.transport.tap import Tap

logger = logging.getLogger("fsync.cli")

#: Events kept for ``GET /events`` (the oldest are dropped first).
EVENT_BUFFER: Final = 2000
#: Longest control line read from stdin; longer ones are reported and skipped.
MAX_STDIN_LINE: Final = 64 * 1024
#: Event kinds ``--quiet`` keeps off stdout (``fsync serve --quiet`` does not make them at
#: all; ``fsync phone --quiet`` keeps them in the ``/events`` buffer).
CHATTY_EVENTS: Final = frozenset({"message", "step"})
#: Seconds allowed for sockets to close at shutdown.
CLOSE_TIMEOUT: Final = 0.5
#: Seconds the agent may take to finish up at shutdown (the phone's de-REGISTER).
WIND_DOWN: Final = 1.0
#: Young objects allowed before a collection (Python's default is 700).
GC_THRESHOLD: Final = 50_000


# -- options ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    listen: tuple[Address, ...]
    api: tuple[str, int] | None = None
    pcap: str | None = None
    seed: int = 0
    quiet: bool = False
    exit_on_eof: bool = False


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """The options serve and phone share (after their own)."""
    parser.add_argument("--api", metavar="HOST:PORT",
                        help="serve the HTTP JSON API on a loopback address, e.g. "
                             "127.0.0.1:8080 (port 0 picks one; an 'api' info line says which)")
    parser.add_argument("--pcap", metavar="FILE",
                        help="write every SIP message sent or received to FILE (classic pcap)")
    parser.add_argument("--seed", type=_seed, metavar="N",
                        help="seed for tags, branches and Call-IDs (default: random, logged)")
    parser.add_argument("--quiet", action="store_true",
                        help="keep 'message' and 'step' events off stdout and log only "
                             "warnings (fsync serve then does not make them at all, for "
                             "speed; fsync phone still keeps them in GET /events)")
    parser.add_argument("--exit-on-eof", action="store_true",
                        help="stop when stdin reaches end of file (by default EOF on stdin "
                             "does not stop: it runs until SIGINT or SIGTERM)")


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, e.g. --seed 42, "
                                         f"got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 0, e.g. --seed 42")
    return value


def runtime_options(args: argparse.Namespace, listen: list[Address]) -> RuntimeOptions:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    return RuntimeOptions(
        listen=tuple(listen),
        api=api_address(args.api) if args.api is not None else None,
        pcap=args.pcap, seed=seed, quiet=args.quiet, exit_on_eof=args.exit_on_eof,
    )


def socket_address(text: str, option: str) -> Address:
    """A loopback udp:/tcp: address with an IP literal, or a UsageError saying what to type."""
    try:
        address = parse_address(text)
    except AddressError as error:
        raise UsageError(f"{option} {text}: {error}") from None
    example = f"{address.transport if address.transport in ('udp', 'tcp') else 'udp'}:" \
              f"127.0.0.1:{address.port or 5070}"
    if address.transport == "tls":
        raise UsageError(f"{option} {text}: tls needs certificates, which this command does "
                         f"not take yet; use udp: or tcp:, e.g. {example}")
    if address.transport not in ("udp", "tcp"):
        raise UsageError(f"{option} {text}: use a socket address (udp: or tcp:), "
                         f"e.g. {example}")
    try:
        ipaddress.ip_address(address.host)
    except ValueError:
        raise UsageError(f"{option} {text}: give an IP address, not the host name "
                         f"{address.host!r} (it may resolve to several), e.g. "
                         f"{example}") from None
    if not is_loopback(address.host):
        raise UsageError(f"{option} {text}: fsync stays on loopback; use 127.0.0.1 or [::1], "
                         f"e.g. {example}")
    return address


def api_address(text: str) -> tuple[str, int]:
    """``--api HOST:PORT`` on a loopback IP literal."""
    usage = "expected HOST:PORT on loopback, e.g. --api 127.0.0.1:8080 or --api [::1]:8080"
    match = re.fullmatch(r"\[([^\]]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", text.strip())
    if match is None:
        raise UsageError(f"--api {text}: {usage}")
    host = match[1] or match[3]
    port = int(match[2] or match[4])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--api {text}: {host!r} is not an IP address; {usage}") from None
    if not is_loopback(str(ip)):
        raise UsageError(f"--api {text}: the API listens on loopback only; {usage}")
    if port > 65535:
        raise UsageError(f"--api {text}: port {port} not in 0..65535; {usage}")
    return str(ip), port


def configure_logging(quiet: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


#: ``FSYNC_LOOP=uvloop`` runs the commands on uvloop's event loop where it is installed
#: (``pip install uvloop``); the default is asyncio's own.
LOOP_ENV = "FSYNC_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop the commands run on: asyncio's (None), or uvloop's when
    ``FSYNC_LOOP=uvloop`` asks for it and it is installed. Measured (bench/README.md), the
    loop is not what limits ``fsync serve`` (it reads every datagram waiting per turn):
    uvloop ran 5 % fewer instructions per flow at a low rate, the same flows per second at
    2,000/s, and 2.3 MiB more memory at start, which the 10,000-subscription target has no
    room for. The agents do not see the difference: they are sans-IO."""
    wanted = os.environ.get(LOOP_ENV, "").strip().lower()
    if wanted != "uvloop":
        if wanted not in ("", "asyncio"):
            logger.warning("%s=%s: expected asyncio or uvloop; running asyncio's loop",
                           LOOP_ENV, wanted)
        return None
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        logger.warning("%s=uvloop but uvloop is not installed (pip install uvloop); running "
                       "asyncio's loop", LOOP_ENV)
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return, unused-ignore]


def settle_gc() -> None:
    """Once the agent is built: freeze what is alive (modules, profiles, model tables: they
    live as long as the process) out of every collection, and collect young objects less
    often. The agents make no reference cycles in their work (their objects go by reference
    counting), so a collection only walks live objects: with thousands of subscriptions and
    transactions alive, the default thresholds made the server pause for a tenth of a
    second every few seconds under load, long enough for a UDP peer to retransmit."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 10, 10)


def run_with_usage_errors(command: str, run: Callable[[], int]) -> int:
    """Call ``run`` and turn a UsageError into the usage exit code and message.

    ``fsync_model.cli.main.main`` does this too; doing it here as well keeps the contract when the
    CLI is started as ``python -m fsync_model.cli.main``, where the running main module's
    UsageError is a different class from the one imported here.
    """
    try:
        return run()
    except UsageError as error:
        sys.stderr.write(f"fsync {command}: {error}\n")
        return EXIT_USAGE


# -- output -----------------------------------------------------------------------------------

class EventLog:
    """Prints each event as one JSON line and keeps the last ``capacity`` for polling.

    Inside a running loop (:meth:`attach`) the lines an agent prints while it handles a
    batch of messages are flushed together, once the loop's current round of callbacks is
    over, not one ``write`` system call per line (three a flow for ``fsync serve
    --quiet``). Every line is still out before the loop next waits for input, and
    :meth:`flush` (called on the way out) pushes whatever is left."""

    def __init__(self, out: TextIO | None, *, capacity: int = EVENT_BUFFER,
                 hidden: frozenset[str] = frozenset()) -> None:
        self._out = out
        self._hidden = hidden
        self._buffer: collections.deque[tuple[int, dict[str, Any] | str]] = collections.deque(
            maxlen=capacity)
        self.last = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_pending: asyncio.Handle | None = None

    def attach(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Flush once per round of ``loop`` (None: after every line, as before a loop runs
        and after it stopped)."""
        if loop is None:
            self.flush()
        self._loop = loop

    def emit(self, obj: dict[str, Any]) -> None:
        self.last += 1
        self._buffer.append((self.last, obj))
        if self._out is None or obj.get("event") in self._hidden:
            return
        self._write(json.dumps(obj) + "\n")

    def emit_json(self, line: str) -> None:
        """An event already encoded by another EventLog (one JSON object and its newline),
        printed as it is (``fsync serve --workers``: a worker's events, through the lead)."""
        self.last += 1
        self._buffer.append((self.last, line))
        if self._out is not None:
            self._write(line)

    def _write(self, line: str) -> None:
        out = self._out
        assert out is not None
        try:
            out.write(line)
        except (BrokenPipeError, ValueError, OSError) as error:
            self._lost(error)
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            self.flush()
        elif self._flush_pending is None:
            self._flush_pending = loop.call_soon(self.flush)

    def flush(self) -> None:
        if self._flush_pending is not None:
            self._flush_pending.cancel()
            self._flush_pending = None
        if self._out is None:
            return
        try:
            self._out.flush()
        except (BrokenPipeError, ValueError, OSError) as error:
            self._lost(error)

    def _lost(self, error: Exception) -> None:
        # Nobody reads stdout any more: keep running (the HTTP API still works).
        logger.warning("stdout closed (%s): JSON lines now only in GET /events", error)
        self._out = None

    def since(self, since: int) -> dict[str, Any]:
        """The events after sequence number ``since``, and how many of them were dropped."""
        first = self._buffer[0][0] if self._buffer else self.last + 1
        events = [{"seq": seq, **(json.loads(obj) if isinstance(obj, str) else obj)}
                  for seq, obj in self._buffer if seq > since]
        missed = max(0, min(first, self.last + 1) - 1 - since)
        return {"events": events, "last": self.last, "missed": missed}


# -- stdin ------------------------------------------------------------------------------------

class LineReader:
    """Reads lines from a file descriptor in a daemon thread and hands them to the loop.

    ``os.read`` on the raw descriptor holds no Python-level lock, so a thread still blocked
    in it at exit cannot hang the interpreter's shutdown. Works for pipes, terminals, files
    and /dev/null alike. Lines longer than ``max_line`` bytes are skipped and reported to
    ``on_overlong`` with their first bytes.
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, on_line: Callable[[str], None],
                 on_eof: Callable[[], None], *, max_line: int = MAX_STDIN_LINE,
                 on_overlong: Callable[[str], None] | None = None) -> None:
        self._fd = fd
        self._loop = loop
        self._on_line = on_line
        self._on_eof = on_eof
        self._on_overlong = on_overlong
        self._max_line = max_line
        self._thread = threading.Thread(target=self._run, name="fsync-stdin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _post(self, fn: Callable[..., None], *args: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            return False
        return True

    def _deliver(self, line: bytes) -> bool:
        if len(line) > self._max_line:
            logger.error("stdin: line longer than %d bytes skipped", self._max_line)
            if self._on_overlong is None:
                return True
            return self._post(self._on_overlong, line[:80].decode("utf-8", "replace"))
        return self._post(self._on_line, line.rstrip(b"\r").decode("utf-8", "replace"))

    def _run(self) -> None:
        pending = b""
        skipping = False  # inside an overlong line already reported
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            while True:
                line, newline, rest = pending.partition(b"\n")
                if not newline:
                    break
                pending = rest
                if skipping:
                    skipping = False
                elif not self._deliver(line):
                    return
            if len(pending) > self._max_line and not skipping:
                if not self._deliver(pending):
                    return
                pending, skipping = b"", True
            elif skipping:
                pending = b""
        if pending and not skipping:
            self._deliver(pending)
        self._post(self._on_eof)


# -- the agent application --------------------------------------------------------------------

class AgentApp(ABC):
    """What a command (serve, phone) adds to the runtime: its agent and its control lines."""

    role: ClassVar[str]
    usage: ClassVar[str]

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor

    @abstractmethod
    def create_agent(self, observer: Observer) -> SansIOEndpoint:
        """Build the agent (the runtime binds it once the driver is open)."""

    def started(self, now: float) -> None:
        """Called in a driver cycle once the agent is bound (the phone registers here)."""
        return None

    @abstractmethod
    def parse(self, line: str) -> Command | None:
        """Parse one control line (ControlError for a bad one, None for blank/comment)."""

    @abstractmethod
    def apply(self, command: Command, now: float) -> dict[str, Any]:
        """Run ``command`` on the agent, inside a driver cycle; the result object (with its
        ``"event"``). ValueError: the agent refused it."""

    @abstractmethod
    def state_document(self, user: str | None) -> Any | None:
        """``GET /state[/<user>]``: the state JSON; None when there is no such user."""

    def stopping(self, now: float) -> None:
        """Called in a driver cycle when the command stops (the phone unregisters here)."""
        return None

    def busy(self) -> bool:
        """Whether what :meth:`stopping` began still waits for the peer (at most
        :data:`WIND_DOWN` seconds)."""
        return False

    def health(self) -> dict[str, Any]:
        return {}


class Runtime:
    """Runs one :class:`AgentApp` until a signal (or EOF with ``exit_on_eof``)."""

    def __init__(self, app: AgentApp, options: RuntimeOptions, *,
                 stdin_fd: int | None = 0, stdout: TextIO | None = None) -> None:
        self.app = app
        self.options = options
        self.role = app.role
        self.usage = app.usage
        self.events = EventLog(stdout if stdout is not None else sys.stdout,
                               hidden=CHATTY_EVENTS if options.quiet else frozenset())
        self._stdin_fd = stdin_fd
        self._driver: EndpointDriver | None = None
        self._http: HttpServer | None = None
        self._stop: asyncio.Event | None = None
        self._stop_reason = ""
        self._t0 = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owns_process = False

    # -- clock and control ----------------------------------------------------------------

    def clock(self) -> float:
        """Seconds since the command started: the ``now`` of the agent and of ``"t"``."""
        assert self._loop is not None
        return self._loop.time() - self._t0

    def stop(self, reason: str) -> None:
        if self._stop is not None and not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def observe(self, event: AgentEvent) -> None:
        self.events.emit(event.to_json())

    def execute(self, line: str) -> tuple[int, dict[str, Any]] | None:
        """Run one control line, print its result; (HTTP status, result), or None for a
        blank line or a comment."""
        text = line.strip()
        now = self.clock()
        outcome = self._apply_line(text, now)
        if outcome is None:
            return None
        status, value = outcome
        if isinstance(value, str):
            return self._error(status, value, text, now)
        return self._result(value, text, now)

    def _apply_line(self, text: str, now: float) -> tuple[int, dict[str, Any] | str] | None:
        """Parse and apply a control line, printing nothing: (200, the agent's result), or
        (HTTP status, what went wrong); None for a blank line or a comment."""
        try:
            command = self.app.parse(text)
        except ControlError as error:
            return 400, str(error)
        if command is None:
            return None
        driver = self._driver
        assert driver is not None
        try:
            return 200, driver.run_in_cycle(lambda: self.app.apply(command, now))
        except ValueError as error:
            return 400, str(error)
        except Exception as error:
            logger.exception("the agent failed on %r", text)
            return 500, f"internal error in the agent: {error!r}"

    def _result(self, result: dict[str, Any], line: str,
                now: float) -> tuple[int, dict[str, Any]]:
        """Print a control line's result (the agent's, with its ``"event"``)."""
        obj = {"event": result.pop("event", "ok"), "t": round(now, 6), **result, "line": line}
        self.events.emit(obj)
        return 200, obj

    def _error(self, status: int, message: str, line: str,
               now: float) -> tuple[int, dict[str, Any]]:
        obj = {"event": "error", "t": round(now, 6), "message": message, "line": line}
        self.events.emit(obj)
        return status, obj

    def _info(self, what: str, **data: Any) -> None:
        self.events.emit(Info(self.clock(), what, data).to_json())

    # -- the HTTP backend -----------------------------------------------------------------

    def api_command(self, line: str) -> tuple[int, dict[str, Any]]:
        outcome = self.execute(line)
        if outcome is None:
            return 400, {"error": f"nothing to do in {line.strip()!r} (a comment?); forms: "
                                  f"{self.usage}", "status": 400}
        return outcome

    def api_state(self, user: str | None) -> Any | None:
        return self.app.state_document(user)

    def api_events(self, since: int) -> dict[str, Any]:
        return self.events.since(since)

    def api_health(self) -> dict[str, Any]:
        driver = self._driver
        return {
            "status": "ok", "role": self.app.role, "vendor": self.app.vendor,
            "t": round(self.clock(), 6),
            "listening": [str(a) for a in driver.local_addresses] if driver else [],
            "api": self._http.address if self._http else None,
            "seed": self.options.seed,
            "events": self.events.last,
            "agent_errors": len(driver.errors) if driver else 0,
            **self.app.health(),
        }

    # -- running --------------------------------------------------------------------------

    def run(self) -> int:
        """Run to completion in a fresh event loop; the exit code. The command owns the
        process: its garbage collector is tuned for serving (:func:`settle_gc`)."""
        self._owns_process = True
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            return runner.run(self.main())

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._t0 = self._start_time(loop)
        self.events.attach(loop)
        self._stop = asyncio.Event()
        handled: list[signal.Signals] = []
        for sig in self.stop_signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop, sig.name)
                handled.append(sig)
        pcap = self._open_pcap()
        try:
            await self._start(pcap)
            logger.info("%s %s running (seed %d); stop with SIGINT or SIGTERM",
                        self.app.role, self.app.vendor, self.options.seed)
            await self._stop.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self._wind_down()
            await self._shutdown()
            if pcap is not None:
                pcap.close()
            self.events.attach(None)
        if self.announce:
            self._info("stopped", reason=self._stop_reason)
        failures = self._failures()
        for failure in failures:
            sys.stderr.write(f"fsync {self.app.role}: {failure}\n")
        return EXIT_FAIL if failures else EXIT_OK

    #: the signals that stop the command
    stop_signals: ClassVar[tuple[signal.Signals, ...]] = (signal.SIGINT, signal.SIGTERM)
    #: print the ``listening`` and ``stopped`` lines (the extra processes of
    #: ``fsync serve --workers`` leave that to the first)
    announce: ClassVar[bool] = True

    def _start_time(self, loop: asyncio.AbstractEventLoop) -> float:
        """The loop time taken as t = 0."""
        return loop.time()

    def _failures(self) -> list[str]:
        """What makes the exit code a failure (one line each)."""
        driver = self._driver
        if driver is not None and driver.errors:
            return [f"the agent raised {len(driver.errors)} time(s) (see the log above): a "
                    "bug in fsync"]
        return []

    async def _open_driver(self, agent: SansIOEndpoint, pcap: Tap | None) -> EndpointDriver:
        """Bind the listen addresses and drive ``agent`` over them."""
        return await EndpointDriver.open(agent, self.options.listen,
                                         taps=[pcap] if pcap is not None else [],
                                         clock=self.clock)

    def _open_pcap(self) -> Any:
        if self.options.pcap is None:
            return None
        from fsync_model.transport.pcap import PcapWriter
        try:
            return PcapWriter(self.options.pcap)
        except OSError as error:
            raise UsageError(f"--pcap {self.options.pcap}: cannot write: "
                             f"{error.strerror or error}") from None

    async def _start(self, pcap: Tap | None) -> None:
        agent = self.app.create_agent(self.observe)
        listen = ", ".join(str(a) for a in self.options.listen)
        try:
            driver = await self._open_driver(agent, pcap)
        except (OSError, AddressError) as error:
            text = getattr(error, "strerror", None) or str(error)
            raise UsageError(f"cannot listen on {listen}: {text}") from None
        self._driver = driver
        agent.bind(driver.local_addresses)
        if self._owns_process:
            settle_gc()
        for address in driver.local_addresses if self.announce else ():
            self._info("listening", address=str(address))
        if self.options.api is not None:
            host, port = self.options.api
            self._http = HttpServer(ApiRoutes(self))
            try:
                await self._http.start(host, port)
            except OSError as error:
                self._http = None
                raise UsageError(f"--api {host}:{port}: cannot listen: "
                                 f"{error.strerror or error}") from None
            self._info("api", address=self._http.address, url=f"http://{self._http.address}/")
        driver.run_in_cycle(lambda: self.app.started(self.clock()))
        if self._stdin_fd is not None:
            assert self._loop is not None
            LineReader(self._stdin_fd, self._loop, self._on_stdin_line, self._on_eof,
                       on_overlong=self._on_overlong).start()

    def _on_stdin_line(self, line: str) -> None:
        if self._stop is not None and self._stop.is_set():
            return
        self.execute(line)

    def _on_overlong(self, start: str) -> None:
        self._error(400, f"line longer than {MAX_STDIN_LINE} bytes skipped: send one "
                         "control line per line", start, self.clock())

    def _on_eof(self) -> None:
        if self.options.exit_on_eof:
            self.stop("eof")
        else:
            logger.info("stdin closed; still running until SIGINT or SIGTERM "
                        "(--exit-on-eof stops at EOF)")

    async def _wind_down(self) -> None:
        """Let the agent finish up (:meth:`AgentApp.stopping`), waiting for its peer's
        answer at most :data:`WIND_DOWN` seconds."""
        driver = self._driver
        if driver is None or self._loop is None:
            return
        try:
            driver.run_in_cycle(lambda: self.app.stopping(self.clock()))
        except Exception:
            logger.exception("the agent failed while stopping")
            return
        deadline = self.clock() + WIND_DOWN
        while self.app.busy() and self.clock() < deadline:
            await asyncio.sleep(0.01)

    async def _shutdown(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._driver is not None:
            self._driver.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._driver.wait_closed(), CLOSE_TIMEOUT)
