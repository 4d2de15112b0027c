"""Profiles and their variants: every knob that shapes a table, turned both ways."""
from __future__ import annotations

import dataclasses

import pytest

from fsync_model.model import TransitionTable, machines_for
from fsync_model.profile import (
    AfeSettings,
    FeatureCodes,
    FullStateEncoding,
    PolicyMode,
    Profile,
    Setting,
    load_all,
)

PROFILES = load_all()


def afe_of(profile: Profile) -> AfeSettings:
    assert profile.afe is not None
    return profile.afe


def codes_of(profile: Profile) -> FeatureCodes:
    assert profile.codes is not None
    return profile.codes


def with_answers(profile: Profile, subscribe: int, set_request: int) -> Profile:
    afe = afe_of(profile)
    afe = dataclasses.replace(
        afe,
        subscribe=dataclasses.replace(afe.subscribe, answer=Setting(subscribe)),
        set_request=dataclasses.replace(afe.set_request, answer=Setting(set_request)),
    )
    return dataclasses.replace(profile, afe=afe)


def with_full_state(profile: Profile, encoding: FullStateEncoding) -> Profile:
    afe = afe_of(profile)
    notify = dataclasses.replace(afe.notify, full_state=Setting(encoding))
    return dataclasses.replace(profile, afe=dataclasses.replace(afe, notify=notify))


def with_executed(profile: Profile, *statuses: str) -> Profile:
    codes = dataclasses.replace(codes_of(profile), executed_statuses=Setting(statuses))
    return dataclasses.replace(profile, codes=codes)


def without_challenges(profile: Profile) -> Profile:
    registration = dataclasses.replace(profile.registration, challenge=Setting(None))
    profile = dataclasses.replace(profile, registration=registration)
    if profile.codes is not None:
        codes = dataclasses.replace(profile.codes, challenge=Setting(None))
        profile = dataclasses.replace(profile, codes=codes)
    return profile


def with_default_sync(profile: Profile) -> Profile:
    line = dataclasses.replace(profile.line, default_sync=Setting(True))
    return dataclasses.replace(profile, line=line)


def variants() -> dict[str, Profile]:
    """The real profiles plus one variant per knob, keyed by a readable id."""
    found = {pid: p for pid, p in PROFILES.items()}
    for pid, profile in PROFILES.items():
        for mode in (PolicyMode.REJECT, PolicyMode.ERROR):
            found[f"{pid}+{mode.value}"] = profile.with_policy(mode)
        found[f"{pid}+no-challenge"] = without_challenges(profile)
        found[f"{pid}+sync-on"] = with_default_sync(profile)
        if profile.afe is not None:
            found[f"{pid}+202"] = with_answers(profile, 202, 202)
            for encoding in FullStateEncoding:
                found[f"{pid}+{encoding.value}"] = with_full_state(profile, encoding)
        if profile.codes is not None:
            found[f"{pid}+486-executed"] = with_executed(profile, "2xx", "486")
    return found


VARIANTS = variants()
ALL_TABLES: list[tuple[str, TransitionTable]] = [
    (f"{vid}:{key}", table)
    for vid, profile in VARIANTS.items()
    for key, table in machines_for(profile).items()
]


@pytest.fixture(scope="session")
def profiles() -> dict[str, Profile]:
    return PROFILES
