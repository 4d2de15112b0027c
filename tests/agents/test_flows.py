"""Every flow of every profile, phone <-> server, judged by the model; and the behaviours the
guide and the protocol notes call out (policy rejection, sync off, Fortinet, uaCSTA, bad
bodies), on the deterministic in-memory network."""
from __future__ import annotations

import dataclasses
import random

import pytest

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.model import FAILED, REVERTED, MachineKey
from fsync_model.profile import Direction, Feature, FullStateEncoding, PolicyMode, load_all
from fsync_model.sip.message import parse_message
from fsync_model.testing.flows import expected_inputs, flows_of, run_flow
from fsync_model.transport.address import Address
from fsync_model.transport.memory import MemoryNetwork

PROFILES = load_all()
ALL_FLOWS = [spec for profile in PROFILES.values() for spec in flows_of(profile)]


def test_every_system_of_the_guide_has_flows() -> None:
    systems = {spec.profile.id for spec in ALL_FLOWS}
    assert systems == set(PROFILES) and len(systems) == 8
    # two-way systems: 4 features x 2 directions; one-way: 4 phone-initiated; 3CX adds DND info
    counts = {pid: sum(1 for s in ALL_FLOWS if s.profile.id == pid) for pid in PROFILES}
    assert counts["broadsoft"] == counts["metaswitch"] == counts["fortinet"] == 8
    assert counts["yeastar"] == counts["huawei-ims"] == 4
    assert counts["3cx"] == 5


@pytest.mark.parametrize("spec", ALL_FLOWS, ids=[s.name for s in ALL_FLOWS])
def test_flow_passes_between_reference_agents(spec: object) -> None:
    run = run_flow(spec)  # type: ignore[arg-type]
    assert run.passed, run.failures
    assert run.messages, "the flow sent nothing"


def test_broadsoft_dnd_at_the_phone_is_the_guides_ladder() -> None:
    spec = next(s for s in ALL_FLOWS if s.name == "broadsoft/dnd/phone-initiated")
    run = run_flow(spec)
    lines = [parse_message(m.data).start_line.split(" SIP/")[0] for m in run.messages]
    assert [line.split()[0] for line in lines] == ["SUBSCRIBE", "SIP/2.0", "NOTIFY", "SIP/2.0"]
    subscribe = parse_message(run.messages[0].data)
    assert subscribe.to_tag is not None, "the set request goes inside the subscription dialog"
    assert b"<doNotDisturbOn>true</doNotDisturbOn>" in subscribe.body
    notify = parse_message(run.messages[2].data)
    assert b"DoNotDisturbEvent" in notify.body and b">true<" in notify.body
    assert expected_inputs(spec) == ["PHONE_USER_CHANGE", "PHONE_SENDS_SUBSCRIBE_SET",
                                     "SERVER_SENDS_2XX", "SERVER_SENDS_NOTIFY",
                                     "PHONE_SENDS_200"]


def _pair(vendor: str, *, sync: bool = True, policy: str | None = None,
          seed: int = 3) -> tuple[MemoryNetwork, ReferencePhone, ReferenceServer]:
    profile = PROFILES[vendor]
    net = MemoryNetwork(seed=seed)
    server = ReferenceServer(profile, rng=random.Random(seed), policy=policy,
                             log_messages=False)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(seed + 1),
                           sync=sync, log_messages=False)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    return net, phone, server


def _flow_end(agent: ReferencePhone | ReferenceServer, vendor: str, feature: str) -> str:
    key = MachineKey.flow(vendor, Feature(feature), Direction.PHONE)
    return [s for s in agent.steps if s.machine == key][-1].dest


def test_policy_rejection_reverts_the_phones_indicator() -> None:
    net, phone, server = _pair("broadsoft", policy="reject")
    seen: list[FeatureState] = []
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    seen.append(phone.indicator)
    net.run(until=net.now + 5)
    assert seen[0].dnd, "the indicator shows the change at once (pending)"
    assert not phone.indicator.dnd and not phone.state.dnd, "reverted by the old-state NOTIFY"
    assert not server.state("1001").dnd
    assert _flow_end(phone, "broadsoft", "dnd") == REVERTED == _flow_end(server, "broadsoft",
                                                                          "dnd")
    assert not [p for p in phone.problems + server.problems if p.severity == "error"]


def test_policy_error_fails_the_change_and_reverts() -> None:
    net, phone, server = _pair("metaswitch", policy="error")
    net.run_in_cycle(phone, lambda: phone.user_change(Change("cfa", True, "2000"), net.now))
    net.run(until=net.now + 5)
    assert not phone.indicator.cfa.on and not server.state("1001").cfa.on
    assert _flow_end(phone, "metaswitch", "cfa") == FAILED


@pytest.mark.parametrize("vendor", ["broadsoft", "yeastar"])
def test_sync_off_keeps_everything_local(vendor: str) -> None:
    net, phone, server = _pair(vendor, sync=False)
    before = len(phone.messages)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert phone.state.dnd and not server.state("1001").dnd
    sent = [parse_message(m.data) for m in phone.messages[before:]]
    assert sent == [], "nothing goes to the server for a line whose sync is off"
    assert not any(parse_message(m.data).start_line.startswith("SUBSCRIBE")
                   for m in phone.messages)


def test_fortinet_syncs_whatever_the_line_setting() -> None:
    net, phone, server = _pair("fortinet", sync=False)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert server.state("1001").dnd and phone.state.dnd


def test_server_change_reaches_every_subscription_of_the_user() -> None:
    profile = PROFILES["broadsoft"]
    net = MemoryNetwork(seed=7)
    server = ReferenceServer(profile, rng=random.Random(7), log_messages=False)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phones = []
    for i in range(2):
        phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(10 + i),
                               sync=True, log_messages=False)
        net.attach(phone, Address("udp", "127.0.0.1", 0))
        net.run_in_cycle(phone, lambda p=phone: p.start(net.now))  # type: ignore[misc]
        phones.append(phone)
    net.run(until=net.now + 5)
    # one phone changes a forward: the server confirms to it and tells the other one
    net.run_in_cycle(phones[0], lambda: phones[0].user_change(Change("cfb", True, "2001"),
                                                              net.now))
    net.run(until=net.now + 5)
    assert all(p.state.cfb.on and p.state.cfb.target == "2001" for p in phones)


def test_uacsta_info_never_changes_the_phone() -> None:
    net, phone, server = _pair("3cx")
    net.run_in_cycle(server, lambda: server.admin_change("1001", Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert server.state("1001").dnd and not phone.state.dnd
    infos = [parse_message(m.data) for m in phone.messages if m.data.startswith(b"INFO ")]
    assert infos and all(i.content_type == "application/csta+xml" for i in infos)


def test_bad_set_request_body_gets_the_profiles_status_and_nothing_changes() -> None:
    net, phone, server = _pair("broadsoft")
    sub = phone.subscriber.get(phone.sub_id) if phone.subscriber and phone.sub_id else None
    assert sub is not None and sub.dialog is not None
    body = b"<SetDoNotDisturb><device>1001</device><doNotDisturbOn>True</doNotDisturbOn>"
    net.run_in_cycle(phone, lambda: phone.ua.send_in_dialog(
        sub.dialog, "SUBSCRIBE", net.now, headers=[("Event", "as-feature-event")], body=body,
        content_type="application/x-as-feature-event+xml"))
    net.run(until=net.now + 5)
    answers = [parse_message(m.data) for m in phone.messages if m.direction == "in"]
    refused = [a for a in answers if getattr(a, "status", 0) >= 400]
    assert refused, "a malformed set request must be refused"
    assert refused[-1].status in (400, 415) and refused[-1].reason  # type: ignore[union-attr]
    assert not server.state("1001").dnd


def test_wrong_namespace_notify_is_refused_by_the_phone() -> None:
    net, phone, server = _pair("broadsoft")
    server.profile = server.profile  # unchanged profile; inject a defective body directly
    sub = next(iter(server._subs.values()))
    body = (b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<DoNotDisturbEvent '
            b'xmlns="urn:wrong"><device>1001</device><doNotDisturbOn>true</doNotDisturbOn>'
            b'</DoNotDisturbEvent>')
    assert server.notifier is not None
    net.run_in_cycle(server, lambda: server.notifier.notify(  # type: ignore[union-attr]
        sub.id, net.now, body=body, content_type="application/x-as-feature-event+xml"))
    net.run(until=net.now + 5)
    answers = [parse_message(m.data) for m in server.messages if m.direction == "in"]
    assert any(getattr(a, "status", 0) >= 400 for a in answers)
    assert not phone.state.dnd


@pytest.mark.parametrize("seed", range(6))
def test_flows_survive_loss_duplication_and_reordering(seed: int) -> None:
    spec = next(s for s in ALL_FLOWS if s.name == "metaswitch/cfna/phone-initiated")
    net = MemoryNetwork(seed=seed, loss=0.15, duplicate=0.1, reorder=0.1)
    run = run_flow(spec, seed=seed, network=net)
    assert run.passed, run.failures


def test_policy_override_is_per_user() -> None:
    net, phone, server = _pair("broadsoft")
    server.set_policy("1001", PolicyMode.REJECT.value)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert not phone.state.dnd
    server.set_policy("1001", PolicyMode.ACCEPT.value)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert phone.state.dnd and server.state("1001").dnd


def test_phone_takes_a_registrar_that_does_not_challenge() -> None:
    """BroadWorks challenges REGISTER, but a registrar may trust an address: the phone must
    register and sync all the same, and say so only as information."""
    profile = PROFILES["broadsoft"]
    open_registrar = dataclasses.replace(
        profile, registration=dataclasses.replace(
            profile.registration,
            challenge=dataclasses.replace(profile.registration.challenge, value=None)))
    net = MemoryNetwork(seed=5)
    server = ReferenceServer(open_registrar, rng=random.Random(5), log_messages=False)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(6),
                           sync=True, log_messages=False)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert phone.registered and phone.state.dnd and server.state("1001").dnd
    assert [p.rule for p in phone.problems] == ["REGISTER-NOT-CHALLENGED"]
    assert phone.problems[0].severity == "info"


def test_a_quiet_server_makes_no_message_or_step_events_and_no_steps() -> None:
    """``fsync serve --quiet``: the events it would not print are not made at all, and the
    trackers move without recording a Step; the flows run as before."""
    from fsync_model.agents.events import FlowStepped, MessageLogged
    from fsync_model.cli.serve_cmd import create_server

    profile = PROFILES["broadsoft"]
    net = MemoryNetwork(seed=5)
    events: list[object] = []
    server = create_server(profile, rng=random.Random(5), observer=events.append, policy=None,
                           policy_status=None, password=None, quiet=True)
    assert isinstance(server, ReferenceServer)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(6),
                           sync=True, log_messages=False)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert server.state("1001").dnd and phone.state.dnd and phone.indicator.dnd
    assert not [e for e in events if isinstance(e, MessageLogged | FlowStepped)]
    assert [e for e in events if type(e).__name__ == "StateChanged"], "state is still told"
    assert server.steps == [] and all(not s.tracker.steps for s in server._subs.values())
    assert not [p for p in phone.problems + server.problems if p.severity == "error"]


def test_phone_takes_a_multipart_full_state_from_a_per_feature_profile() -> None:
    """Metaswitch's profile says one NOTIFY per feature; a server sending one multipart
    NOTIFY instead must not leave the phone waiting (protocol 1.2: accept both)."""
    profile = PROFILES["metaswitch"]
    afe = profile.afe
    assert afe is not None
    multipart = dataclasses.replace(afe, notify=dataclasses.replace(
        afe.notify, full_state=dataclasses.replace(
            afe.notify.full_state, value=FullStateEncoding.MULTIPART)))
    server_profile = dataclasses.replace(profile, afe=multipart)
    net = MemoryNetwork(seed=9)
    server = ReferenceServer(server_profile, rng=random.Random(9), log_messages=False)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(10),
                           sync=True, log_messages=False, keep_steps=False)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    assert phone.subscription is not None and phone.subscription.state == "Active"
    net.run_in_cycle(phone, lambda: phone.user_change(Change("cfb", True, "2001"), net.now))
    net.run(until=net.now + 5)
    assert phone.state.cfb.on and server.state("1001").cfb.target == "2001"


def test_policy_is_followed_without_a_step_history() -> None:
    profile = PROFILES["broadsoft"]
    net = MemoryNetwork(seed=11)
    server = ReferenceServer(profile, rng=random.Random(11), policy="reject",
                             log_messages=False)
    where = net.attach(server, Address("udp", "127.0.0.1", 5060))
    phone = ReferencePhone(profile, user="1001", server=where, rng=random.Random(12),
                           sync=True, log_messages=False, keep_steps=False)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 5)
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + 5)
    assert not phone.indicator.dnd and not phone.state.dnd
    assert not [p for p in phone.problems if p.severity == "error"]
