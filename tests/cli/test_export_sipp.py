"""``fsync export-sipp``: the files it writes, the profile's wire details in them, and every
exported scenario run with SIPp against the reference agents over UDP (role phone against
the reference server, role server against the reference phone), SIPp's exit code 0 required
and the traffic replayed through ``fsync check``'s model. Wrong values on the other side make
the scenarios fail (the ereg checks bite), and the NOTIFY-before-2xx variant is taken."""
from __future__ import annotations

import asyncio
import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import cast

import pytest

from fsync_model.agents.state import Change, FeatureState
from fsync_model.cli.main import main
from fsync_model.generate.sipp import (
    GENERATOR_MARK,
    Role,
    SippScenario,
    export,
    injection_csv,
    parse_flow,
    scenario,
)
from fsync_model.model import FlowKind, Input, MachineKey, happy_path, machines_for
from fsync_model.profile import Direction, Mechanism, Profile, load_all
from fsync_model.profile.values import Setting
from fsync_model.testing.flows import carries_rings, flows_of
from fsync_model.trace.replay import replay
from tests.cli.test_export_sipp_support import SippResult, run_many, run_scenario
from tests.conftest import require_peer

PROFILES = load_all()


def one(vendor: str, flow: str, role: str) -> SippScenario:
    profile = PROFILES[vendor]
    [spec] = parse_flow(profile, flow)
    return scenario(profile, spec, cast(Role, role))


def xml_of(item: SippScenario, index: int = -1) -> str:
    return item.files[index].text


def elements(text: str) -> list[ET.Element]:
    root = ET.fromstring(text.encode("latin-1", "replace"))
    return [e for e in root if e.tag in ("send", "recv")]


def sent_starts(text: str) -> list[str]:
    """The first line of every <send>: 'NOTIFY [$phonecontact] SIP/2.0', 'SIP/2.0 200 OK'."""
    return [(e.text or "").strip().splitlines()[0] for e in elements(text) if e.tag == "send"]


# ------------------------------------------------------------------ the command and its files


def test_writes_every_flow_and_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sipp"
    assert main(["export-sipp", "--vendor", "broadsoft", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    flows = flows_of(PROFILES["broadsoft"])
    for spec in flows:
        stem = f"{spec.feature}-{spec.direction.initiated}"
        for role in ("phone", "server"):
            text = (out / f"{stem}.{role}.xml").read_text()
            assert f"generated from spec/broadsoft.yaml {GENERATOR_MARK}" in text
            ET.fromstring(text.encode("latin-1", "replace"))  # well-formed
            assert f"{spec.name} ({role}): sipp" in printed
        csv = (out / f"{stem}.csv").read_text()
        assert csv.splitlines()[0] == "SEQUENTIAL"
        user, number, password, auth, _ = csv.splitlines()[1].split(";")
        assert (user, number, password) == ("1001", spec.change.target or "", "fsync")
        assert auth == "[authentication username=1001 password=fsync]"
    readme = (out / "README.md").read_text()
    assert "[field0] user, [field1] forward-to number" in readme
    assert GENERATOR_MARK in readme
    assert f"wrote {3 * len(flows) + 1} files (16 scenario(s) of 8 flow(s))" in printed
    assert len(list(out.glob("*.xml"))) == 2 * len(flows)


def test_flow_names_and_roles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("broadsoft/dnd/phone-initiated", "dnd/phone-initiated", "dnd-phone",
                 "dnd-phone-initiated"):
        out = tmp_path / name.replace("/", "_")
        assert main(["export-sipp", "--vendor", "broadsoft", "--flow", name, "--role", "phone",
                     "-o", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == [
            "README.md", "dnd-phone-initiated.csv", "dnd-phone-initiated.phone.xml"]
    capsys.readouterr()
    assert main(["export-sipp", "--vendor", "broadsoft", "--flow", "dnd-sideways", "-o",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no flow 'dnd-sideways'" in err and "cfna-server" in err
    assert main(["export-sipp", "--vendor", "broadsoft", "--flow",
                 "yeastar/dnd/phone-initiated", "-o", str(tmp_path / "y")]) == 2
    assert main(["export-sipp", "--vendor", "yeastar", "--flow", "dnd-server", "-o",
                 str(tmp_path / "z")]) == 2  # Yeastar syncs one way only
    with pytest.raises(SystemExit):
        main(["export-sipp", "--vendor", "broadsoft", "--role", "pbx", "-o", str(tmp_path)])


def test_three_cx_uacsta_as_the_phone_is_two_files() -> None:
    item = one("3cx", "dnd-server", "phone")
    assert [r.scenario for r in item.runs] == ["dnd-server-initiated.phone.register.xml",
                                              "dnd-server-initiated.phone.xml"]
    assert [r.client for r in item.runs] == [True, False]
    assert sent_starts(xml_of(item, 0))[0].startswith("REGISTER ")
    main_recvs = [e.get("request") or e.get("response") for e in elements(xml_of(item))
                  if e.tag == "recv"]
    assert main_recvs == ["INVITE", "ACK", "INFO", "INFO"]


# ------------------------------------------------------------------ read off the tables


@pytest.mark.parametrize("vendor", list(PROFILES))
def test_scenarios_follow_the_happy_path(vendor: str) -> None:
    """Role server sends exactly the NOTIFYs / INFOs the set-up and the flow's happy path
    have the server send; role phone sends the set requests and code INVITEs they have the
    phone send (plus the INVITE again with credentials where the PBX challenges)."""
    profile = PROFILES[vendor]
    tables = machines_for(profile)
    for spec in flows_of(profile):
        flow = happy_path(tables[spec.key])
        server = xml_of(scenario(profile, spec, "server"))
        notifies = sum(1 for line in sent_starts(server) if line.startswith("NOTIFY "))
        expected = sum(1 for row in flow if row.input in (
            Input.SERVER_SENDS_NOTIFY, Input.SERVER_SENDS_NOTIFY_OLD_STATE))
        if profile.afe is not None:
            sub = MachineKey(profile.id, FlowKind.SUBSCRIPTION)
            expected += sum(1 for row in happy_path(tables[sub])
                            if row.input is Input.SERVER_SENDS_NOTIFY)
        assert notifies == expected, spec.name
        phone = xml_of(scenario(profile, spec, "phone"))
        sets = [line for line in sent_starts(phone) if line.startswith("SUBSCRIBE [$")]
        assert len(sets) == sum(1 for r in flow if r.input is Input.PHONE_SENDS_SUBSCRIBE_SET)
        invites = [line for line in sent_starts(phone) if line.startswith("INVITE ")]
        codes = profile.codes
        wanted = sum(1 for r in flow if r.input is Input.PHONE_SENDS_INVITE)
        if wanted and codes is not None and codes.challenge.value:
            wanted += 1
        assert len(invites) == wanted, spec.name


def test_wire_details_of_the_profile() -> None:
    bs_set = xml_of(one("broadsoft", "cfna-phone", "phone"))
    assert "Event: as-feature-event" in bs_set
    assert "Accept: application/x-as-feature-event+xml" in bs_set
    assert "Content-Type: application/x-as-feature-event+xml" in bs_set
    assert 'xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"' in bs_set
    assert "<forwardDN>[field1]</forwardDN>" in bs_set and "<ringCount>4</ringCount>" in bs_set
    assert "[field3]" in bs_set  # digest from the injection file
    assert 'response="401" auth="true"' in bs_set
    # multipart full state (BroadSoft) vs one NOTIFY per feature (Metaswitch)
    assert "multipart/mixed;boundary=" in xml_of(one("broadsoft", "dnd-server", "server"))
    assert "multipart" not in xml_of(one("metaswitch", "dnd-server", "server"))
    # codes from code_for, [field1] for the number, # escaped in the URI
    assert "INVITE sip:*71[field1]@" in xml_of(one("yeastar", "cfa-phone", "phone"))
    assert "INVITE sip:%2321%23@" not in xml_of(one("huawei-ims", "cfa-phone", "phone"))
    assert "INVITE sip:*21*[field1]%23@" in xml_of(one("huawei-ims", "cfa-phone", "phone"))
    assert "INVITE sip:**61*[field1]**20%23@" in xml_of(one("huawei-ims", "cfna-phone", "phone"))
    # 407 for 3CX, no INVITE challenge for IMS
    assert "Proxy-Authenticate: Digest" in xml_of(one("3cx", "cfa-phone", "server"))
    assert "401 Unauthorized" not in "".join(
        s for s in sent_starts(xml_of(one("zte-ims", "dnd-phone", "server")))[2:])
    # ereg checks of the key body values
    bs_notify = xml_of(one("broadsoft", "cfa-server", "phone"))
    assert "forwardStatus&gt;[[:space:]]*true" in bs_notify
    assert 'variable2="want' in bs_notify and "forwardTo is not [field1]" in bs_notify
    assert "doNotDisturbOn&gt;[[:space:]]*true" in xml_of(one("broadsoft", "dnd-server", "phone"))
    # variants the wire allows
    assert 'response="100" optional="true"' in xml_of(one("yeastar", "dnd-phone", "phone"))
    assert "the NOTIFY before the" in bs_set


def test_two_hundred_or_two_hundred_two() -> None:
    profile = PROFILES["broadsoft"]
    afe = profile.afe
    assert afe is not None
    changed = dataclasses.replace(profile, afe=dataclasses.replace(
        afe, subscribe=dataclasses.replace(afe.subscribe, answer=Setting(202)),
        set_request=dataclasses.replace(afe.set_request, answer=Setting(202))))
    [spec] = parse_flow(changed, "dnd-phone")
    starts = sent_starts(xml_of(scenario(changed, spec, "server")))
    assert starts.count("SIP/2.0 202 Accepted") == 2
    phone = xml_of(scenario(changed, spec, "phone"))
    assert 'response="200" optional="true"' in phone and 'response="202"' in phone


def test_injection_file() -> None:
    [spec] = parse_flow(PROFILES["broadsoft"], "cfb-server")
    assert injection_csv(spec, user="2002", password="pw") == (
        "SEQUENTIAL\n2002;2001;pw;[authentication username=2002 password=pw];\n")


# ------------------------------------------------------------------ every scenario, run


def _check(profile: Profile, item: SippScenario, result: SippResult) -> list[str]:
    """Why a run is not right ([] when it is)."""
    why = []
    if not result.ok:
        why.append(f"SIPp exit {result.codes}: {result.output[-1500:]}")
    if result.driver_errors:
        why.append(f"agent raised {result.driver_errors!r}")
    acts = (item.role == "phone") == (item.flow.direction is Direction.SERVER)
    if acts and not result.triggered:
        why.append("the reference agent never made its change")
    errors = [p for p in result.problems if p.severity == "error"]
    if errors:
        why.append(f"agent problems {[(p.rule, p.message) for p in errors]}")
    replayed = replay(result.messages, profile)
    if replayed.deviations:
        why.append(f"fsync check: {[(d.rule, d.packet, d.expected) for d in replayed.deviations]}")
    states = [f.state for f in replayed.flows if f.machine == item.flow.name]
    if states != [machines_for(profile)[item.flow.key].goal]:
        why.append(f"{item.flow.name} ended {states}")
    # the reference agent took the change with the injection file's number
    spec = item.flow
    expected = FeatureState().applied(spec.change)
    if spec.mechanism is Mechanism.UACSTA and item.role == "server":
        expected = FeatureState()  # informational: the phone keeps its state
    state = result.state or FeatureState()
    if spec.mechanism is Mechanism.FEATURE_CODE and not carries_rings(spec):
        agreed = (state.cfna.on, state.cfna.target) == (expected.cfna.on, expected.cfna.target)
    else:
        agreed = state.agrees(expected, spec.feature)
    if not agreed:
        why.append(f"the reference agent's {spec.feature} is {state.to_json()[spec.feature]}, "
                   f"not {expected.to_json()[spec.feature]}")
    return why


@pytest.mark.peer
@pytest.mark.parametrize("vendor", list(PROFILES))
def test_every_exported_scenario_runs_against_the_reference_agents(
        tmp_path: Path, vendor: str) -> None:
    require_peer("sipp")
    profile = PROFILES[vendor]
    scenarios, _ = export(profile, flows_of(profile))
    results = asyncio.run(run_many(profile, scenarios, tmp_path, parallel=8))
    failures = {item.name: why for item, result in zip(scenarios, results, strict=True)
                if (why := _check(profile, item, result))}
    assert failures == {}


NEGATIVE = [
    ("broadsoft", "cfa-server", "phone", Change("cfa", True, "2999"), "forwardTo is not"),
    ("broadsoft", "dnd-server", "phone", Change("dnd", False), "Failed regexp match"),
    ("broadsoft", "cfna-phone", "server", Change("cfna", True, "3000", 5), "Failed regexp"),
    ("yeastar", "cfa-phone", "server", Change("cfa", True, "2999"), "number in the code"),
    ("yeastar", "cfa-phone", "server", Change("cfb", True, "2000"), "Failed regexp match"),
    ("metaswitch", "cfb-phone", "server", Change("cfb", True, "1234"), "forwardDN is not"),
    ("3cx", "dnd-server", "phone", Change("dnd", False), "Failed regexp match"),
]


@pytest.mark.peer
def test_the_checks_bite(tmp_path: Path) -> None:
    """The other side makes another change than the scenario's: SIPp fails, saying why."""
    require_peer("sipp")

    async def run_all() -> list[SippResult]:
        return list(await asyncio.gather(*(
            run_scenario(PROFILES[v], one(v, f, role), tmp_path / f"{n}", change)
            for n, (v, f, role, change, _) in enumerate(NEGATIVE))))

    for (vendor, flow, role, _, said), result in zip(NEGATIVE, asyncio.run(run_all()),
                                                      strict=True):
        assert not result.ok, (vendor, flow, role)
        assert said in result.output, (vendor, flow, role, result.output[-800:])


@pytest.mark.peer
@pytest.mark.parametrize(("vendor", "flow"), [("broadsoft", "dnd-phone"),
                                              ("metaswitch", "cfna-phone"),
                                              ("broadsoft", "cfa-server")])
def test_notify_before_the_2xx(tmp_path: Path, vendor: str, flow: str) -> None:
    """A server whose NOTIFY overtakes its 2xx (full state, confirmation): the scenario's
    optional branch takes it."""
    require_peer("sipp")
    item = one(vendor, flow, "phone")
    result = asyncio.run(run_scenario(PROFILES[vendor], item, tmp_path, notify_first=True))
    assert result.ok, result.output[-1500:]
    firsts = [m.data.split(b" ", 1)[0] for m in result.messages]
    notify = firsts.index(b"NOTIFY")
    assert firsts[notify + 1] == b"SIP/2.0"  # the 2xx came after the NOTIFY
    assert re.search(rb"CSeq: 1 SUBSCRIBE", result.messages[notify + 1].data)
