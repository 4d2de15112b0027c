"""Profiles: spec/*.yaml loaded and checked into typed, frozen `Profile` objects.

One YAML file per system (BroadSoft, Metaswitch, Fortinet, 3CX, Yeastar, Huawei/ZTE IMS, a
generic feature-code PBX) says which mechanisms it uses, which features sync in which
direction, and every wire value, each either plain or marked ``unconfirmed`` with a note.
This package imports nothing else of fsync.

Usage::

    from fsync_model.profile import Action, Feature, PolicyMode, load_all

    profiles = load_all()                       # spec/ of the repo, or $FSYNC_SPEC_DIR
    bsft = profiles["broadsoft"]
    bsft.afe.subscribe.answer.value             # 200
    bsft.afe.ring_count.max                     # Setting(10, unconfirmed=True, note=..., line=68)
    ims = profiles["huawei-ims"]
    ims.codes.code_for(Feature.CFNA, Action.ACTIVATE, number="6000", rings=4)   # '**61*6000**20#'
    ims.codes.parse_code("*21*6000%23")         # DialedCode(cfa, activate, '6000', None)
    strict = bsft.with_policy(PolicyMode.REJECT)  # run-time override of the server policy

Errors are one type, `ProfileError`, reading ``spec/x.yaml:14: field.path: problem``.
"""
from .codes import DialedCode, FeatureCode, FeatureCodes, uri_user
from .describe import Description, UnconfirmedRow, describe
from .errors import ProfileError
from .loader import SPEC_DIR_ENV, default_spec_dir, load_all, load_profile
from .profile import (
    SUBSCRIPTION_STATE_DEFECT,
    SUBSCRIPTION_STATE_RFC6665,
    AfeNotify,
    AfeSetRequest,
    AfeSettings,
    AfeSubscribe,
    FeatureSpec,
    LineSettings,
    Policy,
    Profile,
    RegistrationSettings,
    RingCountRange,
    UacstaSettings,
)
from .values import (
    Action,
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Setting,
)

__all__ = [
    "SPEC_DIR_ENV",
    "SUBSCRIPTION_STATE_DEFECT",
    "SUBSCRIPTION_STATE_RFC6665",
    "Action",
    "AfeNotify",
    "AfeSetRequest",
    "AfeSettings",
    "AfeSubscribe",
    "Description",
    "DialedCode",
    "Direction",
    "Feature",
    "FeatureCode",
    "FeatureCodes",
    "FeatureSpec",
    "FullStateEncoding",
    "LineSettings",
    "Mechanism",
    "Policy",
    "PolicyMode",
    "Profile",
    "ProfileError",
    "RegistrationSettings",
    "RingCountRange",
    "Setting",
    "UacstaSettings",
    "UnconfirmedRow",
    "default_spec_dir",
    "describe",
    "load_all",
    "load_profile",
    "uri_user",
]
