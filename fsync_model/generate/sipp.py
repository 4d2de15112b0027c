"""SIPp scenarios from the model's tables: one per flow of a profile and per role.

A flow's scenario is the table's :func:`~fsync_model.model.happy_path` read from one side:
every input is a ``<send>`` when the role sends it, a ``<recv>`` when the role receives it,
and a comment when it happens at a keypad or a portal (``role phone``: SIPp plays the phone
against a real server; ``role server``: SIPp plays the server against a real phone). Before
the flow comes its set-up, read the same way from the lifecycle tables: the registration
(with the profile's digest challenge), the as-feature-event subscription with its full state
(one multipart NOTIFY or one per feature), or the uaCSTA session. No flow is written by hand:
the flows are :func:`~fsync_model.testing.flows.flows_of` the profile, the steps are the rows
of its tables, and only the wire form of each input (headers, bodies, codes) lives here,
taken from the profile: Event, Accept, Content-Type, namespace, 200 vs 202, full-state
encoding, feature codes (``code_for`` with ``[field1]`` for the number), 401 vs 407.

Where the wire allows variants the table allows too, received messages get ``optional``
alternatives: 100 Trying and 18x before an INVITE's answer, a digest challenge the server
may or may not send, 200 or 202 to a SUBSCRIBE, and the NOTIFY that overtakes the 2xx.
Received bodies are checked with ``ereg`` (namespace, doNotDisturbOn, forwardingType,
forwardStatus, forwardTo against ``[field1]``, ringCount); a wrong value stops SIPp with an
error (exit code other than 0).

Injection file (``-inf NAME.csv``): ``[field0]`` the line's user, ``[field1]`` the
forward-to number, ``[field2]`` the digest password, ``[field3]`` SIPp's ``[authentication
username=... password=...]`` keyword with the same user and password (SIPp expands keywords
held by a field, but not ``[fieldN]`` inside ``[authentication]``).

SIPp runs one scenario per Call-ID. Role phone is one call (REGISTER, SUBSCRIBE and the
change share SIPp's Call-ID, each dialog with its own From tag). Role server receives the
phone's calls (its REGISTER, its SUBSCRIBE or code INVITE): the scenario starts with one
optional ``<recv>`` per call that jumps to its branch, and runs with ``-m`` set to the number
of calls. A uaCSTA flow played as the phone is two files: ``*.register.xml`` (client) and
the scenario proper (server mode, run next on the same local port), because the server's
uaCSTA INVITE comes on a Call-ID SIPp's registering call does not own.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fsync_model.agents import afe as afe_bodies
from fsync_model.agents.state import Change, FeatureState
from fsync_model.bodies import csta
from fsync_model.model import (
    FlowKind,
    Input,
    MachineKey,
    Party,
    Path,
    Transition,
    TransitionTable,
    View,
    happy_path,
    machines_for,
    role_view,
    shortest_path,
    view_kind,
)
from fsync_model.profile import Action, Feature, Mechanism, Profile, uri_user
from fsync_model.sip.message import REASON_PHRASES
from fsync_model.testing.flows import FlowSpec, flows_of

FIELD_USER = "[field0]"
FIELD_NUMBER = "[field1]"
FIELD_PASSWORD = "[field2]"
#: SIPp's digest keyword, written whole into the injection file: SIPp does not expand
#: [fieldN] inside [authentication ...], but it does expand keywords a field holds
FIELD_AUTH = "[field3]"
#: default digest password of the reference agents (the CSV's [field2])
DEFAULT_PASSWORD = "fsync"
FIELDS_DOC = ("[field0] user, [field1] forward-to number, [field2] digest password, "
              "[field3] SIPp's [authentication] keyword with them")
GENERATOR_MARK = "by fsync export-sipp \u2014 do not edit"
#: a dialable number that stands for [field1] while codes are rendered
_SENTINEL = "86420975319"
_UA = "fsync-export-sipp"
_ERE_SPECIAL = re.compile(r"([.\[\]()*+?{}|^$\\])")
_SDP = ("v=0\no={who} 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\n"
        "m=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n")

Role = Literal["phone", "server"]
ROLES: tuple[Role, ...] = ("phone", "server")


def ere(text: str) -> str:
    """``text`` as a POSIX extended regular expression matching it literally."""
    return _ERE_SPECIAL.sub(r"\\\1", text)


def _xml_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;")


def _comment(text: str) -> str:
    return text.replace("--", "- -")


# =========================================================================================
# the result


@dataclass(frozen=True)
class SippFile:
    """One generated file: its name (no folder) and text."""

    name: str
    text: str


@dataclass(frozen=True)
class SippRun:
    """How to run one scenario file: as a client (it sends first; give SIPp the remote
    address) or a server (it waits), for ``calls`` calls (``-m``)."""

    scenario: str
    client: bool
    calls: int

    def command(self, csv: str, remote: str = "HOST:PORT") -> str:
        target = f"{remote} " if self.client else ""
        return (f"sipp {target}-sf {self.scenario} -inf {csv} -m {self.calls} "
                f"-timeout 10s -timeout_error")


@dataclass(frozen=True)
class SippScenario:
    """The scenario of one flow played by one role: its files, in the order they run."""

    flow: FlowSpec
    role: Role
    runs: tuple[SippRun, ...]
    files: tuple[SippFile, ...]

    @property
    def name(self) -> str:
        return scenario_stem(self.flow, self.role)


def flow_stem(flow: FlowSpec) -> str:
    return f"{flow.feature}-{flow.direction.initiated}"


def scenario_stem(flow: FlowSpec, role: Role) -> str:
    return f"{flow_stem(flow)}.{role}"


def csv_name(flow: FlowSpec) -> str:
    return f"{flow_stem(flow)}.csv"


def injection_csv(flow: FlowSpec, user: str = "1001", password: str = DEFAULT_PASSWORD) -> str:
    """The injection file of a flow: one line per line (phone) to test: user; forward-to
    number (the flow's change); digest password; SIPp's digest keyword for them."""
    number = flow.change.target or ""
    auth = f"[authentication username={user} password={password}]"
    return f"SEQUENTIAL\n{user};{number};{password};{auth};\n"


# =========================================================================================
# SIPp XML, element by element


@dataclass(frozen=True)
class _Check:
    """An ``ereg`` with ``check_it``: ``regexp`` must match in ``where`` (msg, hdr, body);
    ``groups`` names the variables of its groups (the whole match gets its own)."""

    regexp: str
    where: Literal["msg", "hdr", "body"] = "body"
    header: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Same:
    """The variable captured by a check must equal a field (e.g. forwardTo and [field1])."""

    variable: str
    field: str
    what: str


@dataclass
class _Op:
    kind: Literal["send", "recv", "label", "jump", "comment", "pause"]
    text: str = ""
    request: str | None = None
    response: int | None = None
    optional: bool = False
    next: str | None = None
    retrans: bool = False
    #: a digest challenge SIPp keeps for the next [authentication]
    auth: bool = False
    checks: list[_Check] = field(default_factory=list)
    same: list[_Same] = field(default_factory=list)
    ms: int = 0


class _Doc:
    """Ops in order, with the variables they assign (for ``<Reference>``)."""

    def __init__(self) -> None:
        self.ops: list[_Op] = []
        self.variables: list[str] = []
        self._names: dict[str, int] = {}

    def var(self, prefix: str) -> str:
        n = self._names.get(prefix, 0) + 1
        self._names[prefix] = n
        name = f"{prefix}{n}"
        self.variables.append(name)
        return name

    def label(self, prefix: str) -> str:
        n = self._names.get("label:" + prefix, 0) + 1
        self._names["label:" + prefix] = n
        return f"{prefix}{n}"

    def add(self, op: _Op) -> _Op:
        self.ops.append(op)
        return op

    def comment(self, text: str) -> None:
        self.add(_Op("comment", _comment(text)))

    def send(self, text: str, *, retrans: bool = False) -> None:
        self.add(_Op("send", text, retrans=retrans))

    def recv(self, *, request: str | None = None, response: int | None = None,
             checks: Sequence[_Check] = (), same: Sequence[_Same] = (),
             optional: bool = False, next: str | None = None, auth: bool = False) -> _Op:
        return self.add(_Op("recv", request=request, response=response, checks=list(checks),
                            same=list(same), optional=optional, next=next, auth=auth))

    def mark(self, name: str) -> None:
        self.add(_Op("label", name))

    def jump(self, name: str) -> None:
        """Go on at label ``name``: the ``next`` of the last message when it has none (SIPp
        cannot take a message while it stands on a pause), a zero pause otherwise."""
        last = self.ops[-1] if self.ops else None
        if last is not None and last.kind in ("send", "recv") and last.next is None and not (
                last.optional):
            last.next = name
        else:
            self.add(_Op("jump", next=name))

    # ------------------------------------------------------------------ rendering

    def _ereg(self, check: _Check, out: list[str]) -> None:
        names = [self.var("m"), *check.groups]
        if check.groups:
            self.variables.extend(v for v in check.groups if v not in self.variables)
        header = f' header="{_xml_attr(check.header)}"' if check.header else ""
        out.append(f'    <ereg regexp="{_xml_attr(check.regexp)}" search_in="{check.where}"'
                   f'{header} check_it="true" assign_to="{",".join(names)}"/>')

    def render(self, name: str, stamp: str, notes: Sequence[str]) -> str:
        out = ['<?xml version="1.0" encoding="ISO-8859-1" ?>',
               f"<!-- {_comment(stamp)} -->"]
        out.extend(f"<!-- {_comment(note)} -->" for note in notes)
        out.append(f'<scenario name="{_xml_attr(name)}">')
        for op in self.ops:
            out.extend(self._render(op))
        if self.variables:
            out.append(f'<Reference variables="{",".join(dict.fromkeys(self.variables))}"/>')
        out.append("</scenario>")
        return "\n".join(out) + "\n"

    def _render(self, op: _Op) -> list[str]:
        if op.kind == "comment":
            return [f"<!-- {op.text} -->"]
        if op.kind == "label":
            return [f'<label id="{op.text}"/>']
        if op.kind == "jump":
            return [f'<pause milliseconds="0" next="{op.next}"/>']
        if op.kind == "pause":
            return [f'<pause milliseconds="{op.ms}"/>']
        if op.kind == "send":
            retrans = ' retrans="500"' if op.retrans else ""
            if op.next:
                retrans += f' next="{op.next}"'
            return [f"<send{retrans}><![CDATA[", op.text.rstrip("\n") + "\n", "]]></send>"]
        what = (f'request="{op.request}"' if op.request is not None
                else f'response="{op.response}"')
        attrs = what + (' crlf="true"' if op.request is not None else "")
        if op.optional:
            attrs += ' optional="true"'
        if op.auth:
            attrs += ' auth="true"'
        if op.next:
            attrs += f' next="{op.next}"'
        if not op.checks and not op.same:
            return [f"<recv {attrs}/>"]
        out = [f"<recv {attrs}>", "  <action>"]
        for check in op.checks:
            self._ereg(check, out)
        failures: list[tuple[str, _Same]] = []
        for same in op.same:
            want, diff, bad = self.var("want"), self.var("diff"), self.var("bad")
            out.append(f'    <assignstr assign_to="{want}" value="{same.field}"/>')
            out.append(f'    <strcmp assign_to="{diff}" variable="{same.variable}" '
                       f'variable2="{want}"/>')
            out.append(f'    <test assign_to="{bad}" variable="{diff}" compare="not_equal" '
                       f'value="0"/>')
            failures.append((bad, same))
        out += ["  </action>", "</recv>"]
        for bad, same in failures:
            out.append(f'<nop condexec="{bad}"><action><error message="'
                       f'{_xml_attr(same.what)} is not {same.field}"/></action></nop>')
        return out


# =========================================================================================
# the wire form of each input


def _ns_check(namespaces: Sequence[str]) -> _Check:
    alternatives = "|".join(ere(ns) for ns in namespaces)
    return _Check(f'xmlns="({alternatives})"')


def _element(name: str, value: str) -> str:
    return f"<{name}>[[:space:]]*{value}[[:space:]]*</{name}>"


class _Writer:
    """Writes the ops of one role's side of one flow, set-up included."""

    def __init__(self, profile: Profile, flow: FlowSpec, role: Role) -> None:
        self.profile = profile
        self.flow = flow
        self.role = role
        self.party = Party.PHONE if role == "phone" else Party.SERVER
        self.tables = machines_for(profile)
        change = flow.change
        self.change: Change = (dataclasses.replace(change, target=FIELD_NUMBER)
                               if change.target is not None else change)
        self.cseq: dict[str, int] = {}
        #: captured variables, by what they hold
        self.v: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    def table(self, kind: FlowKind) -> TransitionTable:
        return self.tables[MachineKey(self.profile.id, kind)]

    def next_cseq(self, dialog: str) -> int:
        self.cseq[dialog] = self.cseq.get(dialog, 0) + 1
        return self.cseq[dialog]

    def local(self, doc: _Doc, row: Transition) -> bool:
        """A keypad or portal event: a comment saying who must do what."""
        kind = view_kind(row.input, self.party)
        if kind is View.LOCAL:
            doc.comment(f"{row.input.value}: {row.label} (SIPp makes it now)")
            return True
        if kind is View.PEER:
            who = "phone under test" if self.role == "server" else "server under test"
            doc.comment(f"{row.input.value}: {row.label}: make this change on the {who} "
                        "now; SIPp waits for its message")
            return True
        return False

    def tag(self, dialog: str) -> str:
        return f"[pid]SIPp{dialog}[call_number]"

    @property
    def contact(self) -> str:
        who = FIELD_USER if self.role == "phone" else "server"
        return f"<sip:{who}@[local_ip]:[local_port];transport=[transport]>"

    @property
    def aor(self) -> str:
        host = "[remote_ip]" if self.role == "phone" else "[local_ip]"
        return f"<sip:{FIELD_USER}@{host}>"

    def request(self, method: str, uri: str, dialog: str, *, to: str, from_: str,
                extra: Sequence[str] = (), body: str = "", ctype: str | None = None,
                cseq: int | None = None) -> str:
        number = cseq if cseq is not None else self.next_cseq(dialog)
        lines = [f"{method} {uri} SIP/2.0",
                 "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                 "Max-Forwards: 70", f"From: {from_}", f"To: {to}", "Call-ID: [call_id]",
                 f"CSeq: {number} {method}"]
        if method not in ("ACK", "BYE"):
            lines.append(f"Contact: {self.contact}")
        lines.extend(extra)
        lines.append(f"User-Agent: {_UA}")
        return self._finish(lines, body, ctype)

    def response(self, status: int, reason: str, *, to_tag: str | None, extra: Sequence[str] = (),
                 body: str = "", ctype: str | None = None) -> str:
        to = "[last_To:]" + (f";tag={to_tag}" if to_tag else "")
        lines = [f"SIP/2.0 {status} {reason}", "[last_Via:]", "[last_From:]", to,
                 "[last_Call-ID:]", "[last_CSeq:]", *extra]
        return self._finish(lines, body, ctype)

    @staticmethod
    def _finish(lines: list[str], body: str, ctype: str | None) -> str:
        if body:
            assert ctype is not None
            lines.append(f"Content-Type: {ctype}")
            lines.append("Content-Length: [len]")
            return "\n".join(lines) + "\n\n" + body.rstrip("\n") + "\n"
        lines.append("Content-Length: 0")
        return "\n".join(lines) + "\n\n"

    # ------------------------------------------------------------------ registration

    def registration(self, doc: _Doc) -> None:
        reg = self.profile.registration
        table = self.table(FlowKind.REGISTRATION)
        challenged = False
        for row in happy_path(table):
            if self.local(doc, row):
                continue
            if row.input is Input.PHONE_SENDS_REGISTER:
                if self.role == "phone":
                    auth = ([FIELD_AUTH]
                            if challenged else [])
                    doc.send(self.request(
                        "REGISTER", "sip:[remote_ip]:[remote_port]", "reg", to=self.aor,
                        from_=f"{self.aor};tag={self.tag('Reg')}",
                        extra=[f"Expires: {reg.expires.value}", *auth]), retrans=True)
                else:
                    checks = [_Check("Digest", "hdr", _auth_header(reg.challenge.value, True))
                              ] if challenged else [
                        _Check("sips?:[^>;]*", "hdr", "Contact:", ())]
                    op = doc.recv(request="REGISTER", checks=checks)
                    if not challenged:
                        contact = "phonecontact"
                        op.checks = [_Check("(sips?:[^>;]*)", "hdr", "Contact:", (contact,))]
                        self.v["phone-contact"] = contact
            elif row.input is Input.SERVER_SENDS_CHALLENGE:
                challenged = True
                status = row.status or 401
                if self.role == "phone":
                    doc.recv(response=status, auth=True, checks=[
                        _Check("Digest", "hdr", _auth_header(status, False))])
                else:
                    doc.send(self.response(status, _reason(status), to_tag=self.tag("Reg"),
                                           extra=[self.challenge_header(status)]))
            elif row.input is Input.SERVER_SENDS_2XX:
                status = row.status or 200
                if self.role == "phone":
                    doc.recv(response=status)
                else:
                    doc.send(self.response(status, _reason(status), to_tag=self.tag("Reg"),
                                           extra=[f"[last_Contact:];expires={reg.expires.value}",
                                                  f"Expires: {reg.expires.value}"]))
            else:
                raise ValueError(f"{table.key}: no SIPp form for {row.input.value}")

    def challenge_header(self, status: int) -> str:
        realm = self.profile.registration.realm
        name = _auth_header(status, False).rstrip(":")
        return (f'{name}: Digest realm="{realm.value if realm else "fsync"}", '
                f'nonce="[pid][call_number]fsyncnonce", algorithm=MD5')

    # ------------------------------------------------------------------ as-feature-event

    def _afe_checks(self) -> list[_Check]:
        afe = self.profile.afe
        assert afe is not None
        return [_ns_check(afe.accepted_namespaces.value)]

    def full_state_checks(self, row: Transition) -> list[_Check]:
        afe = self.profile.afe
        assert afe is not None
        checks = [_Check("active", "hdr", "Subscription-State:"),
                  _Check(ere(afe.event.value), "hdr", "Event:"), *self._afe_checks()]
        features = ([row.feature.value] if row.feature is not None
                    else [f.value for f in afe.notify.full_state_order.value])
        for feature in features:
            if feature == "dnd":
                checks.append(_Check(_element("doNotDisturbOn", "(true|false)")))
            else:
                csta_type = Feature(feature).csta_forwarding_type
                checks.append(_Check(_element("forwardingType", ere(str(csta_type)))))
        return checks

    def value_checks(self, value: Change) -> list[_Check]:
        """What any as-feature-event body about ``value`` must say: namespace, feature."""
        checks = self._afe_checks()
        if value.feature == "dnd":
            checks.append(_Check(_element("doNotDisturbOn", "true" if value.on else "false")))
        else:
            csta_type = Feature(value.feature).csta_forwarding_type
            checks.append(_Check(_element("forwardingType", ere(str(csta_type)))))
        return checks

    def event_checks(self, value: Change, doc: _Doc) -> tuple[list[_Check], list[_Same]]:
        checks, same = self.value_checks(value), list[_Same]()
        afe = self.profile.afe
        assert afe is not None
        checks.append(_Check(ere(afe.event.value), "hdr", "Event:"))
        if value.feature == "dnd":
            return checks, same
        checks.append(_Check(_element("forwardStatus", "true" if value.on else "false")))
        if value.on and value.target is not None:
            got = doc.var("forwardto")
            checks.append(_Check("<forwardTo>[[:space:]]*([^<[:space:]]*)", groups=(got,)))
            same.append(_Same(got, FIELD_NUMBER, "forwardTo"))
        send_rings = afe.notify.send_ring_count
        if (value.feature == "cfna" and value.on and value.rings is not None
                and (send_rings is None or send_rings.value)):
            checks.append(_Check(_element("ringCount", str(value.rings))))
        return checks, same

    def set_request_checks(self, value: Change, doc: _Doc) -> tuple[list[_Check], list[_Same]]:
        checks, same = self.value_checks(value), list[_Same]()
        if value.feature == "dnd":
            checks.insert(0, _Check("<SetDoNotDisturb"))
            return checks, same
        checks.insert(0, _Check("<SetForwarding"))
        checks.append(_Check(_element("activateForward", "true" if value.on else "false")))
        if value.on and value.target is not None:
            got = doc.var("forwarddn")
            checks.append(_Check("<forwardDN>[[:space:]]*([^<[:space:]]*)", groups=(got,)))
            same.append(_Same(got, FIELD_NUMBER, "forwardDN"))
        if value.feature == "cfna" and value.on and value.rings is not None:
            checks.append(_Check(_element("ringCount", str(value.rings))))
        return checks, same

    def afe_headers(self) -> list[str]:
        afe = self.profile.afe
        assert afe is not None
        return [f"Event: {afe.event.value}", f"Accept: {afe.accept.value}",
                f"Expires: {afe.subscribe.expires.value}"]

    def notify(self, body: bytes, ctype: str) -> str:
        afe = self.profile.afe
        assert afe is not None
        state = afe.notify.subscription_state_header(afe.subscribe.expires.value)
        return self.request(
            "NOTIFY", f"[${self.v['phone-contact']}]", "sub",
            from_=f"[${self.v['sub-to']}];tag={self.tag('Sub')}", to=f"[${self.v['sub-from']}]",
            extra=[f"Event: {afe.event.value}", f"Subscription-State: {state}"],
            body=body.decode("latin-1"), ctype=ctype)

    def answer_notify(self) -> str:
        return self.response(200, "OK", to_tag=None)

    def recv_answer_and_notify(self, doc: _Doc, table: TransitionTable, rows: Path,
                               checks: list[_Check], same: list[_Same]) -> None:
        """Role phone: the server's 2xx (200 or 202: a phone takes either) and its NOTIFY,
        in either order when the table allows the NOTIFY before the 2xx; the NOTIFY answered
        200. ``rows`` are the 2xx, the NOTIFY and the phone's 200. The dialog's remote tag
        and target are read from the NOTIFY, which comes in both orders."""
        answer, notify, _ = rows
        tag = self.v.setdefault("srv-tag", "srvtag")
        target = self.v.setdefault("srv-target", "srvtarget")
        dialog = [_Check(";tag=([^;>[:space:]]+)", "hdr", "From:", (tag,)),
                  _Check("<(sips?:[^>]*)>", "hdr", "Contact:", (target,))]
        if table.allows(answer.source, notify.input):
            normal, done = doc.label("answered"), doc.label("notified")
            behind = doc.label("answerbehind")
            doc.recv(response=200, optional=True, next=normal)
            doc.recv(response=202, optional=True, next=normal)
            doc.comment(f"variant: the NOTIFY before the {answer.label} (it overtook the 2xx; "
                        "the table allows it). SIPp answers it once the 2xx, already on its "
                        "way, is in: SIPp cannot take a message while it is about to send")
            keep = [self.v.setdefault(f"early-{h}", f"early{h}") for h in (
                "via", "from", "to", "cseq")]
            kept = [_Check("(.*)", "hdr", f"{h}:", (name,))
                    for h, name in zip(("Via", "From", "To", "CSeq"), keep, strict=True)]
            doc.recv(request="NOTIFY", checks=[*dialog, *kept, *checks], same=same)
            doc.recv(response=200, optional=True, next=behind)
            doc.recv(response=202)
            doc.mark(behind)
            # the 2xx is now SIPp's last message: answer the NOTIFY from what was kept of it
            doc.send("\n".join([
                "SIP/2.0 200 OK", f"Via: [${keep[0]}]", f"From: [${keep[1]}]",
                f"To: [${keep[2]}]", "Call-ID: [call_id]", f"CSeq: [${keep[3]}]",
                "Content-Length: 0"]) + "\n\n")
            doc.jump(done)
            doc.mark(normal)
        else:
            done = None
            normal = doc.label("answered")
            doc.recv(response=200, optional=True, next=normal)
            doc.recv(response=202)
            doc.mark(normal)
        doc.recv(request="NOTIFY", checks=[*dialog, *checks],
                 same=[_Same(s.variable, s.field, s.what) for s in same])
        doc.send(self.answer_notify())
        if done is not None:
            doc.mark(done)

    def subscription(self, doc: _Doc) -> None:
        afe = self.profile.afe
        assert afe is not None
        table = self.table(FlowKind.SUBSCRIPTION)
        path = happy_path(table)
        i = 0
        while i < len(path):
            row = path[i]
            if self.local(doc, row):
                i += 1
                continue
            if row.input is Input.PHONE_SENDS_SUBSCRIBE:
                if self.role == "phone":
                    doc.send(self.request(
                        "SUBSCRIBE", f"sip:{FIELD_USER}@[remote_ip]:[remote_port]", "sub",
                        to=self.aor, from_=f"{self.aor};tag={self.tag('Sub')}",
                        extra=self.afe_headers()), retrans=True)
                else:
                    for key in ("phone-contact", "sub-from", "sub-to"):
                        self.v[key] = key.replace("-", "")
                    doc.recv(request="SUBSCRIBE", checks=[
                        _Check(ere(afe.event.value), "hdr", "Event:"),
                        _Check("<(sips?:[^>]*)>", "hdr", "Contact:", (self.v["phone-contact"],)),
                        _Check("(.*)", "hdr", "From:", (self.v["sub-from"],)),
                        _Check("(.*)", "hdr", "To:", (self.v["sub-to"],))])
                i += 1
            elif row.input is Input.SERVER_SENDS_2XX and self.role == "phone":
                notify = path[i + 1]
                self.recv_answer_and_notify(doc, table, path[i:i + 3],
                                            self.full_state_checks(notify), [])
                i += 3
            elif row.input is Input.SERVER_SENDS_2XX:
                status = row.status or 200
                doc.send(self.response(status, _reason(status), to_tag=self.tag("Sub"), extra=[
                    f"Contact: {self.contact}", f"Expires: {afe.subscribe.expires.value}"]))
                i += 1
            elif row.input is Input.SERVER_SENDS_NOTIFY:
                if self.role == "phone":
                    doc.recv(request="NOTIFY", checks=self.full_state_checks(row))
                else:
                    doc.send(self.notify(*self.full_state_part(row)), retrans=True)
                i += 1
            elif row.input is Input.PHONE_SENDS_200:
                if self.role == "phone":
                    doc.send(self.answer_notify())
                else:
                    doc.recv(response=200)
                i += 1
            else:
                raise ValueError(f"{table.key}: no SIPp form for {row.input.value}")

    def full_state_part(self, row: Transition) -> tuple[bytes, str]:
        afe = self.profile.afe
        assert afe is not None
        bodies = afe_bodies.full_state_bodies(afe, FeatureState(), FIELD_USER)
        if row.feature is None:
            return bodies[0]
        order = [f.value for f in afe.notify.full_state_order.value]
        return bodies[order.index(row.feature.value)]

    def afe_flow(self, doc: _Doc) -> None:
        afe = self.profile.afe
        assert afe is not None
        table = self.tables[self.flow.key]
        path = happy_path(table)
        change = self.change
        old = FeatureState().as_change(change.feature)
        i = 0
        while i < len(path):
            row = path[i]
            if self.local(doc, row):
                i += 1
                continue
            reported = change if row.input is Input.SERVER_SENDS_NOTIFY else old
            if row.input is Input.PHONE_SENDS_SUBSCRIBE_SET:
                if self.role == "phone":
                    body, ctype = afe_bodies.build_set_request(afe, change, FIELD_USER)
                    doc.send(self.request(
                        "SUBSCRIBE", f"[${self.v['srv-target']}]", "sub",
                        to=f"{self.aor};tag=[${self.v['srv-tag']}]",
                        from_=f"{self.aor};tag={self.tag('Sub')}", extra=self.afe_headers(),
                        body=body.decode("latin-1"), ctype=ctype), retrans=True)
                else:
                    checks, same = self.set_request_checks(change, doc)
                    doc.recv(request="SUBSCRIBE", checks=[
                        _Check(ere(afe.content_type.value), "hdr", "Content-Type:"), *checks],
                        same=same)
                i += 1
            elif (row.input is Input.SERVER_SENDS_2XX and self.role == "phone"
                  and i + 1 < len(path)):
                notify = path[i + 1]
                value = change if notify.input is Input.SERVER_SENDS_NOTIFY else old
                checks, same = self.event_checks(value, doc)
                self.recv_answer_and_notify(doc, table, path[i:i + 3], checks, same)
                i += 3
            elif row.input in (Input.SERVER_SENDS_2XX, Input.SERVER_SENDS_ERROR):
                status = row.status or 200
                if self.role == "phone":
                    doc.recv(response=status)
                else:
                    extra = [f"Contact: {self.contact}",
                             f"Expires: {afe.subscribe.expires.value}"] if status < 300 else []
                    doc.send(self.response(status, _reason(status), to_tag=None, extra=extra))
                i += 1
            elif row.input in (Input.SERVER_SENDS_NOTIFY, Input.SERVER_SENDS_NOTIFY_OLD_STATE):
                if self.role == "phone":
                    checks, same = self.event_checks(reported, doc)
                    doc.recv(request="NOTIFY", checks=checks, same=same)
                else:
                    state = FeatureState().applied(reported)
                    body, ctype = afe_bodies.build_change_notify(afe, state, reported.feature,
                                                                 FIELD_USER)
                    doc.send(self.notify(body, ctype), retrans=True)
                i += 1
            elif row.input is Input.PHONE_SENDS_200:
                if self.role == "phone":
                    doc.send(self.answer_notify())
                else:
                    doc.recv(response=200)
                i += 1
            else:
                raise ValueError(f"{table.key}: no SIPp form for {row.input.value}")

    # ------------------------------------------------------------------ feature codes

    def _dialed(self) -> str:
        """The code the phone dials, as a URI user part, with a stand-in for the number."""
        codes = self.profile.codes
        assert codes is not None
        change = self.change
        feature = Feature(change.feature)
        action = Action.ACTIVATE if change.on else Action.DEACTIVATE
        rings = change.rings if codes.has_timer(feature) and change.on else None
        number = _SENTINEL if change.on and change.target is not None else None
        return uri_user(codes.code_for(feature, action, number, rings))

    def code(self) -> str:
        """The code the phone dials, as a URI user part, with [field1] for the number."""
        return self._dialed().replace(_SENTINEL, FIELD_NUMBER)

    def code_checks(self, doc: _Doc) -> tuple[list[_Check], list[_Same]]:
        code = self._dialed()
        if _SENTINEL not in code:
            return [_Check(f"^INVITE sip:{ere(code)}@", "msg")], []
        before, after = code.split(_SENTINEL)
        got = doc.var("number")
        return ([_Check(f"^INVITE sip:{ere(before)}([+]?[0-9]+){ere(after)}@", "msg", None,
                        (got,))], [_Same(got, FIELD_NUMBER, "the number in the code")])

    def code_paths(self, table: TransitionTable) -> tuple[Path, Path | None]:
        """The happy path, and the same flow through the profile's digest challenge (None
        when the PBX does not challenge): the table's shortest way on from Challenged."""
        base = happy_path(table)
        codes = self.profile.codes
        if codes is None or codes.challenge.value is None:
            return base, None
        for i, row in enumerate(base):
            if not row.input.on_wire or row.input.actor is not Party.SERVER:
                continue
            if table.allows(row.source, Input.SERVER_SENDS_CHALLENGE):
                challenge = table.transition(row.source, Input.SERVER_SENDS_CHALLENGE)
                rest = shortest_path(table, challenge.dest, table.goal)
                if rest is None:
                    break
                return base, (*base[:i], challenge, *rest)
            break
        return base, None

    def code_flow(self, doc: _Doc) -> None:
        """The code call. The PBX's digest challenge is a detour the table allows: role
        server takes it when the profile challenges; role phone accepts it or not."""
        table = self.tables[self.flow.key]
        base, challenged = self.code_paths(table)
        if self.role == "server" or challenged is None:
            self._code_rows(doc, table, challenged if self.role == "server" and challenged
                            else base)
            return
        split = next(i for i, row in enumerate(challenged)
                     if row.input is Input.SERVER_SENDS_CHALLENGE)
        answer = base[split]  # the answer the challenge stands in for
        assert answer.source == challenged[split].source
        rejoin = next(i for i in range(split + 1, len(challenged))
                      if challenged[i].dest == answer.dest)
        detour, direct = doc.label("challenged"), doc.label("answered")
        self._code_rows(doc, table, base[:split])
        status = challenged[split].status or 401
        self._provisional(doc)
        doc.comment(f"variant: {challenged[split].label} (the table allows the challenge)")
        cseq = self.v.setdefault("inv-cseq", "invcseq")
        doc.recv(response=status, optional=True, next=detour, auth=True,
                 checks=[_Check("Digest", "hdr", _auth_header(status, False)),
                         _Check("([0-9]+)", "hdr", "CSeq:", (cseq,))])
        self._code_answer(doc, answer, next=direct, provisional=False)
        doc.mark(detour)
        self._ack_final(doc)  # the ACK of the challenge: transaction layer, not a table row
        self._code_rows(doc, table, challenged[split + 1:rejoin + 1], challenged=True)
        doc.mark(direct)
        self._code_rows(doc, table, base[split + 1:])

    @property
    def code_uri(self) -> str:
        return f"sip:{self.code()}@[remote_ip]:[remote_port]"

    def _provisional(self, doc: _Doc) -> None:
        for status in (100, 180, 183):
            doc.recv(response=status, optional=True)

    def _code_answer(self, doc: _Doc, row: Transition, next: str | None = None, *,
                     provisional: bool = True) -> None:
        """Role phone: the PBX's final answer to the code INVITE (provisional ones first);
        a non-2xx final is ACKed at once (transaction layer, same branch: its Via)."""
        if provisional:
            self._provisional(doc)
        status = row.status or (200 if row.input is Input.SERVER_SENDS_2XX else 403)
        cseq = self.v.setdefault("inv-cseq", "invcseq")
        checks = [_Check("([0-9]+)", "hdr", "CSeq:", (cseq,))]
        if row.input is Input.SERVER_SENDS_2XX:
            tag = self.v.setdefault("inv-tag", "invtag")
            target = self.v.setdefault("inv-target", "invtarget")
            checks += [_Check(";tag=([^;>[:space:]]+)", "hdr", "To:", (tag,)),
                       _Check("<(sips?:[^>]*)>", "hdr", "Contact:", (target,))]
            doc.recv(response=status, next=next, checks=checks)
            return
        doc.recv(response=status, next=next, checks=checks)
        if next is None:
            self._ack_final(doc)

    def _ack_final(self, doc: _Doc) -> None:
        doc.send("\n".join([
            f"ACK {self.code_uri} SIP/2.0", "[last_Via:]", "Max-Forwards: 70", "[last_From:]",
            "[last_To:]", "[last_Call-ID:]", f"CSeq: [${self.v['inv-cseq']}] ACK",
            "Content-Length: 0"]) + "\n\n")

    def _code_rows(self, doc: _Doc, table: TransitionTable, rows: Sequence[Transition], *,
                   challenged: bool = False) -> None:
        uri = self.code_uri
        to_code = f"<{uri.split('@')[0]}@[remote_ip]:[remote_port]>"
        invite_from = f"{self.aor};tag={self.tag('Inv')}"
        sdp = _SDP.format(who="fsync" if self.role == "phone" else "sipp", port=4000)
        phone = self.role == "phone"
        for row in rows:
            if self.local(doc, row):
                continue
            inp = row.input
            if inp is Input.PHONE_SENDS_INVITE:
                if phone:
                    auth = ([FIELD_AUTH]
                            if challenged else [])
                    doc.send(self.request("INVITE", uri, "inv", to=to_code, from_=invite_from,
                                          extra=auth, body=sdp, ctype="application/sdp"),
                             retrans=True)
                else:
                    checks, same = self.code_checks(doc)
                    if challenged:
                        header = _auth_header(self.challenge_status(), True)
                        checks = [*checks, _Check("Digest", "hdr", header)]
                    doc.recv(request="INVITE", checks=checks, same=same)
                    challenged = True  # a second INVITE is the one with credentials
            elif row.source in ("Inviting", "Proceeding", "Authenticating") and (
                    inp in (Input.SERVER_SENDS_2XX, Input.SERVER_SENDS_ERROR,
                            Input.SERVER_SENDS_CHALLENGE, Input.SERVER_SENDS_FINAL_EXECUTED)):
                status = row.status or (200 if inp is Input.SERVER_SENDS_2XX else 480)
                if phone:
                    self._code_answer(doc, row)
                elif inp is Input.SERVER_SENDS_2XX:
                    doc.send(self.response(status, _reason(status), to_tag=self.tag("Inv"),
                                           extra=[f"Contact: {self.contact}"], body=sdp,
                                           ctype="application/sdp"), retrans=True)
                else:
                    extra = ([self.challenge_header(status)]
                             if inp is Input.SERVER_SENDS_CHALLENGE else [])
                    doc.send(self.response(status, _reason(status), to_tag=self.tag("Inv"),
                                           extra=extra))
                    doc.recv(request="ACK")  # the ACK of a non-2xx final: transaction layer
            elif inp is Input.PHONE_SENDS_ACK:
                if phone:
                    ack = self.request("ACK", f"[${self.v['inv-target']}]", "inv", cseq=0,
                                       to=f"{to_code};tag=[${self.v['inv-tag']}]",
                                       from_=invite_from)
                    doc.send(ack.replace("CSeq: 0 ACK", f"CSeq: [${self.v['inv-cseq']}] ACK"))
                else:
                    doc.recv(request="ACK")
            elif inp is Input.PHONE_SENDS_BYE:
                if phone:
                    doc.send(self.request("BYE", f"[${self.v['inv-target']}]", "inv", cseq=10,
                                          to=f"{to_code};tag=[${self.v['inv-tag']}]",
                                          from_=invite_from), retrans=True)
                else:
                    doc.recv(request="BYE")
            elif inp is Input.SERVER_SENDS_2XX and row.source == "HangingUp":
                if phone:
                    doc.recv(response=row.status or 200)
                else:
                    doc.send(self.response(row.status or 200, "OK", to_tag=None))
            else:
                raise ValueError(f"{table.key}: no SIPp form for {inp.value} in {row.source}")

    def challenge_status(self) -> int:
        codes = self.profile.codes
        return (codes.challenge.value if codes is not None and codes.challenge.value
                else 401)

    # ------------------------------------------------------------------ uaCSTA

    def uacsta_session(self, doc: _Doc) -> None:
        uacsta = self.profile.uacsta
        assert uacsta is not None
        table = self.table(FlowKind.UACSTA_SESSION)
        for row in happy_path(table):
            if self.local(doc, row):
                continue
            if row.input is Input.SERVER_SENDS_INVITE:
                if self.role == "server":
                    doc.send(self.request(
                        "INVITE", f"[${self.v['phone-contact']}]", "csta",
                        to=f"<sip:{FIELD_USER}@[local_ip]>",
                        from_=f"<sip:server@[local_ip]:[local_port]>;tag={self.tag('Csta')}"),
                        retrans=True)
                else:
                    doc.recv(request="INVITE")
            elif row.input is Input.PHONE_SENDS_200 and row.source == "SessionOffered":
                if self.role == "server":
                    self._provisional(doc)
                    self.v["phone-tag"] = "phonetag"
                    doc.recv(response=200, checks=[
                        _Check(";tag=([^;>[:space:]]+)", "hdr", "To:", (self.v["phone-tag"],))])
                else:
                    doc.send(self.response(200, "OK", to_tag=self.tag("Csta"),
                                           extra=[f"Contact: {self.contact}"]))
            elif row.input is Input.SERVER_SENDS_ACK:
                if self.role == "server":
                    doc.send(self.request(
                        "ACK", f"[${self.v['phone-contact']}]", "csta", cseq=1,
                        to=f"<sip:{FIELD_USER}@[local_ip]>;tag=[${self.v['phone-tag']}]",
                        from_=f"<sip:server@[local_ip]:[local_port]>;tag={self.tag('Csta')}"))
                else:
                    doc.recv(request="ACK")
            elif row.input is Input.SERVER_SENDS_INFO:
                self.info(doc, csta.build_monitor_start(FIELD_USER), csta.MONITOR_START)
            elif row.input is Input.PHONE_SENDS_200:
                self.info_answer(doc, row, csta.build_monitor_start_response("1"))
            else:
                raise ValueError(f"{table.key}: no SIPp form for {row.input.value}")

    def info(self, doc: _Doc, body: bytes, root: str, checks: Sequence[_Check] = ()) -> None:
        uacsta = self.profile.uacsta
        assert uacsta is not None
        if self.role == "server":
            doc.send(self.request(
                "INFO", f"[${self.v['phone-contact']}]", "csta",
                to=f"<sip:{FIELD_USER}@[local_ip]>;tag=[${self.v['phone-tag']}]",
                from_=f"<sip:server@[local_ip]:[local_port]>;tag={self.tag('Csta')}",
                extra=[f"Content-Disposition: {uacsta.content_disposition.value}"],
                body=body.decode("utf-8"), ctype=uacsta.content_type.value), retrans=True)
        else:
            doc.recv(request="INFO", checks=[
                _Check(ere(uacsta.content_type.value), "hdr", "Content-Type:"),
                _Check(f"<{ere(root)}"), *checks])

    def info_answer(self, doc: _Doc, row: Transition, body: bytes | None = None) -> None:
        """The phone's answer to an INFO (with ``body``, e.g. MonitorStartResponse)."""
        uacsta = self.profile.uacsta
        assert uacsta is not None
        status = row.status or 200
        if self.role == "server":
            doc.recv(response=status)
        elif body is not None:
            doc.send(self.response(status, _reason(status), to_tag=None,
                                   body=body.decode("utf-8"), ctype=uacsta.content_type.value))
        else:
            doc.send(self.response(status, _reason(status), to_tag=None))

    def uacsta_flow(self, doc: _Doc) -> None:
        uacsta = self.profile.uacsta
        assert uacsta is not None
        table = self.tables[self.flow.key]
        root = uacsta.dnd_document.value if uacsta.dnd_document else csta.DO_NOT_DISTURB_EVENT
        for row in happy_path(table):
            if self.local(doc, row):
                continue
            if row.input is Input.SERVER_SENDS_INFO:
                body = csta.build_do_not_disturb_event(FIELD_USER, self.change.on, root=root)
                flag = "true" if self.change.on else "false"
                self.info(doc, body, root, [_Check(_element("doNotDisturbOn", flag))])
            elif row.input is Input.PHONE_SENDS_200:
                self.info_answer(doc, row)
            else:
                raise ValueError(f"{table.key}: no SIPp form for {row.input.value}")


def _auth_header(status: int | None, answer: bool) -> str:
    if status == 407:
        return "Proxy-Authorization:" if answer else "Proxy-Authenticate:"
    return "Authorization:" if answer else "WWW-Authenticate:"


def _reason(status: int) -> str:
    return REASON_PHRASES.get(status, "Status")


# =========================================================================================
# files


def _stamp(profile: Profile) -> str:
    return f"generated from spec/{profile.path.name} {GENERATOR_MARK}"


def _server_mode(groups: list[tuple[str, _Doc]]) -> _Doc:
    """One scenario from several calls' branches: each call starts with its own first
    ``<recv>``; the first message of a new call picks its branch."""
    doc = _Doc()
    if len(groups) == 1:
        return groups[0][1]
    labels = []
    firsts = []
    for n, (name, group) in enumerate(groups):
        first = next(i for i, op in enumerate(group.ops) if op.kind != "comment")
        assert group.ops[first].kind == "recv", f"a server-mode call starts with a recv ({name})"
        firsts.append(first)
        label = f"call_{name}"
        labels.append(label)
        doc.add(dataclasses.replace(group.ops[first], optional=n < len(groups) - 1, next=label))
        doc.variables.extend(group.variables)
    for (name, group), label, first in zip(groups, labels, firsts, strict=True):
        doc.mark(label)
        doc.comment(f"the phone's {name} call")
        doc.ops.extend(dataclasses.replace(op) for i, op in enumerate(group.ops) if i != first)
        doc.jump("call_end")
    doc.mark("call_end")
    return doc


def scenario(profile: Profile, flow: FlowSpec, role: Role) -> SippScenario:
    """The SIPp scenario of ``flow`` played by ``role``, set-up included."""
    writer = _Writer(profile, flow, role)
    stamp = _stamp(profile)
    stem = scenario_stem(flow, role)
    csv = csv_name(flow)
    mechanism = flow.mechanism
    title = f"{flow.name} as the {role}"

    def notes(runs: Sequence[SippRun], extra: Sequence[str] = ()) -> list[str]:
        lines = [f"{title}: the table's happy path {' > '.join(_inputs(writer, flow))}",
                 f"injection {csv}: {FIELDS_DOC}", *extra]
        lines.extend(f"run: {run.command(csv)}" for run in runs)
        return lines

    if role == "phone":
        if mechanism is Mechanism.UACSTA:
            register, main = _Doc(), _Doc()
            writer.registration(register)
            writer.uacsta_session(main)
            writer.uacsta_flow(main)
            runs: tuple[SippRun, ...] = (SippRun(f"{stem}.register.xml", True, 1),
                                         SippRun(f"{stem}.xml", False, 1))
            extra = ["two files: run the .register.xml scenario, then this one on the same "
                     "local port (-p): the server's uaCSTA INVITE has a Call-ID of its own"]
            files = (SippFile(runs[0].scenario, register.render(f"{title}: registration", stamp,
                                                                notes(runs, extra))),
                     SippFile(runs[1].scenario, main.render(title, stamp, notes(runs, extra))))
            return SippScenario(flow, role, runs, files)
        doc = _Doc()
        writer.registration(doc)
        if mechanism is Mechanism.AS_FEATURE_EVENT:
            writer.subscription(doc)
            writer.afe_flow(doc)
        else:
            writer.code_flow(doc)
        runs = (SippRun(f"{stem}.xml", True, 1),)
        return SippScenario(flow, role, runs, (SippFile(runs[0].scenario, doc.render(
            title, stamp, notes(runs))),))
    register = _Doc()
    writer.registration(register)
    groups: list[tuple[str, _Doc]] = [("REGISTER", register)]
    if mechanism is Mechanism.UACSTA:
        writer.uacsta_session(register)
        writer.uacsta_flow(register)
    elif mechanism is Mechanism.AS_FEATURE_EVENT:
        dialog = _Doc()
        writer.subscription(dialog)
        writer.afe_flow(dialog)
        groups.append(("SUBSCRIBE", dialog))
    else:
        call = _Doc()
        writer.code_flow(call)
        groups.append(("INVITE", call))
    doc = _server_mode(groups)
    runs = (SippRun(f"{stem}.xml", False, len(groups)),)
    return SippScenario(flow, role, runs, (SippFile(runs[0].scenario, doc.render(
        title, stamp, notes(runs))),))


def _inputs(writer: _Writer, flow: FlowSpec) -> list[str]:
    return [role_view(row.input, writer.party) for row in happy_path(writer.tables[flow.key])]


# =========================================================================================
# choosing flows


def parse_flow(profile: Profile, text: str) -> list[FlowSpec]:
    """``all``, a MachineKey string (``broadsoft/dnd/phone-initiated``), or a short form
    (``dnd/phone-initiated``, ``dnd-phone-initiated``, ``dnd-phone``). ValueError with the
    flows there are otherwise."""
    flows = flows_of(profile)
    if text == "all":
        return flows
    wanted = text.strip().lower()
    if wanted.startswith(profile.id + "/"):
        wanted = wanted[len(profile.id) + 1:]
    for spec in flows:
        short = f"{spec.feature}-{spec.direction.value}"
        forms = {f"{spec.feature}/{spec.direction.initiated}", flow_stem(spec), short}
        if wanted in forms:
            return [spec]
    known = ", ".join(f"{s.feature}-{s.direction.value}" for s in flows)
    raise ValueError(f"{profile.id} has no flow {text!r}; flows: {known} (or all)")


def export(profile: Profile, flows: Sequence[FlowSpec], roles: Sequence[Role] = ROLES,
           ) -> tuple[list[SippScenario], list[SippFile]]:
    """Every scenario of ``flows`` x ``roles``, and every file to write (scenarios, one CSV
    per flow, and a README listing how to run them)."""
    scenarios = [scenario(profile, flow, role) for flow in flows for role in roles]
    files: list[SippFile] = []
    for flow in flows:
        files.append(SippFile(csv_name(flow), injection_csv(flow)))
    for item in scenarios:
        files.extend(item.files)
    lines = [f"# SIPp scenarios of {profile.name}", "",
             f"<!-- {_stamp(profile)} -->", "",
             "Role phone: SIPp plays the phone against the server under test (give its "
             "address as HOST:PORT). Role server: SIPp plays the server; point the phone "
             "under test at SIPp's address and make the change on it when the scenario "
             "waits for it.", "",
             f"Injection files: {FIELDS_DOC}.", ""]
    for item in scenarios:
        lines.append(f"## {item.flow.name} ({item.role})")
        lines.extend(f"    {run.command(csv_name(item.flow))}" for run in item.runs)
        lines.append("")
    files.append(SippFile("README.md", "\n".join(lines)))
    return scenarios, files

