"""Every profile in spec/ loads, and says what the guide and the protocol notes say."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from fsync_model.profile import (
    SPEC_DIR_ENV,
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
    Setting,
    default_spec_dir,
    describe,
    load_all,
    load_profile,
)

from .conftest import SPEC, line_of

EXPECTED = {
    "broadsoft": "BSFT",
    "metaswitch": "MSW",
    "fortinet": "FTNT",
    "3cx": "3CX",
    "yeastar": "YSTR",
    "huawei-ims": "HWI",
    "zte-ims": "ZTE",
    "generic-feature-code": "GFC",
}


def test_all_profiles_load(profiles: dict[str, Profile]) -> None:
    assert {pid: p.purpose_code for pid, p in profiles.items()} == EXPECTED
    assert list(profiles) == sorted(profiles)


@pytest.mark.parametrize("path", sorted(SPEC.glob("*.yaml")), ids=lambda p: p.stem)
def test_files_validate_against_the_schema_directly(path: Path) -> None:
    schema = json.loads((SPEC / "profile.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_mechanisms_per_guide(profiles: dict[str, Profile]) -> None:
    afe = {Mechanism.AS_FEATURE_EVENT}
    codes = {Mechanism.FEATURE_CODE}
    assert set(profiles["broadsoft"].mechanisms) == afe
    assert set(profiles["metaswitch"].mechanisms) == afe
    assert set(profiles["fortinet"].mechanisms) == afe
    assert set(profiles["3cx"].mechanisms) == codes | {Mechanism.UACSTA}
    for pid in ("yeastar", "huawei-ims", "zte-ims", "generic-feature-code"):
        assert set(profiles[pid].mechanisms) == codes


def test_directions(profiles: dict[str, Profile]) -> None:
    both = (Direction.SERVER, Direction.PHONE)
    for pid in ("broadsoft", "metaswitch", "fortinet"):
        assert [f.directions for f in profiles[pid].features] == [both] * 4
    for pid in ("yeastar", "huawei-ims", "zte-ims", "generic-feature-code"):
        assert [f.directions for f in profiles[pid].features] == [(Direction.PHONE,)] * 4
    tcx = profiles["3cx"]
    dnd = tcx.feature(Feature.DND)
    assert dnd is not None and dnd.directions == both
    assert dnd.server is Mechanism.UACSTA and dnd.informational(Direction.SERVER)
    assert dnd.phone is Mechanism.FEATURE_CODE and not dnd.informational(Direction.PHONE)
    cfa = tcx.feature(Feature.CFA)
    assert cfa is not None and cfa.directions == (Direction.PHONE,)


def test_gating(profiles: dict[str, Profile]) -> None:
    for pid, profile in profiles.items():
        assert profile.gated is (pid != "fortinet"), pid
        assert profile.line.default_sync.value is False


def test_wire_values(profiles: dict[str, Profile]) -> None:
    afe = profiles["broadsoft"].afe
    assert afe is not None
    assert afe.event.value == "as-feature-event"
    assert afe.accept.value == afe.content_type.value == "application/x-as-feature-event+xml"
    assert afe.namespace.value in afe.accepted_namespaces.value
    assert any("ecmainternational" in ns for ns in afe.accepted_namespaces.value)
    assert afe.subscribe.expires.value == 3600
    assert afe.notify.subscription_state_header(1800) == "active;expires=1800"
    assert afe.notify.full_state_order.value == (
        Feature.CFA, Feature.CFB, Feature.CFNA, Feature.DND,
    )
    assert afe.notify.full_state.value is FullStateEncoding.MULTIPART
    meta = profiles["metaswitch"].afe
    assert meta is not None and meta.notify.full_state.value is FullStateEncoding.PER_FEATURE
    assert meta.notify.full_state_notifies == 4
    assert 10 in afe.ring_count and 11 not in afe.ring_count and 0 not in afe.ring_count


def test_unconfirmed_values_are_marked(profiles: dict[str, Profile]) -> None:
    """Everything the protocol notes call unconfirmed is marked so, with a note."""
    for pid in ("broadsoft", "metaswitch", "fortinet"):
        afe = profiles[pid].afe
        assert afe is not None
        assert afe.ring_count.max.unconfirmed, pid
        assert afe.subscribe.retry_after_489.unconfirmed, pid
        assert afe.subscribe.retry_after_489.value == 60
    fortinet = profiles["fortinet"]
    assert fortinet.afe is not None
    assert fortinet.afe.event.unconfirmed and fortinet.afe.content_type.unconfirmed
    assert fortinet.setting("mechanisms").unconfirmed
    for pid in ("huawei-ims", "zte-ims", "generic-feature-code"):
        codes = profiles[pid].codes
        assert codes is not None
        assert all(t.unconfirmed for c in codes.codes for t in c.templates()), pid
    tcx = profiles["3cx"].codes
    assert tcx is not None
    for code in tcx.codes:
        assert code.template.unconfirmed is (code.feature is not Feature.DND)
    yeastar = profiles["yeastar"].codes
    assert yeastar is not None and not any(c.template.unconfirmed for c in yeastar.codes)
    uacsta = profiles["3cx"].uacsta
    assert uacsta is not None and uacsta.dnd_document is not None
    assert uacsta.dnd_document.unconfirmed
    for profile in profiles.values():
        for path, setting in profile.unconfirmed():
            assert setting.note, f"{profile.id}: {path} is unconfirmed without a note"


def test_setting_keeps_line_and_note(profiles: dict[str, Profile]) -> None:
    afe = profiles["broadsoft"].afe
    assert afe is not None
    ring_max = afe.ring_count.max
    assert ring_max == Setting(10, True, ring_max.note, line_of("broadsoft", "max: {value: 10"))
    assert "1-100" in ring_max.note
    assert profiles["broadsoft"].setting("as_feature_event.ring_count.max") is ring_max


def test_policy_default_and_override(profiles: dict[str, Profile]) -> None:
    bsft = profiles["broadsoft"]
    assert bsft.policy.mode.value is PolicyMode.ACCEPT
    assert bsft.policy.error_status.value == 403
    rejecting = bsft.with_policy(PolicyMode.ERROR, 480)
    assert rejecting.policy.mode.value is PolicyMode.ERROR
    assert rejecting.policy.error_status.value == 480
    assert bsft.policy.mode.value is PolicyMode.ACCEPT  # frozen: the original is unchanged
    assert hash(rejecting) != hash(bsft)


def test_profiles_are_hashable(profiles: dict[str, Profile]) -> None:
    assert len({hash(p) for p in profiles.values()}) == len(profiles)


def test_spec_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "yeastar.yaml").write_text((SPEC / "yeastar.yaml").read_text())
    monkeypatch.setenv(SPEC_DIR_ENV, str(tmp_path))
    assert default_spec_dir() == tmp_path
    assert list(load_all()) == ["yeastar"]  # the schema still comes from the package


def test_load_profile_accepts_str_path() -> None:
    assert load_profile(str(SPEC / "3cx.yaml")).id == "3cx"


def test_describe_rows(profiles: dict[str, Profile]) -> None:
    description = describe(profiles["3cx"])
    rows = dict(description.rows())
    assert rows["mechanisms"] == "feature-code, uacsta"
    assert rows["feature dnd"].startswith("server-initiated (uacsta, informational")
    assert rows["feature cfa"] == "phone-initiated (feature-code)"
    assert rows["gated by line setting"] == "yes"
    assert rows["line default"] == "sync off"
    assert "unconfirmed feature_codes.codes.cfa.activate" in rows
    assert "*72{number}" in rows["unconfirmed feature_codes.codes.cfa.activate"]
    fortinet = dict(describe(profiles["fortinet"]).rows())
    assert fortinet["gated by line setting"].startswith("no")
    assert describe(profiles["yeastar"]).unconfirmed[0].path == "feature_codes.challenge"
