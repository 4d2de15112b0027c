"""The control language and the state JSON are external contracts: pin them down."""
from __future__ import annotations

import json

import pytest

from fsync_model.agents.control import (
    ControlError,
    QueryState,
    SetFeature,
    SetPolicy,
    SetRegistration,
    SetSync,
    parse_phone_line,
    parse_server_line,
)
from fsync_model.agents.state import Change, FeatureState, StateError


def test_server_lines_from_the_contract() -> None:
    assert parse_server_line("1001 dnd on") == SetFeature("1001", Change("dnd", True))
    assert parse_server_line("1001 cfa on 2000") == SetFeature("1001", Change("cfa", True, "2000"))
    assert parse_server_line("1001 cfb on 2001") == SetFeature("1001", Change("cfb", True, "2001"))
    assert parse_server_line("1001 cfna on 3000 4") == SetFeature(
        "1001", Change("cfna", True, "3000", 4))
    assert parse_server_line("1001 cfna on 3000") == SetFeature(
        "1001", Change("cfna", True, "3000", None))
    assert parse_server_line("1001 cfb off") == SetFeature("1001", Change("cfb", False))
    assert parse_server_line("1001 state") == QueryState("1001")
    assert parse_server_line("  # comment") is None
    assert parse_server_line("1001 policy error 403") == SetPolicy("1001", "error", 403)


def test_phone_lines_have_no_user() -> None:
    assert parse_phone_line("dnd off") == SetFeature(None, Change("dnd", False))
    assert parse_phone_line("cfna on 3000 5") == SetFeature(None, Change("cfna", True, "3000", 5))
    assert parse_phone_line("sync on") == SetSync(True)
    assert parse_phone_line("state") == QueryState(None)
    assert parse_phone_line("unregister") == SetRegistration(False)
    assert parse_phone_line(" register  # back online") == SetRegistration(True)
    with pytest.raises(ControlError, match="unregister takes nothing more"):
        parse_phone_line("unregister now")


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("1001 dnd maybe", "expected 'on' or 'off'"),
        ("1001 cfa on", "needs a forward-to number, e.g. 'cfa on 2000'"),
        ("1001 cfx on 2000", "unknown feature 'cfx'"),
        ("1001 cfa on 2000 4", "rings are for cfna"),
        ("1001 cfna on 3000 four", "whole number"),
        ("1001 dnd on 2000", "dnd takes no number"),
        ("1001", "expected:"),
    ],
)
def test_bad_server_lines_say_what_to_type(line: str, hint: str) -> None:
    with pytest.raises(ControlError, match=hint):
        parse_server_line(line)


def test_state_json_matches_the_contract_exactly() -> None:
    state = (FeatureState()
             .applied(Change("cfa", True, "2000"))
             .applied(Change("cfna", True, "3000", 4)))
    expected = ('{"dnd": false, "cfa": {"on": true, "target": "2000"}, '
                '"cfb": {"on": false, "target": null}, '
                '"cfna": {"on": true, "target": "3000", "rings": 4}}')
    assert json.dumps(state.to_json()) == expected
    assert FeatureState.from_json(json.loads(expected)) == state


def test_switching_off_keeps_the_number_and_agreement_ignores_it() -> None:
    on = FeatureState().applied(Change("cfb", True, "2001"))
    off = on.applied(Change("cfb", False))
    assert off.cfb.target == "2001" and not off.cfb.on
    assert off.agrees(FeatureState(), "cfb")
    assert not on.agrees(FeatureState().applied(Change("cfb", True, "2002")), "cfb")


@pytest.mark.parametrize(
    ("doc", "field"),
    [({"dnd": "yes"}, "dnd"), ({"cfa": {"on": 1}}, "cfa.on"), ({"cfb": {"rings": 3}}, "cfb.rings"),
     ({"dnd": False, "extra": 1}, "extra"), ([], "object")],
)
def test_bad_state_json_names_the_field(doc: object, field: str) -> None:
    with pytest.raises(StateError, match=field):
        FeatureState.from_json(doc)


def test_non_ascii_digits_are_refused_not_crashed_on() -> None:
    with pytest.raises(ControlError, match="whole number"):
        parse_server_line("1001 cfna on 3000 ²")
    with pytest.raises(ControlError, match="4xx-6xx"):
        parse_server_line("1001 policy error ٤٠٣")


def test_subscription_state_with_odd_digits_is_a_parse_error() -> None:
    from fsync_model.sip.errors import SipParseError
    from fsync_model.sip.params import parse_header_value
    from fsync_model.sip.subscription import SubscriptionState

    with pytest.raises(SipParseError):
        SubscriptionState.parse(parse_header_value('active;expires="²"', "Subscription-State"))
