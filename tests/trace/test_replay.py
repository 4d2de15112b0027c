"""The capture replay: conformant captures pass untouched (a false alarm costs an engineer a
day), and each injected defect is caught with the right rule at the right packet."""
from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from fsync_model.agents.phone import ReferencePhone
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change
from fsync_model.model import MachineKey, machines_for
from fsync_model.profile import Direction, PolicyMode, Profile, load_all
from fsync_model.sip.useragent import MessageRecord
from fsync_model.testing.flows import flows_of, run_flow
from fsync_model.trace import rules as R
from fsync_model.trace.records import CapturedMessage
from fsync_model.trace.replay import ReplayResult, replay
from fsync_model.trace.report import check_messages
from fsync_model.transport.address import Address
from fsync_model.transport.memory import MemoryNetwork
from tests.trace.test_replay_support import (
    drop_header,
    edited,
    find,
    pcap_bytes,
    profiles,
    read,
    records_of,
    sub,
)

ALL_FLOWS = [(pid, spec.name) for pid, profile in load_all().items()
             for spec in flows_of(profile)]


def replayed(records: Sequence[MessageRecord], vendor: str, *, policy: PolicyMode | None = None,
             user: str | None = None) -> ReplayResult:
    messages, summary = read(pcap_bytes(records))
    assert summary.problems == []
    profile = profiles()[vendor]
    if policy is not None:
        profile = profile.with_policy(policy)
    return replay(messages, profile, user=user)


def shown(result: ReplayResult) -> list[str]:
    return [f"{d.packet} {d.severity} {d.rule}: {d.expected}" for d in result.deviations]


def hits(result: ReplayResult, rule: str) -> list[int | None]:
    return [d.packet for d in result.deviations if d.rule == rule]


# ------------------------------------------------------------------ conformant captures


@pytest.mark.parametrize(("vendor", "flow"), ALL_FLOWS)
def test_every_flow_of_every_profile_is_conformant(vendor: str, flow: str) -> None:
    result = replayed(records_of(vendor, flow), vendor)
    assert result.deviations == [], shown(result)
    ours = [f for f in result.flows if f.machine == flow]
    assert len(ours) == 1 and ours[0].reached_goal, result.flows
    assert result.users == ["1001"]


@pytest.mark.parametrize("policy", [PolicyMode.REJECT, PolicyMode.ERROR])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("vendor", ["broadsoft", "metaswitch", "yeastar", "3cx"])
def test_other_policies_and_tcp_are_conformant(vendor: str, transport: str,
                                               policy: PolicyMode) -> None:
    """Under reject the confirming NOTIFY carries the old state, under error the change is
    answered with the policy's status: both are what the model expects of that policy."""
    profile = profiles()[vendor].with_policy(policy)
    for spec in flows_of(profile):
        run = run_flow(spec, transport=transport)
        messages, _ = read(pcap_bytes([*run.setup_messages, *run.messages]))
        result = replay(messages, profile)
        assert result.deviations == [], (spec.name, shown(result))
        assert [f.state for f in result.flows if f.machine == spec.name] == [
            profile_goal(profile, spec.name)]


def profile_goal(profile: Profile, flow: str) -> str:
    return machines_for(profile)[MachineKey.parse(flow)].goal


def test_policy_must_match_the_capture() -> None:
    """A capture of an accepting server judged as a rejecting one: the confirming NOTIFY
    with the new state is what that table forbids."""
    flow = "broadsoft/dnd/phone-initiated"
    records = records_of("broadsoft", flow)
    result = replayed(records, "broadsoft", policy=PolicyMode.REJECT)
    notify = find(records, rb"^NOTIFY .*DoNotDisturbEvent", 1) + 1
    assert hits(result, R.MODEL_ILLEGAL) == [notify]


def test_retransmissions_are_not_deviations() -> None:
    records = list(records_of("broadsoft", "broadsoft/dnd/phone-initiated"))
    notify = find(records, rb"^NOTIFY .*DoNotDisturbEvent", 1)
    setreq = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb")
    again = [dataclasses.replace(records[i], time=records[i].time + 0.5) for i in
             (setreq, notify, notify + 1)]
    result = replayed([*records, *again], "broadsoft")
    assert result.deviations == [], shown(result)
    assert result.retransmissions == 3


def test_non_sip_traffic_is_skipped_and_counted() -> None:
    records = records_of("yeastar", "yeastar/dnd/phone-initiated")
    a, b = Address("udp", "127.0.0.1", 5061), Address("udp", "127.0.0.1", 5060)
    data = pcap_bytes(records, extra=[(1.0, a, b, b"\x00\x01rtp-ish"), (2.0, b, a, b"ping")])
    messages, summary = read(data)
    assert summary.non_sip == 2
    assert replay(messages, profiles()["yeastar"]).deviations == []


# ------------------------------------------------------------------ injected defects


def test_namespace_removed() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/server-initiated")
    i = find(records, rb"^NOTIFY .*<DoNotDisturbEvent xmlns", 1)  # the change NOTIFY
    result = replayed(edited(records, i, sub(rb' xmlns="[^"]*"', b"")), "broadsoft")
    assert hits(result, "AFE-NS-MISSING") == [i + 1]
    assert all(d.packet == i + 1 for d in result.deviations), shown(result)


def test_true_literal_in_a_set_request() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb")
    result = replayed(edited(records, i, sub(rb">true<", b">True<")), "broadsoft")
    assert hits(result, "AFE-BOOL-LITERAL") == [i + 1]
    assert [d.rule for d in result.deviations] == ["AFE-BOOL-LITERAL"], shown(result)


def test_old_state_notify_under_accept_policy() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^NOTIFY .*<doNotDisturbOn>true", 0)
    result = replayed(edited(records, i, sub(rb">true<", b">false<")), "broadsoft")
    assert hits(result, R.MODEL_ILLEGAL) == [i + 1], shown(result)
    deviation = result.deviations[0]
    assert "OLD state" in deviation.expected
    assert "after the 200 OK to the set request" in deviation.expected
    assert "table broadsoft/dnd/phone-initiated allows SERVER_SENDS_NOTIFY" in (
        deviation.expected)
    assert deviation.message.startswith("NOTIFY sip:")
    assert deviation.user == "1001"
    assert len(result.deviations) == 1, shown(result)  # no cascade from the 200 after it


def test_notify_without_subscription_state() -> None:
    records = records_of("broadsoft", "broadsoft/cfa/server-initiated")
    i = find(records, rb"^NOTIFY .*<ForwardingEvent", 1)
    result = replayed(edited(records, i, drop_header(b"Subscription-State")), "broadsoft")
    assert hits(result, "RFC6665-SUBSTATE-MISSING") == [i + 1]


def test_malformed_subscription_state() -> None:
    records = records_of("broadsoft", "broadsoft/cfa/server-initiated")
    i = find(records, rb"^NOTIFY .*<ForwardingEvent", 1)
    bad = sub(rb"Subscription-State: active;expires=\d+", b"Subscription-State: active, 3600")
    result = replayed(edited(records, i, bad), "broadsoft")
    assert hits(result, "RFC6665-SUBSTATE-SYNTAX") == [i + 1]


def test_set_request_answered_500() -> None:
    records = records_of("broadsoft", "broadsoft/cfb/phone-initiated")
    setreq = find(records, rb"^SUBSCRIBE .*SetForwarding")
    i = setreq + 1
    assert records[i].data.startswith(b"SIP/2.0 200")
    result = replayed(edited(records, i, sub(rb"^SIP/2.0 200 OK", b"SIP/2.0 500 Server Internal "
                                                                  b"Error")), "broadsoft")
    assert hits(result, R.MODEL_NOT_GOAL) == [i + 1], shown(result)
    deviation = next(d for d in result.deviations if d.rule == R.MODEL_NOT_GOAL)
    assert deviation.message == "SIP/2.0 500 Server Internal Error"
    assert "ends Failed" in deviation.expected and "expects Synced" in deviation.expected


def test_full_state_missing_a_feature_multipart() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^NOTIFY .*multipart/mixed")
    drop_cfb = sub(rb"--fsync-full-state\r\nContent-Type: [^\r\n]*\r\n\r\n<\?xml[^<]*"
                   rb"<ForwardingEvent[^>]*>\s*<device>1001</device>\s*<forwardingType>"
                   rb"forwardBusy.*?</ForwardingEvent>\r\n", b"")
    result = replayed(edited(records, i, drop_cfb), "broadsoft")
    assert hits(result, R.AFE_FULLSTATE_MISSING) == [i + 1], shown(result)
    assert "full-state NOTIFY missing cfb" in result.deviations[0].expected
    assert len(result.deviations) == 1, shown(result)


def test_full_state_missing_a_feature_per_feature() -> None:
    """Metaswitch sends one NOTIFY per feature: without the cfb one the series stops short,
    seen when the phone sends its set request."""
    records = list(records_of("metaswitch", "metaswitch/dnd/phone-initiated"))
    cfb = find(records, rb"^NOTIFY .*forwardBusy")
    del records[cfb:cfb + 2]  # the NOTIFY and its 200
    setreq = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb")
    result = replayed(records, "metaswitch")
    assert hits(result, R.AFE_FULLSTATE_MISSING) == [setreq + 1], shown(result)
    assert "missing cfb" in result.deviations[0].expected
    assert len(result.deviations) == 1, shown(result)


def test_code_invite_to_an_unknown_code() -> None:
    records = records_of("yeastar", "yeastar/dnd/phone-initiated")
    first = find(records, rb"^INVITE ")
    changed = [dataclasses.replace(r, data=r.data.replace(b"*74@", b"*99@")) for r in records]
    result = replayed(changed, "yeastar")
    assert hits(result, R.CODE_UNKNOWN) == [first + 1], shown(result)
    assert [d.rule for d in result.deviations] == [R.CODE_UNKNOWN]


def test_ring_count_missing() -> None:
    records = records_of("broadsoft", "broadsoft/cfna/server-initiated")
    i = find(records, rb"^NOTIFY .*<ForwardingEvent", 1)
    result = replayed(edited(records, i, sub(rb"\s*<ringCount>4</ringCount>", b"")), "broadsoft")
    assert hits(result, "AFE-RINGCOUNT-MISSING") == [i + 1]
    assert result.deviations[0].severity == "error"


def test_ring_count_out_of_range() -> None:
    records = records_of("broadsoft", "broadsoft/cfna/phone-initiated")
    i = find(records, rb"^SUBSCRIBE .*SetForwarding")
    result = replayed(edited(records, i, sub(rb"<ringCount>4<", b"<ringCount>11<")),
                      "broadsoft")
    assert hits(result, "AFE-RINGCOUNT-RANGE") == [i + 1], shown(result)


def test_unknown_forwarding_type() -> None:
    records = records_of("broadsoft", "broadsoft/cfa/server-initiated")
    i = find(records, rb"^NOTIFY .*<ForwardingEvent", 1)
    result = replayed(edited(records, i, sub(rb"forwardImmediate", b"forwardAlways")),
                      "broadsoft")
    assert hits(result, "AFE-FWDTYPE-UNKNOWN") == [i + 1], shown(result)


def test_wrong_content_type_of_a_set_request() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb")
    bad = sub(rb"Content-Type: application/x-as-feature-event\+xml",
              b"Content-Type: application/xml")
    result = replayed(edited(records, i, bad), "broadsoft")
    assert hits(result, "BODY-CONTENT-TYPE") == [i + 1], shown(result)


def test_forward_to_omitted_when_off_is_a_warning() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^NOTIFY .*multipart/mixed")
    result = replayed(edited(records, i, sub(rb"\s*<forwardTo></forwardTo>", b"", count=1)),
                      "broadsoft")
    assert [(d.rule, d.severity, d.packet) for d in result.deviations] == [
        ("AFE-FORWARDTO-MISSING", "warning", i + 1)]


def test_set_request_while_the_subscription_is_not_active() -> None:
    records = list(records_of("broadsoft", "broadsoft/dnd/phone-initiated"))
    full = find(records, rb"^NOTIFY .*multipart/mixed")
    del records[full:full + 2]  # the full state never came
    setreq = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb")
    result = replayed(records, "broadsoft")
    assert hits(result, R.AFE_SET_NO_SUBSCRIPTION) == [setreq + 1], shown(result)
    deviation = next(d for d in result.deviations if d.rule == R.AFE_SET_NO_SUBSCRIPTION)
    assert "set request while the line's subscription was" in deviation.expected


def test_phone_refusing_a_change_notify() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/server-initiated")
    i = find(records, rb"^NOTIFY .*<DoNotDisturbEvent", 1) + 1
    result = replayed(edited(records, i, sub(rb"^SIP/2.0 200 OK", b"SIP/2.0 400 Bad Request")),
                      "broadsoft")
    assert hits(result, R.MODEL_NOT_GOAL) == [i + 1], shown(result)
    assert hits(result, R.SYNC_DIVERGED) == [i], shown(result)


def test_unconfirmed_set_request_incomplete_then_timeout() -> None:
    records = list(records_of("broadsoft", "broadsoft/dnd/phone-initiated"))
    notify = find(records, rb"^NOTIFY .*DoNotDisturbEvent", 1)
    cut = records[:notify]
    result = replayed(cut, "broadsoft")
    assert [(d.rule, d.severity, d.packet) for d in result.deviations] == [
        (R.MODEL_INCOMPLETE, "warning", notify)], shown(result)
    # the capture goes on for a minute: the phone would have given up
    later = dataclasses.replace(records[0], time=records[notify - 1].time + 60.0,
                                data=records[0].data.replace(b"CSeq: 1 REGISTER",
                                                             b"CSeq: 9 REGISTER"))
    result = replayed([*cut, later], "broadsoft")
    assert hits(result, R.MODEL_TIMEOUT) == [notify], shown(result)
    assert "no confirming NOTIFY within 32 s" in next(
        d.expected for d in result.deviations if d.rule == R.MODEL_TIMEOUT)


def test_parallel_code_calls() -> None:
    records = list(records_of("yeastar", "yeastar/dnd/phone-initiated"))
    first = find(records, rb"^INVITE ")
    twin = dataclasses.replace(records[first], data=records[first].data.replace(
        b"Call-ID: ", b"Call-ID: twin-").replace(b"branch=z9hG4bK", b"branch=z9hG4bKtwin"))
    records.insert(first + 1, twin)
    result = replayed(records, "yeastar")
    assert hits(result, R.CODE_PARALLEL) == [first + 2], shown(result)


def test_accepted_variant_202_is_a_warning() -> None:
    records = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    i = find(records, rb"^SUBSCRIBE .*SetDoNotDisturb") + 1
    result = replayed(edited(records, i, sub(rb"^SIP/2.0 200 OK", b"SIP/2.0 202 Accepted")),
                      "broadsoft")
    assert [(d.rule, d.severity, d.packet) for d in result.deviations] == [
        (R.MODEL_STATUS, "warning", i + 1)], shown(result)


# ------------------------------------------------------------------ users and reports


def two_lines() -> list[MessageRecord]:
    """Lines 1001 and 1002 in one capture: 1002 is a second run with its own ids."""
    first = records_of("broadsoft", "broadsoft/dnd/phone-initiated")
    second = records_of("broadsoft", "broadsoft/dnd/phone-initiated", seed=7)
    shifted = [dataclasses.replace(r, time=r.time + 100.0,
                                   data=r.data.replace(b"1001", b"1002")) for r in second]
    return [*first, *shifted]


def test_lines_are_replayed_apart_and_filtered() -> None:
    records = two_lines()
    i = find(records, rb"^NOTIFY .*<doNotDisturbOn>true", 1)  # 1002's confirmation
    broken = edited(records, i, sub(rb">true<", b">false<"))
    result = replayed(broken, "broadsoft")
    assert result.users == ["1001", "1002"]
    assert [(d.rule, d.user) for d in result.deviations] == [(R.MODEL_ILLEGAL, "1002")]
    assert replayed(broken, "broadsoft", user="1001").deviations == []
    only = replayed(broken, "broadsoft", user="1002")
    assert hits(only, R.MODEL_ILLEGAL) == [i + 1]
    assert only.filtered == len(records) // 2


def test_damaged_capture_is_reported_not_crashed_on() -> None:
    data = pcap_bytes(records_of("broadsoft", "broadsoft/dnd/phone-initiated"))
    messages, summary = read(data[:-30])  # the last record cut short
    assert summary.problems
    report = check_messages("cut.pcap", messages, summary, profiles()["broadsoft"])
    rules = {d.rule for d in report.result.deviations}
    assert R.CAPTURE_PROBLEM in rules
    assert report.exit_code == 0  # warnings only: the capture ended early
    assert all(d.severity == "warning" for d in report.result.deviations)


# ------------------------------------------------------------------ longer and partial captures


@pytest.mark.parametrize("vendor", ["broadsoft", "metaswitch", "yeastar", "3cx"])
def test_a_long_capture_is_conformant(vendor: str) -> None:
    """Changes both ways one after the other, two hours of refreshes (the registrar
    challenges again with a fresh nonce), then the line's sync switched off (unsubscribe)."""
    profile = profiles()[vendor]
    net = MemoryNetwork(seed=3)
    server = ReferenceServer(profile, rng=random.Random(3), local=Address("udp", "127.0.0.1",
                                                                            5060),
                             log_messages=False)
    phone = ReferencePhone(profile, user="1001", server=server.ua.local, rng=random.Random(4),
                           sync=True, local=Address("udp", "127.0.0.1", 0), log_messages=False)
    net.attach(server, server.ua.local)
    net.attach(phone, Address("udp", "127.0.0.1", 0))
    net.run_in_cycle(phone, lambda: phone.start(net.now))
    net.run(until=net.now + 40)
    changes = [(Direction.PHONE, Change("dnd", True)),
               (Direction.SERVER, Change("cfa", True, "2000")),
               (Direction.PHONE, Change("cfna", True, "3000", 4)),
               (Direction.SERVER, Change("dnd", False)),
               (Direction.PHONE, Change("cfa", False))]
    for direction, change in changes:
        if direction is Direction.PHONE:
            net.run_in_cycle(phone, lambda c=change: phone.user_change(c, net.now))  # type: ignore[misc]
        else:
            net.run_in_cycle(server, lambda c=change: server.admin_change(  # type: ignore[misc]
                "1001", c, net.now))
        net.run(until=net.now + 40)
    net.run(until=net.now + 7300)
    net.run_in_cycle(phone, lambda: phone.set_sync(False, net.now))
    net.run(until=net.now + 40)
    result = replayed(phone.messages, vendor)
    assert result.deviations == [], shown(result)
    assert result.flows and all(f.reached_goal for f in result.flows), result.flows
    assert len(phone.messages) > 30


@pytest.mark.parametrize(("vendor", "flow", "pattern"), [
    ("broadsoft", "broadsoft/dnd/phone-initiated", rb"^REGISTER .*Authorization:"),
    ("broadsoft", "broadsoft/cfna/phone-initiated", rb"^SUBSCRIBE .*SetForwarding"),
    ("broadsoft", "broadsoft/cfa/server-initiated", rb"^NOTIFY .*<ForwardingEvent"),
    ("metaswitch", "metaswitch/dnd/phone-initiated", rb"^SUBSCRIBE .*SetDoNotDisturb"),
    ("yeastar", "yeastar/cfb/phone-initiated", rb"^INVITE .*Authorization:"),
])
def test_a_capture_started_late_is_conformant(vendor: str, flow: str, pattern: bytes) -> None:
    """tshark started after the phone registered and subscribed: the replay takes the
    registration and the subscription as they must have been, and raises no false alarm."""
    records = records_of(vendor, flow)
    start = find(records, pattern, 1 if flow.endswith("server-initiated") else 0)
    result = replayed(records[start:], vendor)
    assert result.deviations == [], shown(result)
    assert [f.state for f in result.flows if f.machine == flow] == [
        profile_goal(profiles()[vendor], flow)]


def test_replay_never_raises_on_mangled_captures() -> None:
    """Seeded mutations of conformant captures (messages dropped, repeated, shuffled, bytes
    flipped, header lines removed, messages cut), replayed through any profile: deviations,
    never an exception."""
    rng = random.Random(5)
    runs = [records_of(vendor, flow) for vendor, flow in ALL_FLOWS]
    vendors = list(profiles())
    for _ in range(400):
        records = list(rng.choice(runs))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(records))
            data = records[i].data or b"x"
            kind = rng.randrange(6)
            if kind == 0 and len(records) > 1:
                del records[i]
            elif kind == 1:
                records.insert(rng.randrange(len(records)), records[i])
            elif kind == 2:
                rng.shuffle(records)
            elif kind == 3:
                flipped = bytearray(data)
                for _ in range(rng.randint(1, 5)):
                    flipped[rng.randrange(len(flipped))] = rng.randrange(256)
                records[i] = dataclasses.replace(records[i], data=bytes(flipped))
            elif kind == 4:
                lines = data.split(b"\r\n")
                if len(lines) > 2:
                    del lines[rng.randrange(1, len(lines))]
                records[i] = dataclasses.replace(records[i], data=b"\r\n".join(lines))
            else:
                records[i] = dataclasses.replace(records[i], data=data[:rng.randrange(len(data))])
        messages = [CapturedMessage(n + 1, r.time, r.src, r.dst, r.data)
                    for n, r in enumerate(records)]
        replay(messages, profiles()[rng.choice(vendors)])
