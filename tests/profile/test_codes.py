"""Feature-code templates: rendering and parsing round-trip for every feature-code profile."""
from __future__ import annotations

import pytest

from fsync_model.profile import (
    Action,
    DialedCode,
    Feature,
    FeatureCodes,
    Mechanism,
    Profile,
    uri_user,
)


def codes_of(profile: Profile) -> FeatureCodes:
    assert profile.codes is not None
    return profile.codes


def code_profiles(profiles: dict[str, Profile]) -> list[Profile]:
    return [p for p in profiles.values() if p.uses(Mechanism.FEATURE_CODE)]


def test_feature_code_profiles(profiles: dict[str, Profile]) -> None:
    assert [p.id for p in code_profiles(profiles)] == [
        "3cx", "generic-feature-code", "huawei-ims", "yeastar", "zte-ims",
    ]


@pytest.mark.parametrize("number", ["6000", "+4930123", "1"])
def test_round_trip_every_code(profiles: dict[str, Profile], number: str) -> None:
    for profile in code_profiles(profiles):
        codes = codes_of(profile)
        for spec in profile.features:
            for action in Action:
                with_number = spec.feature.is_forward and action is Action.ACTIVATE
                dialed = codes.code_for(spec.feature, action, number if with_number else None)
                expected = DialedCode(spec.feature, action, number if with_number else None, None)
                assert codes.parse_code(dialed) == expected, (profile.id, dialed)
                assert codes.parse_code(uri_user(dialed)) == expected
                if with_number and codes.has_timer(spec.feature):
                    timed = codes.code_for(spec.feature, action, number, rings=3)
                    assert codes.parse_code(timed) == DialedCode(spec.feature, action, number, 3)


def test_known_codes(profiles: dict[str, Profile]) -> None:
    yeastar = codes_of(profiles["yeastar"])
    assert yeastar.code_for(Feature.CFA, Action.ACTIVATE, "6000") == "*716000"
    assert yeastar.parse_code("*716000") == (Feature.CFA, Action.ACTIVATE, "6000", None)
    assert yeastar.code_for(Feature.DND, Action.ACTIVATE) == "*74"
    assert yeastar.code_for(Feature.DND, Action.DEACTIVATE) == "*074"
    assert yeastar.code_for(Feature.CFNA, Action.DEACTIVATE) == "*073"
    tcx = codes_of(profiles["3cx"])
    assert tcx.code_for(Feature.DND, Action.ACTIVATE) == "*32"
    assert tcx.code_for(Feature.DND, Action.DEACTIVATE) == "*30"
    ims = codes_of(profiles["huawei-ims"])
    assert ims.code_for(Feature.CFA, Action.ACTIVATE, "6000") == "*21*6000#"
    assert ims.parse_code("*21*6000#") == (Feature.CFA, Action.ACTIVATE, "6000", None)
    assert ims.code_for(Feature.CFB, Action.DEACTIVATE) == "#67#"
    assert ims.code_for(Feature.CFNA, Action.ACTIVATE, "6000") == "*61*6000#"


def test_timer_form_converts_rings_to_seconds(profiles: dict[str, Profile]) -> None:
    ims = codes_of(profiles["zte-ims"])
    assert ims.seconds_per_ring is not None and ims.seconds_per_ring.value == 5
    assert ims.code_for(Feature.CFNA, Action.ACTIVATE, "6000", rings=4) == "**61*6000**20#"
    assert ims.parse_code("**61*6000**20#") == (Feature.CFNA, Action.ACTIVATE, "6000", 4)
    assert ims.parse_code("**61*6000**20%23") == (Feature.CFNA, Action.ACTIVATE, "6000", 4)


def test_uri_user_escapes_hash() -> None:
    assert uri_user("**61*6000**20#") == "**61*6000**20%23"
    assert uri_user("*716000") == "*716000"


def test_unknown_codes_parse_to_none(profiles: dict[str, Profile]) -> None:
    yeastar = codes_of(profiles["yeastar"])
    for dialed in ("", "*75", "*71", "6000", "*74 ", "*71abc", "*21*6000#"):
        assert yeastar.parse_code(dialed) is None, dialed


def test_code_for_misuse(profiles: dict[str, Profile]) -> None:
    yeastar = codes_of(profiles["yeastar"])
    with pytest.raises(ValueError, match="needs a number"):
        yeastar.code_for(Feature.CFA, Action.ACTIVATE)
    with pytest.raises(ValueError, match="takes no number"):
        yeastar.code_for(Feature.DND, Action.ACTIVATE, "6000")
    with pytest.raises(ValueError, match="not a dialable number"):
        yeastar.code_for(Feature.CFA, Action.ACTIVATE, "60#0")
    with pytest.raises(ValueError, match="cannot carry a ring count"):
        yeastar.code_for(Feature.CFNA, Action.ACTIVATE, "6000", rings=3)
    ims = codes_of(profiles["huawei-ims"])
    with pytest.raises(ValueError, match="positive"):
        ims.code_for(Feature.CFNA, Action.ACTIVATE, "6000", rings=0)


def test_executed_statuses(profiles: dict[str, Profile]) -> None:
    yeastar = codes_of(profiles["yeastar"])
    assert yeastar.executes(200) and yeastar.executes(202)
    assert not yeastar.executes(486) and not yeastar.executes(183)
    assert not yeastar.executed_non_2xx()
