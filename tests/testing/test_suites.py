"""The generated suite as data: test purposes, ladders, and cases that apply only where the
profile's tables have the rows they are about."""
from __future__ import annotations

import re

from fsync_model.generate.suites import cases_for, modules_for, path_through
from fsync_model.generate.templates import GENERATOR_MARK, render_module, wrap
from fsync_model.model import MachineKey, happy_path, machines_for
from fsync_model.testing.fixtures import profiles
from fsync_model.testing.flows import flows_of

TP = re.compile(r"TP/[0-9A-Z]+/((DND|CFA|CFB|CFNA)/(SRV|PHN)|NEG)/\d{3}")


def test_one_module_per_flow_plus_the_negative_cases() -> None:
    for profile in profiles().values():
        names = [m.name for m in modules_for(profile)]
        assert len(names) == len(flows_of(profile)) + 1
        assert names[-1].endswith("_neg")


def test_test_purposes_are_unique_and_etsi_shaped() -> None:
    seen: set[str] = set()
    for profile in profiles().values():
        for case in cases_for(profile):
            assert TP.fullmatch(case.tp), case.tp
            assert case.tp.startswith(f"TP/{profile.purpose_code}/")
            assert case.tp not in seen
            seen.add(case.tp)
    assert len(seen) > 400


def test_the_first_case_of_a_flow_expects_the_happy_path() -> None:
    profile = profiles()["broadsoft"]
    key = MachineKey.parse("broadsoft/dnd/server-initiated")
    first = next(c for c in cases_for(profile) if c.tp == "TP/BSFT/DND/SRV/001")
    labels = [row.label for row in happy_path(machines_for(profile)[key])]
    assert [line.split("  ", 1)[-1].strip() for line in first.ladder] == labels


def test_targeted_rows_exist_and_lie_on_the_ladder() -> None:
    for profile in profiles().values():
        tables = machines_for(profile)
        for case in cases_for(profile):
            for key, source, input in case.targets:
                assert any(r.source == source and r.input.value == input
                           for r in tables[MachineKey.parse(key)].transitions)


def test_path_through_reaches_a_final_state() -> None:
    table = machines_for(profiles()["yeastar"])[MachineKey.parse("yeastar/dnd/phone-initiated")]
    row = next(r for r in table.transitions if r.source == "Inviting"
               and r.input.value == "SERVER_SENDS_1XX")
    path = path_through(table, [row])
    assert path[0].source == table.initial and path[-1].dest == table.goal


def test_rendered_modules_are_stamped_and_narrow() -> None:
    module = modules_for(profiles()["metaswitch"])[0]
    text = render_module(module)
    assert f"generated from spec/metaswitch.yaml {GENERATOR_MARK}" in text
    assert 'pytestmark = pytest.mark.fsync_profile("metaswitch")' in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert render_module(module) == text, "deterministic"


def test_wrap_splits_long_calls_at_top_level_commas() -> None:
    call = 'f("a, b", g(1, 2), path=("' + "x" * 90 + '", "y"))'
    wrapped = wrap(call, 4)
    assert wrapped.startswith("f(\n")
    assert '"a, b",' in wrapped and "path=(\n" in wrapped
