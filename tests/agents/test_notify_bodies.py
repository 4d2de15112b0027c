"""The server's NOTIFY body cache gives, byte for byte, what building each body gives."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsync_model.agents import afe as afe_bodies
from fsync_model.agents.state import FEATURES, Change, FeatureState
from fsync_model.profile import load_all

AFE_PROFILES = {pid: p.afe for pid, p in load_all().items() if p.afe is not None}
STATES = [
    FeatureState(),
    FeatureState().applied(Change("dnd", True)),
    FeatureState().applied(Change("cfa", True, "2000")),
    FeatureState().applied(Change("cfna", True, "3000", 4)).applied(Change("cfb", True, "x&y")),
]
DEVICES = ["100000", "1001", "a&b<c>", "zoë", "用户", "", "fsync-full-state", "--fsync-full-stat"]


@pytest.mark.parametrize("pid", sorted(AFE_PROFILES))
def test_cached_bodies_are_the_built_ones(pid: str) -> None:
    afe = AFE_PROFILES[pid]
    bodies = afe_bodies.NotifyBodies(afe)
    for _ in range(2):  # built, then from the cache
        for state in STATES:
            for device in DEVICES:
                assert bodies.full_state(state, device) == afe_bodies.full_state_bodies(
                    afe, state, device)
                for feature in FEATURES:
                    assert bodies.change(state, feature, device) == (
                        afe_bodies.build_change_notify(afe, state, feature, device))


@settings(max_examples=200, deadline=None)
@given(device=st.text(max_size=12), dnd=st.booleans())
def test_any_device_gives_the_built_body(device: str, dnd: bool) -> None:
    afe = AFE_PROFILES["broadsoft"]
    bodies = afe_bodies.NotifyBodies(afe)
    state = FeatureState().applied(Change("dnd", dnd))
    try:
        expected = afe_bodies.full_state_bodies(afe, state, device)
    except ValueError:  # a device that holds the multipart boundary: still refused
        with pytest.raises(ValueError):
            bodies.full_state(state, device)
    else:
        assert bodies.full_state(state, device) == expected
    assert bodies.change(state, "dnd", device) == afe_bodies.build_change_notify(
        afe, state, "dnd", device)


def test_a_device_holding_the_boundary_is_refused_as_before() -> None:
    afe = AFE_PROFILES["broadsoft"]
    with pytest.raises(ValueError, match="boundary"):
        afe_bodies.NotifyBodies(afe).full_state(FeatureState(), "x--fsync-full-state")


def test_an_encoding_not_piecewise_builds_every_body() -> None:
    afe = AFE_PROFILES["broadsoft"]
    assert afe.charset is not None
    utf16 = dataclasses.replace(afe, charset=dataclasses.replace(afe.charset, value="UTF-16"))
    bodies = afe_bodies.NotifyBodies(utf16)
    assert bodies.change(STATES[1], "dnd", "zoë") == afe_bodies.build_change_notify(
        utf16, STATES[1], "dnd", "zoë")
