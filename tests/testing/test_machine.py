"""The property machines: one per profile, its rules read from the profile, its fault
families and avoided defects chosen by the caller; settings from the environment. (The
reference agents' property run itself is in test_coverage.py, which also folds its steps
into the coverage.)"""
from __future__ import annotations

import inspect

import pytest
from hypothesis.stateful import RULE_MARKER, RuleBasedStateMachine

from fsync_model.testing.fixtures import profiles
from fsync_model.testing.machine import (
    AVOIDED,
    FAULTS,
    fsync_settings,
    machine_class,
)


def _rules(profile: str, **options: object) -> set[str]:
    cls = machine_class(profiles()[profile], **options)  # type: ignore[arg-type]
    assert issubclass(cls, RuleBasedStateMachine)
    return {name for name, member in inspect.getmembers(cls)
            if getattr(member, RULE_MARKER, None) is not None}


def test_rules_are_read_from_the_profile() -> None:
    bsft = _rules("broadsoft")
    assert {"change_dnd_at_phone", "change_dnd_on_server", "change_cfna_on_server",
            "subscription_refresh", "server_policy", "toggle_line_sync", "tamper",
            "link_faults", "drop_next", "duplicate_next", "registration_refresh",
            "time_passes", "settle"} <= bsft
    yeastar = _rules("yeastar")
    assert "change_cfa_at_phone" in yeastar
    assert not any(name.endswith("_on_server") for name in yeastar), "one-way: phone only"
    assert "subscription_refresh" not in yeastar
    threecx = _rules("3cx")
    assert "change_dnd_on_server" in threecx and "change_cfa_on_server" not in threecx


def test_fault_families_can_be_left_out() -> None:
    quiet = _rules("broadsoft", faults=False)
    assert not {"tamper", "link_faults", "drop_next", "duplicate_next"} & quiet
    only_loss = _rules("broadsoft", faults=frozenset({"loss"}))
    assert {"drop_next", "link_faults", "tamper"} <= only_loss
    assert "duplicate_next" not in only_loss
    with pytest.raises(ValueError, match="unknown fault"):
        machine_class(profiles()["broadsoft"], faults=frozenset({"lightning"}))
    assert {"loss", "duplicate", "reorder", "delay", "forged", "held", "mangled"} == FAULTS


def test_avoided_defects_are_documented() -> None:
    for name, why in AVOIDED.items():
        assert "agents/" in why, f"{name} must say which file to fix"
    cls = machine_class(profiles()["broadsoft"], avoid=frozenset())
    assert cls.avoid == frozenset()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    base = fsync_settings()
    assert (base.max_examples, base.stateful_step_count) == (25, 20)
    assert base.derandomize
    monkeypatch.setenv("FSYNC_HYPOTHESIS_PROFILE", "fsync-deep")
    deep = fsync_settings()
    assert deep.max_examples == 500 and not deep.derandomize
    monkeypatch.setenv("FSYNC_HYPOTHESIS_EXAMPLES", "7")
    assert fsync_settings().max_examples == 7
    assert fsync_settings(max_examples=3).max_examples == 3
