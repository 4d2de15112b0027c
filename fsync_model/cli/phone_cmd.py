"""``fsync phone``: the reference phone, to test a server. Wiring only (see runtime.py)."""
from __future__ import annotations

import argparse
import random
from typing import Any

from fsync_model.agents.api import PhoneAgentAPI
from fsync_model.agents.control import (
    PHONE_USAGE,
    Command,
    Help,
    QueryState,
    SetFeature,
    SetRegistration,
    SetSync,
    parse_phone_line,
)
from fsync_model.agents.events import Observer
from fsync_model.cli import common, runtime
from fsync_model.cli.main import UsageError
from fsync_model.profile import Profile
from fsync_model.transport.address import Address

DESCRIPTION = """\
Run the reference phone of a vendor profile, to test a call server: it registers as
--user, subscribes when the profile and --sync say so, and syncs the feature keys you
press (control lines) the way the profile says.
"""

EPILOG = """\
control lines (stdin, or POST /command), the user is the phone's own:
  dnd on|off                        cfa|cfb on <number>
  cfna on <number> [<rings>]        <feature> off
  state                             sync on|off        (the line's feature-sync setting)
  unregister                        register           (the line goes offline: it
                                    unsubscribes and removes its binding, Expires: 0; and
                                    comes back: registers and subscribes again)
  help                              lines starting with # are comments

output (stdout): one JSON object per line: first, once bound, {"event": "info", "what":
"listening", "address": "udp:127.0.0.1:PORT"} (so --listen port 0 can be used); then every
agent event (state, message, step, problem, info) and one result per control line:
{"event": "ok", ...}, {"event": "state", "user": ..., "state": {...}, "indicator":
{...}} or {"event": "error", "message": ..., "line": ...} (the phone carries on).
Logs go to stderr.

EOF on stdin does NOT stop the phone: it keeps running until SIGINT or SIGTERM (exit 0),
unless --exit-on-eof is given. On the way out a registered phone unregisters (waiting at
most a second for the registrar's answer).

HTTP API (--api, loopback only): POST /command (a control line as text/plain, or JSON
{"line": "dnd on"}), GET /state (the confirmed state), GET /events?since=N (buffered JSON
lines), GET /health.

example:
  fsync phone --vendor broadsoft --server udp:127.0.0.1:5070 --user 1001 --sync on
"""


def register(subparsers: Any, name: str) -> None:
    parser = subparsers.add_parser(
        name, help="run the reference phone (to test a server)", description=DESCRIPTION,
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_vendor_arg(parser)
    parser.add_argument("--server", required=True, metavar="ADDR",
                        help="the server under test, e.g. udp:127.0.0.1:5070")
    parser.add_argument("--user", required=True, metavar="USER",
                        help="the line's user (extension), e.g. 1001")
    parser.add_argument("--listen", metavar="ADDR",
                        help="local address (default: the server's transport on "
                             "127.0.0.1 or [::1], port 0)")
    parser.add_argument("--sync", choices=("on", "off"),
                        help="the line's feature-sync setting at start (default: the "
                             "profile's, off unless it says otherwise)")
    parser.add_argument("--password", metavar="P",
                        help="digest password, when the server challenges (default: fsync, "
                             "the reference server's default)")
    runtime.add_runtime_arguments(parser)
    parser.set_defaults(run=run)


def create_phone(profile: Profile, *, user: str, server: Address, rng: random.Random,
                 observer: Observer, sync: bool | None,
                 password: str | None) -> PhoneAgentAPI:
    """The reference phone (imported here: the agents load the model tables).

    ``sync`` None keeps the profile's default line setting. Messages are not kept in memory;
    ``--pcap`` records them through the transport's tap instead.
    """
    try:
        from fsync_model.agents.phone import ReferencePhone
    except ModuleNotFoundError as error:
        if error.name != "fsync_model.agents.phone":
            raise
        raise UsageError("the reference phone is not in this build "
                         "(fsync_model/agents/phone.py is missing)") from None
    return ReferencePhone(profile, user=user, server=server, rng=rng, observer=observer,
                          sync=sync, password=password, keep_messages=False)


class PhoneApp(runtime.AgentApp):
    role = "phone"
    usage = PHONE_USAGE

    def __init__(self, vendor: str, profile: Profile, *, user: str, server: Address, seed: int,
                 sync: bool | None, password: str | None) -> None:
        super().__init__(vendor)
        self.profile = profile
        self.user = user
        self.server = server
        self.seed = seed
        self.sync = sync
        self.password = password
        self._agent: PhoneAgentAPI | None = None

    @property
    def agent(self) -> PhoneAgentAPI:
        assert self._agent is not None, "agent not created yet"
        return self._agent

    def create_agent(self, observer: Observer) -> PhoneAgentAPI:
        self._agent = create_phone(self.profile, user=self.user, server=self.server,
                                   rng=random.Random(self.seed), observer=observer,
                                   sync=self.sync, password=self.password)
        return self._agent

    def started(self, now: float) -> None:
        self.agent.start(now)

    def parse(self, line: str) -> Command | None:
        return parse_phone_line(line)

    def stopping(self, now: float) -> None:
        """On the way out a registered phone unregisters (a stand-in may not know how)."""
        unregister = getattr(self.agent, "unregister", None)
        if unregister is not None and getattr(self.agent, "registered", False):
            unregister(now)

    def busy(self) -> bool:
        return bool(getattr(self.agent, "registration_pending", False))

    def apply(self, command: Command, now: float) -> dict[str, Any]:
        agent = self.agent
        if isinstance(command, SetFeature):
            agent.user_change(command.change, now)
            return {"event": "ok", "user": self.user, "change": command.change.describe(),
                    "state": agent.state.to_json(), "indicator": agent.indicator.to_json()}
        if isinstance(command, QueryState):
            return {"event": "state", "user": self.user, "state": agent.state.to_json(),
                    "indicator": agent.indicator.to_json(), "sync": self.sync_active}
        if isinstance(command, SetSync):
            before = getattr(agent, "sync_setting", None)
            agent.set_sync(command.on, now)
            self.sync = command.on
            answer: dict[str, Any] = {"event": "ok", "user": self.user, "sync": self.sync_active}
            if before is not None:
                answer["unchanged"] = before == command.on  # the same value: a no-op
            return answer
        if isinstance(command, SetRegistration):
            if command.registered:
                agent.register(now)
            else:
                agent.unregister(now)
            return {"event": "ok", "user": self.user, "online": command.registered}
        if isinstance(command, Help):
            return {"event": "help", "usage": PHONE_USAGE}
        raise ValueError(f"not a phone command; forms: {PHONE_USAGE}")

    @property
    def sync_active(self) -> bool:
        """Whether the line syncs now (the profile may force it on whatever the setting)."""
        active = getattr(self.agent, "sync_active", None)
        return bool(self.sync) if active is None else bool(active)

    def state_document(self, user: str | None) -> Any | None:
        if user is not None and user != self.user:
            return None
        return self.agent.state.to_json()

    def health(self) -> dict[str, Any]:
        return {"user": self.user, "server": str(self.server), "sync": self.sync_active}


def default_listen(server: Address) -> Address:
    return Address(server.transport, "::1" if server.is_ipv6 else "127.0.0.1", 0)


def run(args: argparse.Namespace) -> int:
    return runtime.run_with_usage_errors("phone", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    server = runtime.socket_address(args.server, "--server")
    if args.listen is None:
        listen = default_listen(server)
    else:
        listen = runtime.socket_address(args.listen, "--listen")
        if listen.transport != server.transport or listen.is_ipv6 != server.is_ipv6:
            raise UsageError(f"--listen {args.listen} cannot reach --server {server}: use the "
                             f"same transport and IP version, e.g. "
                             f"--listen {default_listen(server)}")
    user = args.user.strip()
    if not user or any(c.isspace() or c in "<>@:;\"" for c in user):
        raise UsageError(f"--user {args.user!r}: give the line's user part, e.g. --user 1001")
    options = runtime.runtime_options(args, [listen])
    profile = common.resolve_vendor(args)
    runtime.configure_logging(options.quiet)
    app = PhoneApp(args.vendor, profile, user=user, server=server, seed=options.seed,
                   sync=None if args.sync is None else args.sync == "on",
                   password=args.password)
    return runtime.Runtime(app, options).run()
