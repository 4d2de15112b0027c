"""``fsync serve``: the reference server, to test a phone. Wiring only (see runtime.py)."""
from __future__ import annotations

import argparse
import os
import pickle
import random
import sys
from typing import Any

from fsync_model.agents.api import ServerAgentAPI
from fsync_model.agents.control import (
    SERVER_USAGE,
    Command,
    Help,
    QueryState,
    SetFeature,
    SetPolicy,
    parse_server_line,
)
from fsync_model.agents.events import Observer
from fsync_model.cli import common, runtime
from fsync_model.cli.main import UsageError
from fsync_model.profile import Profile

DESCRIPTION = """\
Run the reference server of a vendor profile, to test a phone: it answers REGISTER,
SUBSCRIBE and the vendor's feature-sync requests as the profile says, and notifies the
phone of changes made on the server side.
"""

EPILOG = """\
control lines (stdin, or POST /command):
  <user> dnd on|off                 <user> cfa|cfb on <number>
  <user> cfna on <number> [<rings>] <user> <feature> off
  <user> state                      state              (every user)
  <user> policy accept|reject|error [<status>]   (user * for everyone)
  help                              lines starting with # are comments

output (stdout): one JSON object per line: every agent event (state, message, step,
problem, info), an info line {"event": "info", "what": "listening", "address":
"udp:127.0.0.1:PORT"} per bound address (so port 0 can be used), and one result per
control line: {"event": "ok", ...}, {"event": "state", "user": ..., "state": {...}},
{"event": "states", "users": {...}} or {"event": "error", "message": ..., "line":
...} (the server carries on). Logs go to stderr.

EOF on stdin does NOT stop the server: it keeps serving until SIGINT or SIGTERM (exit 0),
unless --exit-on-eof is given.

HTTP API (--api, loopback only): POST /command (a control line as text/plain, or JSON
{"line": "1001 dnd on"}), GET /state (every user), GET /state/<user>,
GET /events?since=N (buffered JSON lines), GET /health.

--workers N serves from N processes, each user's state in one of them (for load tests; UDP
only, no --pcap): the command's process reads the sockets, stdin and the API and prints
every worker's events, as one server would.

example:
  fsync serve --vendor broadsoft --listen udp:127.0.0.1:5070 --api 127.0.0.1:8080
"""

POLICIES = ("accept", "reject", "error")
#: Overload control of the reference server (RFC 3261 21.5.4): new out-of-dialog requests
#: get 503 + Retry-After while received messages wait longer than this in the socket
#: buffer (a UDP peer retransmits after T1 = 0.5 s: past that the load only grows) ...
OVERLOAD_DELAY = 0.2
#: ... or while this many transactions await an answer.
MAX_TRANSACTIONS = 10_000


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="run the reference server (to test a phone)", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_vendor_arg(parser)
    parser.add_argument("--listen", action="append", required=True, metavar="ADDR",
                        help="address to listen on, e.g. udp:127.0.0.1:5070 or "
                             "tcp:127.0.0.1:5070 (repeat for several; port 0 picks one)")
    parser.add_argument("--policy", metavar="accept|reject|error[:STATUS]",
                        help="how changes from phones are answered (default: the "
                             "profile's policy): accept; reject (2xx, then NOTIFY the old "
                             "state); error (the profile's error status) or error:STATUS "
                             "(4xx-6xx, e.g. error:403)")
    parser.add_argument("--password", metavar="P",
                        help="digest password of every user, when the profile challenges "
                             "(default: fsync, the reference phone's default)")
    parser.add_argument("--workers", type=_workers, default=1, metavar="N",
                        help="serve in N processes, the users shared out among them, for "
                             "load tests on a machine with several cores (default 1; UDP "
                             "listeners only, no --pcap: see fsync_model/cli/workers.py)")
    runtime.add_runtime_arguments(parser)
    parser.set_defaults(run=run)


def _workers(text: str) -> int:
    from fsync_model.cli.workers import MAX_WORKERS

    usage = f"expected a number of processes 1..{MAX_WORKERS}, e.g. --workers 2"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{usage}, got {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{usage}, got {value}")
    return value


def parse_policy(text: str) -> tuple[str, int | None]:
    """``accept``, ``reject``, ``error`` or ``error:STATUS``."""
    usage = "expected accept, reject, error or error:STATUS (4xx-6xx), e.g. --policy error:403"
    policy, colon, status_text = text.strip().partition(":")
    if policy not in POLICIES:
        raise UsageError(f"--policy {text}: {usage}")
    if not colon:
        return policy, None
    if policy != "error":
        raise UsageError(f"--policy {text}: only 'error' takes a status; {usage}")
    if not (status_text.isascii() and status_text.isdigit()
            and 400 <= int(status_text) <= 699):
        raise UsageError(f"--policy {text}: status must be 400..699; {usage}")
    return policy, int(status_text)


def load_vendor(args: argparse.Namespace) -> Profile:
    """The ``--vendor`` profile, loaded in a child process where the platform forks.

    Loading checks every profile of the folder against the JSON Schema; done apart, the
    validator library (some 4 MiB) and the other profiles stay out of a server that runs
    for days. Errors are the same: the child's usage error is raised here. Where there is
    no fork, or the child fails for another reason, the profile is loaded in this process
    (so whatever went wrong is reported as it would have been).
    """
    if not hasattr(os, "fork") or "jsonschema" in sys.modules:
        return common.resolve_vendor(args)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child (coverage does not follow it)
        os.close(read)
        code = 1
        try:
            try:
                result: tuple[str, Any] = ("profile", common.resolve_vendor(args))
            except UsageError as error:
                result = ("usage", str(error))
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(result))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        data = answer.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return common.resolve_vendor(args)
    kind, value = pickle.loads(data)
    if kind == "usage":
        raise UsageError(value)
    assert isinstance(value, Profile)
    return value


def create_server(profile: Profile, *, rng: random.Random,
                  observer: Observer, policy: str | None,
                  policy_status: int | None, password: str | None,
                  quiet: bool = False) -> ServerAgentAPI:
    """The reference server (imported here: the agents load the model tables).

    ``policy`` None keeps the profile's. Messages are not kept in memory (a long run would
    grow without bound); ``--pcap`` records them through the transport's tap instead.
    ``quiet`` (``--quiet``): the ``message`` and ``step`` events, which would not be
    printed, are not made at all (summarizing every message took a quarter of the time).
    Past its capacity the server sheds new work with 503 (:data:`OVERLOAD_DELAY`,
    :data:`MAX_TRANSACTIONS`) rather than falling behind on everything.
    """
    try:
        from fsync_model.agents.server import DEFAULT_PASSWORD, ReferenceServer
    except ModuleNotFoundError as error:
        if error.name != "fsync_model.agents.server":
            raise
        raise UsageError("the reference server is not in this build "
                         "(fsync_model/agents/server.py is missing)") from None
    return ReferenceServer(profile, rng=rng, observer=observer, policy=policy,
                           policy_status=policy_status,
                           password=password if password is not None else DEFAULT_PASSWORD,
                           keep_messages=False, keep_steps=False,
                           log_messages=not quiet, log_steps=not quiet,
                           overload_delay=OVERLOAD_DELAY, max_transactions=MAX_TRANSACTIONS)


class ServerApp(runtime.AgentApp):
    role = "server"
    usage = SERVER_USAGE

    def __init__(self, vendor: str, profile: Profile, *, seed: int, policy: str | None,
                 policy_status: int | None, password: str | None,
                 quiet: bool = False) -> None:
        super().__init__(vendor)
        self.profile = profile
        self.quiet = quiet
        self.seed = seed
        self.policy = policy
        self.policy_status = policy_status
        self.password = password
        self._agent: ServerAgentAPI | None = None

    @property
    def agent(self) -> ServerAgentAPI:
        assert self._agent is not None, "agent not created yet"
        return self._agent

    def create_agent(self, observer: Observer) -> ServerAgentAPI:
        self._agent = create_server(self.profile, rng=random.Random(self.seed),
                                    observer=observer, policy=self.policy,
                                    policy_status=self.policy_status,
                                    password=self.password, quiet=self.quiet)
        return self._agent

    def parse(self, line: str) -> Command | None:
        return parse_server_line(line)

    def apply(self, command: Command, now: float) -> dict[str, Any]:
        agent = self.agent
        if isinstance(command, SetFeature):
            user = command.user
            if user is None:  # pragma: no cover - the server parser always names the user
                raise ValueError("which user? e.g. '1001 dnd on'")
            agent.admin_change(user, command.change, now)
            return {"event": "ok", "user": user, "change": command.change.describe(),
                    "state": agent.state(user).to_json()}
        if isinstance(command, QueryState):
            if command.user is None:
                return {"event": "states",
                        "users": {u: agent.state(u).to_json() for u in agent.users()}}
            return {"event": "state", "user": command.user,
                    "state": agent.state(command.user).to_json()}
        if isinstance(command, SetPolicy):
            agent.set_policy(command.user, command.policy, command.status)
            if command.user is None:
                self.policy, self.policy_status = command.policy, command.status
            return {"event": "ok", "user": command.user, "policy": command.policy,
                    "status": command.status}
        if isinstance(command, Help):
            return {"event": "help", "usage": SERVER_USAGE}
        raise ValueError(f"not a server command; forms: {SERVER_USAGE}")

    def state_document(self, user: str | None) -> Any | None:
        if user is None:
            return {u: self.agent.state(u).to_json() for u in self.agent.users()}
        return self.agent.state(user).to_json()

    def health(self) -> dict[str, Any]:
        policy = self.policy or str(self.profile.policy.mode.value)
        status = self.policy_status
        if policy == "error" and status is None:
            status = self.profile.policy.error_status.value
        out: dict[str, Any] = {"users": len(self.agent.users()), "policy": policy,
                               "policy_status": status}
        ua = getattr(self.agent, "ua", None)
        if ua is not None:  # the reference server (not a stand-in)
            out["overloaded"] = ua.overloaded
            out["shed"] = ua.stats.shed
        return out


def run(args: argparse.Namespace) -> int:
    return runtime.run_with_usage_errors("serve", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    override = parse_policy(args.policy) if args.policy is not None else None
    listen = [runtime.socket_address(text, "--listen") for text in args.listen]
    fixed = [address for address in listen if address.port != 0]
    if len(set(fixed)) != len(fixed):
        raise UsageError("--listen: the same address twice; give each address once")
    options = runtime.runtime_options(args, listen)
    profile = load_vendor(args)
    policy, status = override if override is not None else (None, None)
    runtime.configure_logging(options.quiet)

    def make_app(index: int) -> ServerApp:
        # each worker its own random stream: tags, branches and Call-IDs never collide
        return ServerApp(args.vendor, profile, seed=(options.seed + index) % 2**32,
                         policy=policy, policy_status=status, password=args.password,
                         quiet=options.quiet)

    if args.workers > 1:
        from fsync_model.cli import workers

        streams = [str(a) for a in options.listen if a.transport != "udp"]
        if streams:
            raise UsageError(f"--workers {args.workers}: {', '.join(streams)} is not UDP; a "
                             "TCP connection stays with the process that accepted it, so "
                             "several workers serve UDP only: listen on udp: addresses, or "
                             "use --workers 1")
        if options.pcap is not None:
            raise UsageError(f"--workers {args.workers} --pcap: one capture file needs one "
                             "writer; use --workers 1, or capture the loopback interface "
                             "(tshark -i lo -f 'udp port PORT' -w FILE)")
        from fsync_model.model import machines_for

        return workers.run(make_app, options, args.workers,
                           prepare=lambda: machines_for(profile))
    return runtime.Runtime(make_app(0), options).run()
