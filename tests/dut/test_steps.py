"""Cases for a profile: every flow, the policy rejections, seeded examples, replay JSON."""
from __future__ import annotations

import pytest

from fsync_model.dut.steps import Case, Step, StepError, example_cases, regression_cases
from fsync_model.testing.flows import flows_of
from tests.dut.support import profile


def test_every_flow_once_then_the_rejections_for_a_phone() -> None:
    broadsoft = profile("broadsoft")
    cases = regression_cases(broadsoft, "phone")
    names = [c.name for c in cases]
    assert names[:8] == [str(f.key) for f in flows_of(broadsoft)]
    assert names[8:] == [f"broadsoft/{f}/phone-initiated (rejected by policy)"
                         for f in ("dnd", "cfa", "cfb", "cfna")]
    assert cases[0].steps == (Step("server-change", flows_of(broadsoft)[0].change),)
    assert [c.steps[0].kind for c in cases[8:]] == ["reject"] * 4
    # a server under test keeps its own policy: no rejections
    assert len(regression_cases(broadsoft, "server")) == 8


def test_feature_codes_only_go_from_the_phone() -> None:
    cases = regression_cases(profile("yeastar"), "phone")
    assert {c.steps[0].kind for c in cases} == {"phone-change", "reject"}
    examples = example_cases(profile("yeastar"), "phone", 20, 3)
    kinds = {s.kind for c in examples for s in c.steps}
    assert kinds <= {"phone-change", "reject"}
    assert all(s.change is None or s.change.rings is None for c in examples for s in c.steps)


def test_examples_are_seeded_and_cover_what_the_profile_allows() -> None:
    broadsoft = profile("broadsoft")
    first = example_cases(broadsoft, "phone", 30, 7)
    assert first == example_cases(broadsoft, "phone", 30, 7)
    assert first != example_cases(broadsoft, "phone", 30, 8)
    steps = [s for c in first for s in c.steps]
    assert {s.kind for s in steps} == {"server-change", "phone-change", "reject", "resubscribe"}
    assert {s.encoding for s in steps if s.kind == "resubscribe"} == {"multipart",
                                                                     "per-feature"}
    assert any(s.drop for s in steps) and any(s.duplicate for s in steps)
    assert not any(s.faulty for c in example_cases(broadsoft, "phone", 30, 7, transport="tcp")
                   for s in c.steps)
    low, high = 1, 10
    assert all(low <= s.change.rings <= high for s in steps
               if s.change is not None and s.change.feature == "cfna" and s.change.on
               and s.change.rings is not None)


def test_cases_round_trip_through_json() -> None:
    for case in example_cases(profile("broadsoft"), "phone", 10, 1):
        assert Case.from_json(case.to_json()) == case


@pytest.mark.parametrize("document", [
    {"kind": "teleport"},
    {"kind": "server-change"},
    {"kind": "server-change", "change": {"feature": "dnd", "on": True, "target": "2000"}},
    {"kind": "phone-change", "change": {"feature": "cfa", "on": True}},
    {"kind": "resubscribe", "drop": 3},
    {"kind": "resubscribe", "encoding": "concatenated-ish"},
])
def test_bad_steps_say_why(document: dict[str, object]) -> None:
    with pytest.raises(StepError):
        Step.from_json(document)
